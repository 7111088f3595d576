"""keel.search_runs builds its DataFrame column by column: the same frame as one built
from a dict per run (columns in order of first appearance, NaN where a run lacks one)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

import keel
from keel.client import default_client
from keel.tracking import RunQuery


def _frame_of_row_dicts(experiment: str) -> pd.DataFrame:
    rows = []
    query = RunQuery((experiment,), None, (), 1000)
    for r in default_client().tracker.backend.search_runs(query):
        row = {
            "run_id": r.id,
            "experiment": r.experiment,
            "name": r.name,
            "status": r.status,
            "parent_id": r.parent_id,
            "created_at": pd.Timestamp(r.created_at, unit="ms", tz="UTC"),
            "ended_at": pd.Timestamp(r.ended_at, unit="ms", tz="UTC") if r.ended_at else pd.NaT,
        }
        row.update({f"params.{k}": v for k, v in r.params.items()})
        row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
        row.update({f"tags.{k}": v for k, v in r.tags.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_frame_is_the_one_row_dicts_give(project: Path) -> None:
    with keel.start_run(experiment="e", params={"a": "1"}) as run:
        run.log_metrics({"m": 0.5, "nan": math.nan})
    with keel.start_run(experiment="e", params={"b": "2", "a": "3"}, tags={"t": "x"}) as run:
        run.log_metric("z", 1.0)
    running = keel.start_run(experiment="e")  # no end time yet
    running.log_metric("m", 0.25)
    running.metric_history("m")  # flushed
    frame = keel.search_runs("e")
    pd.testing.assert_frame_equal(frame, _frame_of_row_dicts("e"))
    assert frame["ended_at"].isna().sum() == 1
    assert frame["params.b"].isna().sum() == 2
    assert frame["metrics.nan"].isna().all()  # a logged NaN reads as a missing value
    running.end()


def test_an_empty_search_has_the_fixed_columns(project: Path) -> None:
    with keel.start_run(experiment="e"):
        pass
    frame = keel.search_runs("e", filter="metrics.m > 1")
    assert list(frame.columns) == [
        "run_id",
        "experiment",
        "name",
        "status",
        "parent_id",
        "created_at",
        "ended_at",
    ]
    assert frame.empty
