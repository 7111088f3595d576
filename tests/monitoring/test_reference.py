"""A stored Reference gives the verdicts of the exact tests, at the cost of the current data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.errors import InvalidInput
from keel.monitoring import Reference, drift

ROWS = 20_000


def benchmark_shaped(rows: int, seed: int, shifted: bool) -> pa.Table:
    """The benchmark's table: 20 numeric columns (5 shifted by half a std), 5 categorical
    of 10 categories (1 with shifted frequencies)."""
    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(20):
        shift = 0.5 if shifted and i < 5 else 0.0
        columns[f"num_{i}"] = rng.normal(10 * i + shift * (i + 1), i + 1, rows)
    for i in range(5):
        p = np.full(10, 0.1)
        if shifted and i == 0:
            p = np.array([0.3, *[0.7 / 9] * 9])
        columns[f"cat_{i}"] = rng.choice([f"c{i}_{k}" for k in range(10)], rows, p=p)
    return pa.table(columns)


@pytest.fixture(scope="module")
def tables() -> tuple[pa.Table, pa.Table]:
    return benchmark_shaped(ROWS, 1, False), benchmark_shaped(ROWS, 2, True)


def test_stored_reference_agrees_with_the_exact_tests(tables) -> None:
    ref, cur = tables
    exact = drift(Reference.from_data(ref, max_points=None), cur)
    reference = Reference.from_data(ref)
    assert reference.columns["num_0"].side.exact is False  # 20,000 values in 4,096 points
    approx = drift(reference, cur)
    assert approx.to_dict() == drift(ref, cur).to_dict()  # a table is summarised the same way
    assert approx.drifted_columns == exact.drifted_columns
    assert exact.drifted_columns == [f"num_{i}" for i in range(5)] + ["cat_0"]
    for mine, truth in zip(approx.columns, exact.columns, strict=True):
        assert mine.method == truth.method
        error = mine.details.get("max_error", 0.0)
        assert abs(mine.score - truth.score) <= error + 1e-12, mine.name


def test_round_trips_give_the_same_report(tables) -> None:
    ref, cur = tables
    reference = Reference.from_data(ref)
    expected = drift(reference, cur).to_dict()
    assert drift(Reference.from_bytes(reference.to_bytes()), cur).to_dict() == expected
    assert drift(Reference.from_json(reference.to_json()), cur).to_dict() == expected
    assert len(reference.to_bytes()) < 20 * 4096 * 16  # at most a value and a weight a point


def test_small_references_stay_exact() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=900), "k": rng.integers(0, 1_000_000, 900)})
    cur = pd.DataFrame({"x": rng.normal(0.1, 1, 300), "k": rng.integers(0, 1_000_000, 300)})
    reference = Reference.from_bytes(Reference.from_data(ref).to_bytes())
    assert reference.columns["x"].side.exact
    assert drift(reference, cur).to_dict() == drift(ref, cur).to_dict()


def test_categorical_keys_keep_their_types() -> None:
    ref = pd.DataFrame({"level": [1, 2, 3] * 100, "flag": [True, False, True] * 100})
    reference = Reference.from_json(Reference.from_data(ref).to_json())
    assert sorted(reference.columns["level"].side.keys) == [1, 2, 3]
    assert sorted(reference.columns["flag"].side.keys) == [False, True]
    assert drift(reference, ref).drifted_columns == []


def test_bad_stored_references_say_what_to_do() -> None:
    with pytest.raises(InvalidInput, match="not a stored drift reference"):
        Reference.from_bytes(b"garbage")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        Reference.from_json("{")
    with pytest.raises(InvalidInput, match="format is 'other/1'.*Reference.from_data"):
        Reference.from_dict({"format": "other/1"})
    data = Reference.from_data(pd.DataFrame({"x": [1.0, 2.0] * 10})).to_dict()
    data["columns"][0]["side"]["values"] = "AAAA"
    with pytest.raises(InvalidInput, match="damaged"):
        Reference.from_dict(data)


def test_bad_arguments() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match="max_points must be at least 1000"):
        Reference.from_data(frame, max_points=10)
    with pytest.raises(InvalidInput, match="reference data must be a pandas DataFrame"):
        Reference.from_data({"x": [1.0]})
    with pytest.raises(InvalidInput, match="Column 'y' is not in the reference data"):
        Reference.from_data(frame, columns=["y"])
