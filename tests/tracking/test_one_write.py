"""A run is one write to create (params, tags, first metrics) and one to end (status and
its last buffered points), on SQLite and PostgreSQL, directly and over HTTP; a listing
carries what a list needs, the rest on request."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from keel.errors import InvalidInput, NotFound
from keel.store import Store
from keel.tracking import RunQuery, RunStatus, SqlTracking, Tracker, TrackingBackend
from keel.tracking._http import HttpTracking
from keel.tracking._records import CheckedPoints


@contextmanager
def counted(store: Store, backend: TrackingBackend) -> Iterator[dict[str, int]]:
    """Transactions begun on the store (that the server uses, for an HTTP backend, is
    its own) and requests sent by an HTTP backend, meanwhile."""
    counts = {"transactions": 0, "requests": 0}

    def began(conn: sa.Connection) -> None:
        counts["transactions"] += 1

    sa.event.listen(store.engine, "begin", began)
    sent = None
    if isinstance(backend, HttpTracking):
        sent = backend.client.request

        def request(*args, **kwargs):
            counts["requests"] += 1
            return sent(*args, **kwargs)

        backend.client.request = request  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        sa.event.remove(store.engine, "begin", began)
        if sent is not None:
            backend.client.request = sent  # type: ignore[method-assign]


def test_create_with_params_tags_and_first_metrics_is_one_write(
    backend: TrackingBackend, store: Store
) -> None:
    backend.create_run("warm-up")  # the project's id is looked up once, then kept
    points = [("loss", 0.5, 0, 1_000), ("loss", 0.25, 1, 2_000), ("auc", math.nan, 0, 1_000)]
    with counted(store, backend) as counts:
        created = backend.create_run(
            "one-write", params={"lr": "0.1"}, tags={"team": "risk"}, metrics=points
        )
    if isinstance(backend, HttpTracking):  # the server's store is its own: count requests
        assert counts["requests"] == 1
    else:
        assert counts["transactions"] == 1
    assert created.metrics["loss"] == 0.25
    assert math.isnan(created.metrics["auc"])
    read = backend.get_run(created.id)
    assert read.params == {"lr": "0.1"}
    assert read.tags["team"] == "risk"
    assert read.metrics["loss"] == 0.25
    assert math.isnan(read.metrics["auc"])
    assert [p[1] for p in backend.metric_history(created.id, "loss")] == [0.5, 0.25]


def test_a_run_is_one_write_to_create_and_one_to_end(
    backend: TrackingBackend, store: Store
) -> None:
    tracker = Tracker(backend, heartbeat=None)
    tracker.flusher.interval = 3600.0  # the background writer never takes the points first
    try:
        with tracker.start_run("warm-up", capture=False):
            pass
        with (
            counted(store, backend) as counts,
            tracker.start_run("runs", params={"C": 1}, capture=False) as run,
        ):
            run.log_metrics({"auc": 0.9, "loss": 0.1})
            run.log_metric("auc", 0.95)
        if isinstance(backend, HttpTracking):
            assert counts["requests"] == 2
        else:
            assert counts["transactions"] == 2  # no read-back, no separate flush
    finally:
        tracker.close()
    read = backend.get_run(run.id)
    assert read.status == RunStatus.FINISHED
    assert read.ended_at is not None
    assert read.metrics == {"auc": 0.95, "loss": 0.1}
    assert read.params == {"C": "1"}
    assert run.info.status == RunStatus.FINISHED


def test_end_run_checks_its_status_and_run(backend: TrackingBackend) -> None:
    run = backend.create_run("ends")
    with pytest.raises(InvalidInput, match="FINISHED.*FAILED.*KILLED"):
        backend.end_run(run.id, "DONE")
    with pytest.raises(NotFound, match="No run with id 'nope'"):
        backend.end_run("nope", RunStatus.FINISHED, metrics=[("m", 1.0, 0, 0)])
    backend.end_run(run.id, RunStatus.FAILED, error="boom", metrics=[("m", 2.0, 3, 0)])
    read = backend.get_run(run.id)
    assert (read.status, read.error, read.metrics) == ("FAILED", "boom", {"m": 2.0})


def test_end_run_of_a_run_in_another_project_is_not_found(store: Store) -> None:
    store.create_project("other")
    run = SqlTracking(store).create_run("e")
    with pytest.raises(NotFound, match="in project 'other'"):
        SqlTracking(store, project="other").end_run(run.id, RunStatus.FINISHED)
    assert SqlTracking(store).get_run(run.id).status == RunStatus.RUNNING


def test_many_end_points_over_http_go_in_batches_first(backend: TrackingBackend) -> None:
    run = backend.create_run("big-end")
    points = [(f"metric-{i % 50}", float(i), i, i) for i in range(60_000)]
    backend.end_run(run.id, RunStatus.FINISHED, metrics=points)
    read = backend.get_run(run.id)
    assert read.status == RunStatus.FINISHED
    assert read.metrics["metric-49"] == 59_999.0
    assert len(backend.metric_history(run.id, "metric-0")) == 1_200


def test_a_listing_leaves_out_environment_code_and_artifacts_unless_asked(
    backend: TrackingBackend,
) -> None:
    run = backend.create_run(
        "listed", code={"argv": ["train.py"]}, environment={"packages": {"numpy": "2"}}
    )
    backend.put_artifact(run.id, "notes.txt", "file", b"hello")
    (brief,) = backend.search_runs(RunQuery(experiments=("listed",)))
    assert (brief.code, brief.environment, brief.artifacts) == (None, None, [])
    (full,) = backend.search_runs(
        RunQuery(experiments=("listed",), include=("environment", "code", "artifacts"))
    )
    assert full.environment == {"packages": {"numpy": "2"}}
    assert full.code == {"argv": ["train.py"]}
    assert [a.name for a in full.artifacts] == ["notes.txt"]
    (some,) = backend.search_runs(RunQuery(experiments=("listed",), include=("artifacts",)))
    assert some.environment is None
    assert [a.name for a in some.artifacts] == ["notes.txt"]
    with pytest.raises(InvalidInput, match="include takes any of environment, code, artifacts"):
        backend.search_runs(RunQuery(include=("packages",)))
    assert backend.get_run(run.id).environment == {"packages": {"numpy": "2"}}  # a run: all


@pytest.mark.parametrize("checked", [False, True], ids=["from-a-caller", "from-a-run"])
def test_a_large_batch_keeps_every_point_and_the_latest_of_each_metric(
    backend: TrackingBackend, checked: bool
) -> None:
    run = backend.create_run("bulk")
    # steps go down as well as up: the latest is the highest step, not the last logged
    points = [(f"m{i % 3}", float(i), 1_000 - i, i) for i in range(600)]
    points += [("odd", math.nan, 5_000, 0), ("odd", math.inf, 4_000, 0)]
    backend.log_batch(run.id, metrics=CheckedPoints(points) if checked else points)
    read = backend.get_run(run.id)
    assert read.metrics["m0"] == 0.0  # step 1000
    assert read.metrics["m2"] == 2.0  # step 998
    assert math.isnan(read.metrics["odd"])
    history = backend.metric_history(run.id, "odd")
    assert [p[1] for p in history][:1] == [math.inf]  # step 4000 first, stored as infinity
    assert math.isnan(history[1][1])
    assert len(backend.metric_history(run.id, "m1")) == 200
