"""drift(): per-column verdicts, the dataset verdict, findings and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.errors import InvalidInput
from keel.monitoring import drift

RNG = np.random.default_rng(11)
N = 3000


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = pd.DataFrame(
        {
            "moved": RNG.normal(0, 1, N),
            "still": RNG.normal(0, 1, N),
            "colour": RNG.choice(["red", "green", "blue"], N),
        }
    )
    cur = pd.DataFrame(
        {
            "moved": RNG.normal(1, 1, N),
            "still": RNG.normal(0, 1, N),
            "colour": RNG.choice(["red", "green", "blue"], N),
        }
    )
    return ref, cur


def test_drifted_column_and_dataset_verdict(frames) -> None:
    report = drift(*frames)
    assert report.drifted_columns == ["moved"]
    assert report["moved"].method == "wasserstein"
    assert report["moved"].score > 0.9
    assert (report["moved"].reference_size, report["moved"].current_size) == (N, N)
    assert report["colour"].method == "jensenshannon"
    assert report.drifted_share == pytest.approx(1 / 3)
    assert not report.drifted  # 1 of 3 is below the default share of 0.5
    assert drift(*frames, share_of_columns=0.3).drifted


def test_pandas_and_arrow_inputs_give_the_same_report(frames) -> None:
    ref, cur = frames
    from_pandas = drift(ref, cur).to_dict()
    from_arrow = drift(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur)).to_dict()
    assert from_arrow == from_pandas


def test_missing_and_new_columns_are_findings(frames) -> None:
    ref, cur = frames
    changed = cur.drop(columns=["still"]).assign(extra=1.0)
    report = drift(ref, changed)
    status = {c.name: c.status for c in report.columns}
    assert status == {"moved": "tested", "still": "missing", "colour": "tested", "extra": "new"}
    assert [c.name for c in report.findings] == ["still", "extra"]
    assert report.drifted_share == pytest.approx(1 / 2)  # findings count on neither side
    assert report.drifted


def test_empty_and_retyped_columns_are_findings(frames) -> None:
    ref, cur = frames
    changed = cur.assign(still=np.nan, moved="n/a")
    report = drift(ref, changed)
    assert report["still"].status == "empty"
    assert "no values in the current data" in report["still"].message
    assert report["moved"].status == "type_changed"
    assert report.drifted_columns == []


def test_text_and_dates_are_untested(frames) -> None:
    ref, cur = frames
    extra = {"note": [f"note {i}" for i in range(N)], "day": pd.date_range("2024-01-01", periods=N)}
    report = drift(ref.assign(**extra), cur.assign(**extra))
    assert report["note"].status == "untested"
    assert "more than half of them distinct" in report["note"].message
    assert report["day"].status == "untested"


def test_method_and_threshold_per_column(frames) -> None:
    report = drift(
        *frames, method={"moved": "psi", "colour": "chisquare"}, threshold={"moved": 100.0}
    )
    assert report["moved"].method == "psi"
    assert report["moved"].threshold == 100.0
    assert not report["moved"].drifted
    assert report["colour"].method == "chisquare"
    assert report["still"].method == "wasserstein"  # not named: automatic


def test_columns_restricts_the_test(frames) -> None:
    report = drift(*frames, columns=["still"])
    assert [c.name for c in report.columns] == ["still"]


def test_report_as_json(frames) -> None:
    data = json.loads(drift(*frames).to_json())
    assert data["drifted_columns"] == ["moved"]
    assert {c["name"] for c in data["columns"]} == {"moved", "still", "colour"}
    assert data["share_of_columns"] == 0.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"method": "wasserstien"},
            "Unknown drift method 'wasserstien'.*Did you mean 'wasserstein'",
        ),
        ({"method": "ks"}, "Method 'ks' tests numeric columns only.*'colour' is categorical"),
        ({"threshold": -1}, "threshold for column 'moved' must be a number >= 0"),
        ({"threshold": "high"}, "Got 'high' instead"),
        ({"share_of_columns": 0}, "share_of_columns must be a number above 0 and at most 1"),
        ({"share_of_columns": 1.5}, "Got 1.5 instead"),
        ({"columns": ["mvoed"]}, "Column 'mvoed' is not in the reference.*Did you mean 'moved'"),
        ({"columns": "moved"}, "columns must be a list of column names"),
    ],
)
def test_bad_arguments_say_what_to_do(frames, kwargs, match) -> None:
    with pytest.raises(InvalidInput, match=match):
        drift(*frames, **kwargs)


def test_current_must_be_a_table(frames) -> None:
    with pytest.raises(InvalidInput, match="current data must be a pandas DataFrame or a pyarrow"):
        drift(frames[0], [1, 2, 3])


def test_unknown_column_in_report_lookup(frames) -> None:
    with pytest.raises(KeyError, match="Did you mean 'moved'"):
        drift(*frames)["moveed"]
