"""Metric points have no foreign key to their run (migration 0012): the writer verifies the
run once per transaction and the purge deletes points. No path may leave an orphan point."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from keel.errors import NotFound
from keel.store import Store
from keel.store import schema as t
from keel.tracking import SqlTracking, purge_deleted
from keel.tracking._records import CheckedPoints


def _points(store: Store) -> dict[str, int]:
    """Stored points per run id, and how many have no run (their series is gone)."""
    m, latest = t.run_metrics, t.run_latest_metrics
    with store.read() as conn:
        per_run = dict(
            conn.execute(
                sa.select(latest.c.run_id, sa.func.sum(m.c.points))
                .select_from(m.join(latest, latest.c.id == m.c.series_id))
                .group_by(latest.c.run_id)
            ).all()
        )
        orphans = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(m.c.points), 0))
            .select_from(m)
            .where(~sa.exists().where(latest.c.id == m.c.series_id))
        ).scalar_one()
    return {**per_run, "orphans": orphans}


def test_run_metrics_has_no_foreign_key_but_latest_metrics_keeps_its_own(store: Store) -> None:
    with store.read() as conn:
        inspector = sa.inspect(conn)
        assert inspector.get_foreign_keys("run_metrics") == []
        latest = inspector.get_foreign_keys("run_latest_metrics")
        assert [fk["referred_table"] for fk in latest] == ["runs"]


@pytest.mark.parametrize("size", [3, 1000])  # below and above the SQL-derived latest values
def test_points_for_a_missing_run_are_refused_and_none_is_written(store: Store, size: int) -> None:
    tracking = SqlTracking(store)
    run = tracking.create_run("exp")
    points = [("loss", 0.5, i, 1) for i in range(size)]
    for missing in ("f" * 32, "0123"):
        with pytest.raises(NotFound):
            tracking.log_batch(missing, metrics=points)
        with pytest.raises(NotFound):
            tracking.log_batch(missing, metrics=CheckedPoints(points))  # as the SDK sends
        with pytest.raises(NotFound):
            tracking.end_run(missing, "FINISHED", metrics=points)
    tracking.log_batch(run.id, metrics=points)
    assert _points(store) == {run.id: size, "orphans": 0}


def test_purging_runs_deletes_their_points(store: Store) -> None:
    tracking = SqlTracking(store)
    keep, gone = tracking.create_run("exp"), tracking.create_run("exp")
    in_gone_exp = tracking.create_run("other")
    for run in (keep, gone, in_gone_exp):
        tracking.log_batch(run.id, metrics=[("loss", 0.1 * i, i, 1) for i in range(600)])
        tracking.log_batch(run.id, metrics=[("acc", 0.9, 0, 1)])
    tracking.delete_run(gone.id)
    tracking.delete_experiment("other")
    purge_deleted(store, retention_days=0)
    assert _points(store) == {keep.id: 601, "orphans": 0}
    with pytest.raises(NotFound):
        tracking.log_batch(gone.id, metrics=[("loss", 1.0, 700, 1)])
    assert _points(store) == {keep.id: 601, "orphans": 0}


def _migrate(store: Store, target: str, *, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    from keel.store._migrate import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.connect().execution_options(keel_write=True) as conn, conn.begin():
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


def _keys_of_points(store: Store) -> list[str]:
    with store.read() as conn:
        return [fk["referred_table"] for fk in sa.inspect(conn).get_foreign_keys("run_metrics")]


def test_migrations_0012_and_0013_keep_points_both_ways_and_drop_orphans(
    store: Store,
) -> None:
    tracking = SqlTracking(store)
    run = tracking.create_run("exp")
    tracking.log_batch(run.id, metrics=[("loss", 0.5, i, 1) for i in range(300)])
    tracking.log_batch(run.id, metrics=[("acc", float("nan"), 0, 1)])
    with store.write() as conn:  # a point of no series, as only a bug could leave
        conn.execute(
            t.run_metrics.insert().values(
                series_id=10**9, points=0, steps=b"", timestamps=b"", metric_values=b""
            )
        )
    _migrate(store, "0011", down=True)
    assert _keys_of_points(store) == ["runs"]
    _migrate(store, "head")
    assert _keys_of_points(store) == []
    assert _points(store) == {run.id: 301, "orphans": 0}
    assert [p[2] for p in tracking.metric_history(run.id, "loss")] == list(range(300))
    assert tracking.get_run(run.id).metrics["loss"] == 0.5


def test_migration_0013_gives_points_without_a_latest_row_one_and_drops_orphans(
    store: Store,
) -> None:
    tracking = SqlTracking(store)
    run = tracking.create_run("exp")
    tracking.log_batch(run.id, metrics=[("loss", 0.1 * i, i, 1) for i in range(5)])
    _migrate(store, "0012", down=True)
    with store.write() as conn:  # as at 0012: points named by run id and metric name
        rows = [(run.id, "lost", s, 7, s / 10) for s in range(3)] + [("e" * 32, "x", 0, 1, 1.0)]
        conn.exec_driver_sql(
            "INSERT INTO run_metrics (run_id, key, step, timestamp, value) "
            + (
                "VALUES (%s, %s, %s, %s, %s)"
                if conn.dialect.name == "postgresql"
                else "VALUES (?, ?, ?, ?, ?)"
            ),
            rows,
        )
    _migrate(store, "head")
    assert _points(store) == {run.id: 8, "orphans": 0}
    assert tracking.get_run(run.id).metrics == {"loss": 0.4, "lost": 0.2}
    assert [p[1] for p in tracking.metric_history(run.id, "lost")] == [0.0, 0.1, 0.2]
