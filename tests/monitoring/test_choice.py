"""The automatic choice of test and the column kinds follow Evidently's default rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.monitoring import drift
from keel.monitoring._columns import infer_kind

RNG = np.random.default_rng(7)


def method_for(ref: np.ndarray, cur: np.ndarray) -> str:
    report = drift(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}))
    return report["x"].method


@pytest.mark.parametrize(
    ("ref", "cur", "expected"),
    [
        # reference of at most 1000 values
        (RNG.normal(size=1000), RNG.normal(size=50), "ks"),
        (RNG.integers(0, 4, 900).astype(float), RNG.integers(0, 4, 90).astype(float), "chisquare"),
        (RNG.integers(0, 2, 900).astype(float), RNG.integers(0, 2, 90).astype(float), "z"),
        (RNG.choice(list("abc"), 500), RNG.choice(list("abc"), 500), "chisquare"),
        (RNG.choice(list("ab"), 500), RNG.choice(list("ab"), 500), "z"),
        # larger references
        (RNG.normal(size=1001), RNG.normal(size=100), "wasserstein"),
        (
            RNG.integers(0, 5, 5000).astype(float),
            RNG.integers(0, 5, 50).astype(float),
            "jensenshannon",
        ),
        (RNG.choice(list("abcdefghij"), 5000), RNG.choice(list("abc"), 10), "jensenshannon"),
        (RNG.choice(list("ab"), 5000), RNG.choice(list("ab"), 10), "jensenshannon"),
    ],
    ids=[
        "numeric-small",
        "numeric-small-4-values",
        "numeric-small-2-values",
        "categorical-small",
        "binary-small",
        "numeric-large",
        "numeric-large-5-values",
        "categorical-large",
        "binary-large",
    ],
)
def test_automatic_choice(ref: np.ndarray, cur: np.ndarray, expected: str) -> None:
    assert method_for(ref, cur) == expected


def test_distinct_values_count_both_sides_together() -> None:
    # 3 values in the reference and 3 others in the current: 6 together, so KS, not chi-square
    ref = np.tile([1.0, 2.0, 3.0], 100)
    cur = np.tile([4.0, 5.0, 6.0], 10)
    assert method_for(ref, cur) == "ks"


def test_sample_size_counts_finite_reference_values_only() -> None:
    ref = np.concatenate([RNG.normal(size=1000), [np.nan] * 50, [np.inf] * 5])
    assert method_for(ref, RNG.normal(size=100)) == "ks"


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        (pd.Series(RNG.normal(size=100)), "numeric"),
        (pd.Series(RNG.integers(0, 1000, 100)), "numeric"),
        (pd.Series(RNG.integers(0, 10, 100)), "categorical"),  # at most 10 distinct integers
        (pd.Series(RNG.choice(["a", "b"], 100)), "categorical"),
        (pd.Series([f"text {i}" for i in range(100)]), "text"),  # more than half distinct
        (pd.Series(RNG.choice(["a", "b"], 100)).astype("category"), "categorical"),
        (pd.Series([True, False] * 50), "categorical"),
        (pd.Series(pd.date_range("2024-01-01", periods=100)), "untested"),
        (pa.chunked_array([RNG.normal(size=100)]), "numeric"),
        (pa.chunked_array([RNG.integers(0, 3, 100)]), "categorical"),
        (pa.chunked_array([pa.array(["a", "b"] * 50).dictionary_encode()]), "categorical"),
        (pa.chunked_array([pa.array([f"t{i}" for i in range(100)])]), "text"),
    ],
)
def test_column_kinds(column: pd.Series | pa.ChunkedArray, kind: str) -> None:
    assert infer_kind(column)[0] == kind
