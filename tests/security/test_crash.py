"""Crash suite: writers killed with SIGKILL at random (seeded) moments leave a sound store.

Each writer runs in its own interpreter against a SQLite project, prints what it has done
(with wall-clock times) on stdout, and is killed with ``kill -9``. Afterwards ``fsck``
passes, metrics cover everything logged up to three flush intervals before the kill, a
dataset or model is there whole or not at all, ``gc`` reclaims the partial writes, and no
run stays RUNNING once its heartbeat timeout has passed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from keel.config import resolve
from keel.store import Store, init_project
from keel.store import schema as t
from keel.store.fsck import fsck
from keel.store.gc import gc
from keel.tracking import RunQuery, RunStatus, SqlTracking, expire_runs

INTERVAL_S = 1.0  # the metric flusher's interval: the most a kill may lose, about
TIMEOUT_S = 2  # a tiny run_heartbeat_timeout: the writers beat every 0.4 s

METRICS_WRITER = """
import sys, time, keel
rate = float(sys.argv[1])  # points per second; 0 for a tight loop
run = keel.start_run("crash", capture=False)
print("RUN", run.id, time.time(), flush=True)
i, start, shown = 0, time.time(), 0.0
while True:
    run.log_metric("x", float(i), step=i)
    i += 1
    if i % 500 == 0:
        now = time.time()
        if now - shown >= 0.05:
            print("LOGGED", i, now, flush=True)  # points 0..i-1 were logged by now
            shown = now
        if rate:
            time.sleep(max(0.0, start + i / rate - now))
"""

DATASET_WRITER = """
import time, keel
print("START", time.time(), flush=True)
version = keel.log_dataset("files", "crashy")
print("DONE", version.ref, flush=True)
time.sleep(120)  # stay alive: the kill always lands, before or after the write ended
"""

MODEL_WRITER = """
import time, numpy as np, keel
from sklearn.ensemble import RandomForestClassifier
X = np.random.default_rng(0).normal(size=(2000, 20))
model = RandomForestClassifier(n_estimators=150, random_state=0).fit(X, X[:, 0] > 0)
print("START", time.time(), flush=True)
version = keel.register_model(model, "crashy", input_example=X[:5])
print("DONE", version.ref, flush=True)
time.sleep(120)  # stay alive: the kill always lands, before or after the write ended
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path).close()
    return tmp_path


def _open(project: Path) -> Store:
    return Store.open(resolve(cwd=project, run_heartbeat_timeout=TIMEOUT_S, fsync=False))


def _spawn(code: str, project: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "PYTEST_"))}
    env.update(
        KEEL_RUN_HEARTBEAT_TIMEOUT=str(TIMEOUT_S), KEEL_SYSTEM_METRICS="false", KEEL_FSYNC="true"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _first_line(proc: subprocess.Popen[str]) -> list[str]:
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line:
        raise AssertionError(f"the writer died before starting: {proc.stderr.read()}")  # type: ignore[union-attr]
    return line.split()


def _kill(proc: subprocess.Popen[str]) -> tuple[float, list[list[str]]]:
    """SIGKILL the writer; return when, and every line it had printed."""
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return killed_at, [line.split() for line in out.splitlines()]


def _assert_sound(store: Store) -> None:
    report = fsck(store)
    assert report.ok, report.to_dict()


@pytest.mark.parametrize(
    ("rate", "seed"),
    [(0, 1), (0, 2), (50_000, 3), (50_000, 4), (2_000, 5)],
    ids=["tight-1", "tight-2", "50k-1", "50k-2", "2k"],
)
def test_killed_metric_writer_loses_at_most_the_last_intervals(
    project: Path, rate: int, seed: int
) -> None:
    proc = _spawn(METRICS_WRITER, project, str(rate))
    run_id = _first_line(proc)[1]
    time.sleep(random.Random(seed).uniform(3.5, 5.0))
    killed_at, lines = _kill(proc)
    logged = [(int(n), float(at)) for tag, n, at in lines if tag == "LOGGED"]
    # Everything logged three intervals before the kill must have reached the store: the
    # promise is about one interval, plus a write's time, which a loaded CI machine can
    # stretch (two intervals failed once in five suite runs on 2 busy cores). Before the
    # fix a tight loop kept 0 of millions of points, so this still tells the two apart.
    must_keep = max((n for n, at in logged if at <= killed_at - 3 * INTERVAL_S), default=0)
    assert must_keep > 0, "the writer logged nothing early enough to check"
    with _open(project) as store:
        _assert_sound(store)
        steps = [p[2] for p in SqlTracking(store).metric_history(run_id, "x")]
        count, top = len(steps), max(steps, default=-1)
    assert count >= must_keep, f"kept {count} of the {must_keep} points logged in time"
    assert top == count - 1  # what is kept is a prefix of what was logged, with no holes


def test_a_killed_run_reads_killed_after_its_heartbeat_timeout_and_gc_records_it(
    project: Path,
) -> None:
    proc = _spawn(METRICS_WRITER, project, "200")
    run_id = _first_line(proc)[1]
    time.sleep(TIMEOUT_S * 1.5)  # longer than the timeout: only heartbeats keep it alive
    with _open(project) as store:
        assert SqlTracking(store).get_run(run_id).status == RunStatus.RUNNING
    _kill(proc)
    time.sleep(TIMEOUT_S + 0.5)
    with _open(project) as store:
        record = SqlTracking(store).get_run(run_id)
        assert record.status == RunStatus.KILLED
        assert "stopped reporting" in record.error
        stored = sa.select(t.runs.c.status).where(t.runs.c.id == run_id)
        with store.read() as conn:  # reads report it; they do not write
            assert conn.execute(stored).scalar() == RunStatus.RUNNING
        steps = {"runs": lambda s, dry: expire_runs(s, dry_run=dry)}
        dry = gc(store, dry_run=True, steps=steps)
        assert [r["id"] for r in dry.steps["runs"]] == [run_id]
        with store.read() as conn:
            assert conn.execute(stored).scalar() == RunStatus.RUNNING
        report = gc(store, steps=steps)
        assert [r["id"] for r in report.steps["runs"]] == [run_id]
        with store.read() as conn:
            assert conn.execute(stored).scalar() == RunStatus.KILLED


def test_a_search_records_dead_runs_so_a_status_filter_agrees(project: Path) -> None:
    proc = _spawn(METRICS_WRITER, project, "200")
    run_id = _first_line(proc)[1]
    _kill(proc)
    time.sleep(TIMEOUT_S + 0.5)
    with _open(project) as store:
        tracking = SqlTracking(store)
        running = tracking.search_runs(RunQuery(filter="status = 'RUNNING'"))
        assert running == []
        killed = tracking.search_runs(RunQuery(filter="status = 'KILLED'"))
        assert [r.id for r in killed] == [run_id]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_killed_dataset_add_leaves_a_whole_version_or_none_and_gc_reclaims_the_rest(
    project: Path, seed: int
) -> None:
    files = project / "files"
    files.mkdir()
    rng = random.Random(seed)
    for i in range(150):
        (files / f"part-{i:03}.bin").write_bytes(rng.randbytes(256 * 1024))
    proc = _spawn(DATASET_WRITER, project)
    _first_line(proc)
    time.sleep(rng.uniform(0.0, 0.8))
    _, lines = _kill(proc)
    done = any(line[0] == "DONE" for line in lines if line)
    with _open(project) as store:
        _assert_sound(store)
        from keel.data import DatasetService

        with store.read() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(t.dataset_versions))
            versions = count.scalar()
        assert versions == 1 if done else versions in (0, 1)
        before = fsck(store)
        report = gc(store, older_than=0)
        assert len(report.removed) == before.stale_temporaries
        assert report.bytes_freed == before.stale_temporary_bytes
        after = fsck(store)
        assert after.ok
        assert after.stale_temporaries == 0
        if versions:  # a version that exists is whole: every file, each verified
            got = DatasetService(store).get("crashy", project / "out")
            assert sorted(p.name for p in got) == sorted(p.name for p in files.iterdir())


@pytest.mark.parametrize("seed", [21, 22])
def test_killed_model_registration_leaves_a_loadable_version_or_none(
    project: Path, seed: int
) -> None:
    proc = _spawn(MODEL_WRITER, project)
    _first_line(proc)
    time.sleep(random.Random(seed).uniform(0.0, 0.6))
    _, lines = _kill(proc)
    done = any(line[0] == "DONE" for line in lines if line)
    with _open(project) as store:
        _assert_sound(store)
        from keel.registry import RegistryService

        with store.read() as conn:
            versions = conn.execute(sa.select(t.model_versions.c.id)).scalars().all()
        assert len(versions) == 1 if done else len(versions) in (0, 1)
        for _ in versions:  # a version that exists loads, every file verified
            model = RegistryService(store).load("crashy:1")
            assert model.predict([[0.0] * 20]) is not None
        gc(store, older_than=0)
        assert fsck(store).stale_temporaries == 0


def test_runs_reached_through_a_server_send_heartbeats(project: Path) -> None:
    from keel.tracking import Tracker
    from keel.tracking._http import HttpTracking
    from tests.conftest import live_server

    config = resolve(cwd=project, fsync=False)
    with live_server(config) as url:
        http = HttpTracking(url)
        tracker = Tracker(http, heartbeat=0.1)
        run = tracker.start_run("e", capture=False)  # logs nothing: only heartbeats
        with _open(project) as store:
            beat = sa.select(t.runs.c.heartbeat_at, t.runs.c.created_at)
            beat = beat.where(t.runs.c.id == run.id)
            deadline = time.monotonic() + 20
            while True:
                with store.read() as conn:
                    seen, created = conn.execute(beat).one()
                if seen > created or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        assert seen > created
        run.end()
        tracker.close()
        http.client.close()
