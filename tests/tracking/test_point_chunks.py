"""Metric points stored as chunks of curves (migration 0014): every layout of a batch is
regrouped into the same points, reads see exactly what was logged, and the migration keeps
every point both ways."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from keel.errors import IntegrityError
from keel.store import Store
from keel.store import schema as t
from keel.tracking import SqlTracking
from keel.tracking._chunks import CHUNK_POINTS, curves, last_point, pack, unpack
from keel.tracking._records import CheckedPoints

from .test_points_integrity import _migrate, _points


def _by_point(points: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for key, value, step, ts in points:
        out.setdefault(key, []).append((value, step, ts))
    return out


def _as_points(grouped: dict) -> dict[str, list]:
    return {k: list(zip(v, s, ts, strict=True)) for k, (v, s, ts) in grouped.items()}


@pytest.mark.parametrize(
    "points",
    [
        [("a", 0.5, 0, 1)],
        [("a", float(i), i, 5) for i in range(10)],  # one curve
        [(f"k{j}", s + j / 10, s, 9) for s in range(7) for j in range(3)],  # rows
        [(f"k{j}", s + j / 10, s, 9) for s in range(7) for j in range(3)][:-1],  # cut row
        [("a", 1.0, 0, 1), ("b", 2.0, 0, 1), ("a", 3.0, 1, 1), ("c", 4.0, 0, 1)],
        [("a", 1.0, 0, 1), ("b", 2.0, 0, 1), ("b", 3.0, 1, 1), ("a", 4.0, 1, 1)],
        [("a", 1.0, 0, 1), ("a", 2.0, 0, 1), ("b", 3.0, 0, 1)],  # curves one after another
        [("a", 1.0, 0, 1), ("b", 2.0, 0, 1), ("b", 3.0, 0, 1), ("a", 0.5, 1, 1)],
        [(f"k{i}", 1.0, s, 1) for i in range(20) for s in range(3)],  # runs too short
        [(f"k{i % 3}", 1.0, s, 1) for i in range(9) for s in range(20)],  # runs of one key
        [(f"k{i}", 1.0, s, 1) for i in range(30) for s in range(10)],
        [(f"k{i % 5}", 1.0, i, 1) for i in range(40)] + [("k0", 2.0, 0, 0)],
    ],
)
def test_curves_regroup_every_layout_in_the_order_logged(points: list) -> None:
    assert _as_points(curves(points)) == _by_point(points)


def test_last_point_is_the_highest_step_then_timestamp_and_the_last_of_equals() -> None:
    assert last_point(([1.0, 2.0, 3.0], [0, 5, 2], [1, 1, 1])) == 1
    assert last_point(([1.0, 2.0, 3.0, 4.0], [5, 5, 5, 1], [2, 3, 3, 9])) == 2
    assert last_point(([1.0], [0], [0])) == 0


def test_pack_and_unpack_keep_nan_infinities_and_extreme_integers() -> None:
    curve = ([math.nan, math.inf, -math.inf, -0.0, 1e308], [0, 1, 2, 3, 2**63 - 1], [-(2**63)] * 5)
    ((count, steps, stamps, values),) = pack(curve)
    assert count == 5
    assert len(steps) == len(stamps) == len(values) == 40
    back = unpack(count, steps, stamps, values)
    assert back[1:] == (curve[1], curve[2])
    assert math.isnan(back[0][0])
    assert back[0][1:] == curve[0][1:]
    assert math.copysign(1, back[0][3]) == -1


def test_a_long_curve_is_packed_in_several_chunks() -> None:
    n = CHUNK_POINTS * 2 + 3
    chunks = pack(([0.5] * n, list(range(n)), [7] * n))
    assert [c[0] for c in chunks] == [CHUNK_POINTS, CHUNK_POINTS, 3]
    assert [s for c in chunks for s in unpack(*c)[1]] == list(range(n))


def test_a_damaged_chunk_is_an_integrity_error() -> None:
    ((count, steps, stamps, values),) = pack(([1.0, 2.0], [0, 1], [0, 0]))
    with pytest.raises(IntegrityError, match="damaged"):
        unpack(count + 1, steps, stamps, values)
    with pytest.raises(IntegrityError):
        unpack(count, steps[:-3], stamps, values)


def test_history_merges_chunks_by_step_and_timestamp_keeping_duplicates(store: Store) -> None:
    tracking = SqlTracking(store)
    run = tracking.create_run("exp")
    tracking.log_batch(run.id, metrics=[("loss", 0.3, 3, 10), ("loss", 0.1, 1, 10)])
    tracking.log_batch(run.id, metrics=CheckedPoints([("loss", 0.2, 2, 10), ("acc", 1.0, 0, 1)]))
    tracking.log_batch(run.id, metrics=[("loss", 0.11, 1, 10), ("loss", 0.05, 1, 5)])
    tracking.log_batch(run.id, metrics=[("loss", float("nan"), 4, 1)])
    history = tracking.metric_history(run.id, "loss")
    assert [(s, ts, v) for _, v, s, ts in history[:-1]] == [
        (1, 5, 0.05),
        (1, 10, 0.1),  # same step and time: in the order logged
        (1, 10, 0.11),
        (2, 10, 0.2),
        (3, 10, 0.3),
    ]
    assert history[-1][2] == 4
    assert math.isnan(history[-1][1])
    assert math.isnan(tracking.get_run(run.id).metrics["loss"])
    assert tracking.metric_history(run.id, "acc") == [("acc", 1.0, 0, 1)]
    assert tracking.metric_history(run.id, "none") == []
    with store.read() as conn:  # one chunk per metric per batch, not a row per point
        assert conn.execute(sa.select(sa.func.count()).select_from(t.run_metrics)).scalar() == 5


def test_rows_of_a_table_logged_per_step_are_stored_as_one_chunk_per_key(store: Store) -> None:
    tracking = SqlTracking(store)
    run = tracking.create_run("exp")
    points = CheckedPoints((f"k{j}", s * 0.5 + j, s, 100 + s) for s in range(300) for j in range(4))
    tracking.log_batch(run.id, metrics=points)
    for j in range(4):
        assert tracking.metric_history(run.id, f"k{j}") == [
            (f"k{j}", s * 0.5 + j, s, 100 + s) for s in range(300)
        ]
    assert tracking.get_run(run.id).metrics == {f"k{j}": 149.5 + j for j in range(4)}
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.run_metrics)).scalar() == 4


def test_migration_0014_keeps_every_point_both_ways(store: Store) -> None:
    tracking = SqlTracking(store)
    run, other = tracking.create_run("exp"), tracking.create_run("exp")
    tracking.log_batch(run.id, metrics=[("loss", 1 / (i + 1), i, 1000 + i) for i in range(250)])
    tracking.log_batch(run.id, metrics=[("loss", 0.75, 3, 7), ("acc", float("nan"), 0, 1)])
    tracking.log_batch(other.id, metrics=[("loss", 2.0, 0, 1)])
    before = {
        (r, k): tracking.metric_history(r, k) for r in (run.id, other.id) for k in ("loss", "acc")
    }
    counts = _points(store)
    assert counts == {run.id: 252, other.id: 1, "orphans": 0}

    _migrate(store, "0013", down=True)
    with store.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("run_metrics")}
        assert columns == {"series_id", "step", "timestamp", "value"}
        rows = conn.execute(sa.text("SELECT count(*), count(value) FROM run_metrics")).one()
        assert tuple(rows) == (253, 252)  # a row per point, NaN as NULL
    with store.write() as conn:  # a point of no series, as only a bug could leave
        conn.execute(
            sa.text(
                "INSERT INTO run_metrics (series_id, step, timestamp, value) "
                "VALUES (1000000000, 0, 1, 1.0)"
            )
        )

    _migrate(store, "head")
    assert _points(store) == counts  # the orphan point is dropped
    if store.engine.dialect.name == "postgresql":  # the arrays are not compressed
        with store.read() as conn:
            storage = conn.exec_driver_sql(
                "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = "
                "'run_metrics'::regclass AND attname IN ('steps', 'timestamps', 'metric_values')"
            ).all()
        assert sorted(storage) == [("metric_values", "e"), ("steps", "e"), ("timestamps", "e")]
    for (r, k), points in before.items():
        after = tracking.metric_history(r, k)
        assert [p[2:] for p in after] == [p[2:] for p in points]
        assert [p[1] for p in after if p[1] == p[1]] == [p[1] for p in points if p[1] == p[1]]
    assert math.isnan(tracking.metric_history(run.id, "acc")[0][1])
    assert tracking.get_run(run.id).metrics["loss"] == 1 / 250


def test_log_metrics_checks_and_counts_steps_the_same_on_every_path(store: Store) -> None:
    from keel.errors import InvalidInput
    from keel.tracking import Tracker

    tracking = SqlTracking(store)
    tracker = Tracker(tracking)
    try:
        with tracker.start_run("exp", capture=False) as run:
            run.log_metrics({"a": 0.5, "b": 1})  # new names, an int: checked point by point
            run.log_metrics({"a": 0.25, "b": 2.0})  # known names, floats: checked per call
            run.log_metrics({"b": 3.0, "c": 4.0})
            run.log_metrics({"a": 0.125, "b": 0.5}, step=10)
            run.log_metrics({"a": 1.0, "b": 2.0})  # counting goes on from its own steps
            with pytest.raises(InvalidInput):
                run.log_metrics({"a": "high"}, step=11)
            with pytest.raises(InvalidInput):
                run.log_metrics({"a": 0.1}, step=-1)
            with pytest.raises(InvalidInput):
                run.log_metrics([("a", 0.1)])  # type: ignore[arg-type]
        steps = {k: [(p[2], p[1]) for p in tracking.metric_history(run.id, k)] for k in "abc"}
    finally:
        tracker.close()
    assert steps == {
        "a": [(0, 0.5), (1, 0.25), (2, 1.0), (10, 0.125)],
        "b": [(0, 1.0), (1, 2.0), (2, 3.0), (3, 2.0), (10, 0.5)],
        "c": [(0, 4.0)],
    }
    assert all(type(v) is float for k in "abc" for _, v in steps[k])
