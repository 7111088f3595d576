"""Deferred runs (``start_run(deferred=True)``) and runs created whole: one write
transaction (one request over HTTP) per run, never seen half written, on SQLite and
PostgreSQL, directly and over HTTP."""

from __future__ import annotations

import threading
import time

import pytest

from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.store import Store, new_id, now_ms
from keel.tracking import RunQuery, RunStatus, SqlTracking, Tracker, TrackingBackend
from keel.tracking import _sql as sql_module
from keel.tracking._http import HttpTracking
from tests.tracking.test_one_write import counted


def _writes(counts: dict[str, int], backend: TrackingBackend) -> int:
    """Transactions on the store, or requests for an HTTP backend (the server's are its
    own)."""
    return counts["requests"] if isinstance(backend, HttpTracking) else counts["transactions"]


@pytest.fixture
def quiet(backend: TrackingBackend) -> Tracker:
    """A tracker whose background writer never runs first (no heartbeat, long interval)."""
    tracker = Tracker(backend, heartbeat=None)
    tracker.flusher.interval = 3600.0
    yield tracker
    tracker.close()


def test_create_run_ended_is_one_write_with_everything(
    backend: TrackingBackend, store: Store
) -> None:
    backend.create_run("warm-up")
    run_id, started = new_id(), now_ms() - 5_000
    with counted(store, backend) as counts:
        created = backend.create_run(
            "whole",
            params={"lr": "0.1"},
            tags={"team": "risk"},
            metrics=[("loss", 0.5, 0, 1), ("loss", 0.25, 1, 2)],
            run_id=run_id,
            started_at=started,
            status=RunStatus.FAILED,
            error="boom",
        )
    assert _writes(counts, backend) == 1
    assert (created.id, created.status, created.started_at) == (run_id, "FAILED", started)
    read = backend.get_run(run_id)
    assert (read.status, read.error, read.started_at) == ("FAILED", "boom", started)
    assert read.ended_at is not None
    assert read.ended_at >= started
    assert read.params == {"lr": "0.1"}
    assert read.tags["team"] == "risk"
    assert read.metrics == {"loss": 0.25}


def test_create_run_refuses_bad_ids_times_and_statuses(backend: TrackingBackend) -> None:
    taken = backend.create_run("bad").id
    bad = [
        ({"run_id": "not-an-id"}, InvalidInput, "32 lowercase hex"),
        ({"run_id": taken.upper()}, InvalidInput, "32 lowercase hex"),
        ({"started_at": -1}, InvalidInput, "start time"),
        ({"started_at": now_ms() + 10 * 86_400_000}, InvalidInput, "start time"),
        ({"status": "DONE"}, InvalidInput, "not one of"),
        ({"error": "why"}, InvalidInput, "RUNNING run has no error"),
        ({"run_id": taken, "status": RunStatus.FINISHED}, AlreadyExists, "already exists"),
    ]
    if isinstance(backend, HttpTracking):  # the server's schema refuses some first
        bad[4] = ({"status": "DONE"}, InvalidInput, "status")
    for fields, error, message in bad:
        with pytest.raises(error, match=message):
            backend.create_run("bad", params={"p": "1"}, **fields)
    (only,) = backend.search_runs(RunQuery(experiments=("bad",)))  # nothing else written
    assert only.id == taken
    assert backend.get_run(taken).status == RunStatus.RUNNING


def test_a_deferred_run_is_one_write(
    quiet: Tracker, backend: TrackingBackend, store: Store
) -> None:
    with quiet.start_run("warm-up", capture=False):
        pass
    with counted(store, backend) as counts:
        with quiet.start_run(
            "deferred", params={"C": 1}, tags={"t": "a"}, capture=True, deferred=True
        ) as run:
            run.log_metrics({"auc": 0.9, "loss": 0.1})
            run.log_metric("auc", 0.95)
            run.log_params({"later": "yes"})  # joins the one write
            run.set_tag("t", "b")
        assert _writes(counts, backend) == 1
    read = backend.get_run(run.id)
    assert read.status == RunStatus.FINISHED
    assert read.started_at == run._record.started_at <= read.ended_at
    assert read.params == {"C": "1", "later": "yes"}
    assert read.tags["t"] == "b"
    assert read.tags["keel.user"]
    assert read.metrics == {"auc": 0.95, "loss": 0.1}
    assert [p[1] for p in backend.metric_history(run.id, "auc")] == [0.9, 0.95]
    assert read.environment is not None  # captured, and written with the run
    assert run.info.status == RunStatus.FINISHED


def test_a_failed_deferred_run_is_written_failed(quiet: Tracker, backend: TrackingBackend) -> None:
    run = quiet.start_run("fails", capture=False, deferred=True)
    run.log_metric("loss", 1.0)
    with pytest.raises(ValueError, match="bad batch"), run:
        raise ValueError("bad batch")
    read = backend.get_run(run.id)
    assert read.status == RunStatus.FAILED
    assert "ValueError: bad batch" in read.error
    assert read.metrics == {"loss": 1.0}


def test_a_deferred_run_is_invisible_until_written(
    quiet: Tracker, backend: TrackingBackend
) -> None:
    run = quiet.start_run("hidden", params={"p": "1"}, capture=False, deferred=True)
    with pytest.raises(NotFound):
        backend.get_run(run.id)
    assert backend.search_runs(RunQuery(filter="params.p = '1'")) == []
    run.end()
    assert backend.get_run(run.id).status == RunStatus.FINISHED


def test_what_needs_a_deferred_run_stored_writes_it_first(
    quiet: Tracker, backend: TrackingBackend
) -> None:
    with quiet.start_run("parent", capture=False, deferred=True) as parent:
        parent.log_metric("m", 1.0)
        parent.log_artifact(b"notes", "notes.txt")  # the run is written, RUNNING
        assert backend.get_run(parent.id).status == RunStatus.RUNNING
        parent.log_param("after", "written")  # an ordinary run's batch from here on
        with quiet.start_run("child", parent_id=parent.id, capture=False, deferred=True) as c:
            c.log_metric("m", 2.0)
    read = backend.get_run(parent.id)
    assert read.status == RunStatus.FINISHED
    assert read.params == {"after": "written"}
    assert read.metrics == {"m": 1.0}
    assert [a.name for a in read.artifacts] == ["notes.txt"]
    child = backend.get_run(c.id)
    assert (child.parent_id, child.status, child.metrics) == (parent.id, "FINISHED", {"m": 2.0})


def test_a_deferred_parent_is_written_before_its_child(
    quiet: Tracker, backend: TrackingBackend
) -> None:
    parent = quiet.start_run("family", capture=False, deferred=True)
    child = quiet.start_run("family", parent_id=parent.id, capture=False, deferred=True)
    assert backend.get_run(parent.id).status == RunStatus.RUNNING
    child.end()
    parent.end()
    assert backend.get_run(child.id).parent_id == parent.id
    assert backend.get_run(parent.id).status == RunStatus.FINISHED


def test_the_background_writer_writes_a_long_deferred_run(backend: TrackingBackend) -> None:
    tracker = Tracker(backend, heartbeat=None)
    tracker.flusher.interval = 0.1
    try:
        run = tracker.start_run("slow", params={"p": "1"}, capture=False, deferred=True)
        deadline = time.monotonic() + 30
        while True:  # written RUNNING within about an interval, without a point logged
            try:
                read = backend.get_run(run.id)
                break
            except NotFound:
                assert time.monotonic() < deadline, "the deferred run was never written"
                time.sleep(0.05)
        assert (read.status, read.params) == (RunStatus.RUNNING, {"p": "1"})
        run.log_metric("loss", 0.5)
        run.end()
    finally:
        tracker.close()
    read = backend.get_run(run.id)
    assert (read.status, read.metrics) == (RunStatus.FINISHED, {"loss": 0.5})


def test_closing_the_tracker_writes_a_pending_run(backend: TrackingBackend) -> None:
    tracker = Tracker(backend, heartbeat=None)
    tracker.flusher.interval = 3600.0
    run = tracker.start_run("left", capture=False, deferred=True)
    run.log_metric("loss", 0.5)
    tracker.close()  # as at interpreter exit: the run is kept, RUNNING
    read = backend.get_run(run.id)
    assert (read.status, read.metrics) == (RunStatus.RUNNING, {"loss": 0.5})


def test_deferred_refuses_bad_input_at_once(quiet: Tracker, backend: TrackingBackend) -> None:
    run = quiet.start_run("ok", capture=False)
    run.end()
    with pytest.raises(InvalidInput, match="for a new run"):
        quiet.start_run("ok", run_id=run.id, deferred=True)
    with pytest.raises(InvalidInput, match="experiment name"):
        quiet.start_run(" spaced ", capture=False, deferred=True)
    with pytest.raises(InvalidInput, match="has no value"):
        quiet.start_run("ok", params={"p": None}, capture=False, deferred=True)
    assert not quiet.flusher._pending
    assert [r.id for r in backend.search_runs(RunQuery(experiments=("ok",)))] == [run.id]


def test_a_deferred_run_in_a_deleted_experiment_raises_at_its_end(
    quiet: Tracker, backend: TrackingBackend
) -> None:
    with quiet.start_run("gone", capture=False):
        pass
    run = quiet.start_run("gone", capture=False, deferred=True)
    backend.delete_experiment("gone")
    with pytest.raises((InvalidInput, NotFound), match="gone"):
        run.end()


def test_a_run_written_in_one_transaction_is_never_half_visible(store: Store, monkeypatch) -> None:
    """Paused inside the run's one transaction, after its params and metrics are in: a
    reader then sees no run at all; after the commit, all of it."""
    tracking = SqlTracking(store)
    tracking.create_run("seen")  # the experiment exists; its run is the only one seen
    inside, go_on = threading.Event(), threading.Event()
    write_points = sql_module.write_points

    def paused(conn, run_id, points):
        write_points(conn, run_id, points)
        inside.set()
        assert go_on.wait(30)

    monkeypatch.setattr(sql_module, "write_points", paused)
    run_id = new_id()
    failed: list[BaseException] = []

    def write() -> None:
        try:
            tracking.create_run(
                "seen",
                params={f"p{i}": str(i) for i in range(5)},
                metrics=[(f"m{i}", float(i), 0, 0) for i in range(5)],
                run_id=run_id,
                status=RunStatus.FINISHED,
            )
        except BaseException as exc:
            failed.append(exc)
            inside.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert inside.wait(30)
        reader = SqlTracking(store)
        with pytest.raises(NotFound):
            reader.get_run(run_id)
        assert reader.search_runs(RunQuery(filter="params.p0 = '0'")) == []
        assert reader.search_runs(RunQuery(filter="metrics.m4 >= 0")) == []
    finally:
        go_on.set()
        writer.join(30)
    assert not failed
    read = SqlTracking(store).get_run(run_id)
    assert read.status == RunStatus.FINISHED
    assert len(read.params) == 5
    assert len(read.metrics) == 5
    (hit,) = SqlTracking(store).search_runs(RunQuery(filter="params.p0 = '0'"))
    assert hit.id == run_id


def test_a_whole_run_with_too_many_points_for_one_request_keeps_them_all(
    backend: TrackingBackend,
) -> None:
    points = [(f"metric-{i % 50}", float(i), i, i) for i in range(60_000)]
    created = backend.create_run("big", metrics=points, status=RunStatus.KILLED, error="stop")
    read = backend.get_run(created.id)
    assert (read.status, read.error) == (RunStatus.KILLED, "stop")
    assert read.metrics["metric-49"] == 59_999.0
    assert len(backend.metric_history(created.id, "metric-0")) == 1_200


def test_the_sdk_starts_a_deferred_run_and_its_child(project) -> None:
    import keel
    from keel.client import default_client

    with keel.start_run(experiment="sdk", params={"a": 1}, capture=False, deferred=True) as top:
        keel.log_metric("m", 1.0)
        with keel.start_run(name="child", capture=False, deferred=True) as child:
            keel.log_metric("m", 2.0)
    runs = default_client().runs
    read_top, read_child = runs.get_run(top.id), runs.get_run(child.id)
    assert (read_top.status, read_top.params, read_top.metrics) == (
        "FINISHED",
        {"a": "1"},
        {"m": 1.0},
    )
    assert (read_child.parent_id, read_child.experiment) == (top.id, "sdk")
    assert (read_child.status, read_child.metrics) == ("FINISHED", {"m": 2.0})
