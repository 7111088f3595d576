"""keel.search_runs builds its DataFrame column by column: the same frame as one built
from a dict per run (columns in order of first appearance, NaN where a run lacks one)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

import keel
from keel._search_frame import run_frame
from keel.client import default_client
from keel.config import Config
from keel.errors import NotFound
from keel.store import Store, now_ms
from keel.store import schema as t
from keel.tracking import RunQuery, RunRecord, RunStatus, SqlTracking
from keel.tracking._columns import RunColumns
from keel.tracking._http import HttpTracking
from tests.conftest import live_server


def _frame_of_row_dicts(experiment: str) -> pd.DataFrame:
    query = RunQuery((experiment,), None, (), 1000)
    return _row_dicts_frame(default_client().tracker.backend.search_runs(query))


def _row_dicts_frame(records: list[RunRecord]) -> pd.DataFrame:
    rows = []
    for r in records:
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
    assert str(frame["parent_id"].dtype) == "object"  # no run has a parent
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


# the frame from a store's columns (SqlTracking.search_columns) and from runs read over
# HTTP (RunColumns.from_records) on each store: one frame, the one row dicts give


def _mixed_runs(store: Store) -> dict[str, str]:
    """Runs with params missing in some, a NaN metric, tags, a child run, a running run
    and one whose process died (last seen an hour ago); their ids by role."""
    tracking = SqlTracking(store)
    first = tracking.create_run("mix", params={"a": "1", "lr": "0.1"}, tags={"team": "risk"})
    tracking.log_batch(first.id, metrics=[("auc", 0.75, 0, 1), ("loss", math.nan, 0, 1)])
    tracking.end_run(first.id, RunStatus.FINISHED)
    second = tracking.create_run("mix", parent_id=first.id, params={"b": "x", "a": "2"})
    tracking.log_batch(second.id, metrics=[("auc", 0.5, 0, 1), ("z", 3.0, 0, 1)])
    tracking.end_run(second.id, RunStatus.FAILED)
    running = tracking.create_run("mix", tags={"note": "running"})
    dead = tracking.create_run("mix", params={"a": "4"})
    now = now_ms()
    with store.write() as conn:  # creation times apart: a fixed order, newest first
        for age, run_id in ((3, first.id), (2, second.id), (1, running.id)):
            when = t.runs.update().where(t.runs.c.id == run_id)
            conn.execute(when.values(created_at=now - age * 1000))
        hour_ago = now - 3_600_000
        conn.execute(
            t.runs.update()
            .where(t.runs.c.id == dead.id)
            .values(created_at=hour_ago, started_at=hour_ago, heartbeat_at=hour_ago)
        )
    return {"first": first.id, "second": second.id, "running": running.id, "dead": dead.id}


def _frame_of_records(records: list[RunRecord]) -> pd.DataFrame:
    return run_frame(RunColumns.from_records(records))


@pytest.mark.parametrize(
    "query",
    [
        RunQuery(("mix",)),
        RunQuery(("mix",), "metrics.auc > 0.1", ("metrics.auc DESC",), 10),
        RunQuery((), "params.a != '9'", ("params.a",), 3),
    ],
    ids=["all", "filtered", "all-experiments"],
)
def test_columns_give_the_frame_of_row_dicts_on_each_store(store: Store, query: RunQuery) -> None:
    ids = _mixed_runs(store)
    tracking = SqlTracking(store)
    frame = run_frame(tracking.search_columns(query))
    records = tracking.search_runs(query)
    expected = _row_dicts_frame(records)
    pd.testing.assert_frame_equal(frame, expected)
    pd.testing.assert_frame_equal(frame, _frame_of_records(records))
    assert list(frame["run_id"]) == [r.id for r in records]
    if query.filter is None:
        assert len(frame) == 4
        by_id = frame.set_index("run_id")
        assert by_id.loc[ids["dead"], "status"] == RunStatus.KILLED  # recorded by the search
        assert by_id.loc[ids["dead"], "ended_at"] == by_id.loc[ids["dead"], "created_at"]
        assert by_id.loc[ids["second"], "parent_id"] == ids["first"]
        assert math.isnan(by_id.loc[ids["first"], "metrics.loss"])
        assert math.isnan(by_id.loc[ids["running"], "params.a"])
        assert by_id["ended_at"].isna().sum() == 1  # the running run


def test_the_frame_pins_columns_and_dtypes(store: Store) -> None:
    _mixed_runs(store)
    frame = run_frame(SqlTracking(store).search_columns(RunQuery(("mix",))))
    times = str(pd.to_datetime([0], unit="ms", utc=True).dtype)
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        "run_id": "str",
        "experiment": "str",
        "name": "str",
        "status": "str",
        "parent_id": "str",  # a run has a parent (object when none has, as pandas infers)
        "created_at": times,
        "ended_at": times,
        "tags.note": "str",
        "params.a": "str",
        "params.b": "str",
        "metrics.auc": "float64",
        "metrics.z": "float64",
        "params.lr": "str",
        "metrics.loss": "float64",
        "tags.team": "str",
    }


def test_a_search_over_http_gives_the_same_frame(store: Store, store_config: Config) -> None:
    _mixed_runs(store)
    query = RunQuery(("mix",), "metrics.auc >= 0.5 or params.a = '4'", ("params.a DESC",), 50)
    local = run_frame(SqlTracking(store).search_columns(query))
    with live_server(store_config) as url:
        http = HttpTracking(url)
        try:
            remote = _frame_of_records(http.search_runs(query))
        finally:
            http.client.close()
    pd.testing.assert_frame_equal(local, remote)
    assert len(local) == 3


def test_an_empty_page_and_details_left_out(store: Store) -> None:
    _mixed_runs(store)
    tracking = SqlTracking(store)
    empty = run_frame(tracking.search_columns(RunQuery(("mix",), "metrics.auc > 2")))
    pd.testing.assert_frame_equal(empty, _frame_of_records([]))
    assert empty.empty
    bare = tracking.search_columns(RunQuery(("mix",), include_details=False))
    assert len(bare) == 4
    assert bare.details == {}


def test_a_search_naming_a_missing_experiment_reads_nothing(store: Store) -> None:
    _mixed_runs(store)
    with pytest.raises(NotFound, match="No experiment named 'nope'.*mix"):
        SqlTracking(store).search_columns(RunQuery(("mix", "nope")))


def test_gathered_details_keep_first_appearance_whatever_their_order() -> None:
    columns = RunColumns(ids=["r0", "r1", "r2"])
    # rows of a store come by run id, not in the page's order
    columns.add(
        "params.",
        [("r2", "late", "x"), ("r1", "b", "1"), ("r1", "a", "2")],
        {
            "r0": 0,
            "r1": 1,
            "r2": 2,
        },
    )
    columns.add("metrics.", [(0, "m", 0.5), (2, "n", None)])
    assert [name for name, _ in columns.ordered_details()] == [
        "metrics.m",
        "params.b",
        "params.a",
        "params.late",
        "metrics.n",
    ]
    assert all(math.isnan(v) for v in columns.details["params.late"][:2])
    assert math.isnan(columns.details["metrics.n"][2])  # a NaN metric reads as NaN
