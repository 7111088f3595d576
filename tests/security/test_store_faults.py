"""Storage faults: an unwritable object store, corrupt objects, partial writes, tampering.

Every test runs as root here, where ``chmod -w`` stops nothing. An object store that
refuses writes is made two ways that work for root too: its ``tmp/`` folder made
immutable (``chattr +i``, or ``chmod`` when not root; skipped if neither works), and
``tmp/`` replaced by a file after a first write, so writes fail with ENOTDIR.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from keel.config import resolve
from keel.data import DatasetService
from keel.errors import IntegrityError, StoreUnavailable
from keel.registry import RegistryService
from keel.registry._loaded import clear_cache
from keel.registry._package import EXAMPLE_FILE, read_package
from keel.store import Store, init_project
from keel.store import schema as t
from keel.store.fsck import fsck
from keel.store.gc import gc
from keel.store.objects import open_object_store
from keel.tracking import RunStatus, SqlTracking, Tracker
from tests._cli import run_keel


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A project in the test's folder (the working directory), on SQLite."""
    opened = init_project(tmp_path)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def _tamper(path: Path, data: bytes = b"flipped bytes") -> None:
    path.chmod(0o644)
    path.write_bytes(data)


def _folder(root: Path, count: int = 4) -> Path:
    root.mkdir()
    for i in range(count):
        (root / f"part-{i}.bin").write_bytes(f"part {i} ".encode() * 1000)
    return root


@pytest.fixture
def frozen_tmp(store: Store) -> Iterator[Path]:
    """The object store's tmp/ folder, made unwritable for real (even for root)."""
    store.put_object(b"a first write")  # the store has written before
    tmp = Path(store.objects.url) / "tmp"
    if os.geteuid() != 0:
        tmp.chmod(0o555)
        yield tmp
        tmp.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(tmp)]).returncode != 0:
        pytest.skip("running as root without a working chattr: cannot make a folder unwritable")
    try:
        yield tmp
    finally:
        subprocess.run([chattr, "-i", str(tmp)], check=True)


# -- an unwritable object store ---------------------------------------------------------


def test_unwritable_store_gives_store_unavailable_naming_the_store(
    store: Store, frozen_tmp: Path, tmp_path: Path
) -> None:
    run = Tracker(SqlTracking(store)).start_run("e", capture=False)
    with pytest.raises(StoreUnavailable, match=r"Cannot write to the object store .*objects"):
        run.log_artifact(b"weights", "model.bin")
    with pytest.raises(StoreUnavailable, match="writable and has free space"):
        DatasetService(store).log(_folder(tmp_path / "files"), "d")


def test_unwritable_store_is_a_one_line_cli_error(
    store: Store, frozen_tmp: Path, tmp_path: Path
) -> None:
    _folder(tmp_path / "files")
    result = run_keel("data", "add", "files", "--name", "d", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Cannot write to the object store" in result.stderr


def test_a_tmp_folder_turned_into_a_file_gives_store_unavailable(
    store: Store, tmp_path: Path
) -> None:
    store.put_object(b"a first write")
    tmp = Path(store.objects.url) / "tmp"
    shutil.rmtree(tmp)
    tmp.write_bytes(b"not a folder")  # every write under tmp/ now fails with ENOTDIR
    with pytest.raises(StoreUnavailable, match="Not a directory"):
        store.put_object(b"new bytes")
    with pytest.raises(StoreUnavailable, match="Cannot write to the object store"):
        DatasetService(store).log(_folder(tmp_path / "files"), "d")


def test_a_failed_start_leaves_no_run_running(store: Store, tmp_path: Path) -> None:
    # a dirty git checkout: starting a run stores its diff in the object store
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "train.py"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    (tmp_path / "train.py").write_text("print(2)\n")
    store.put_object(b"a first write")
    tmp = Path(store.objects.url) / "tmp"
    shutil.rmtree(tmp)
    tmp.write_bytes(b"not a folder")
    tracking = SqlTracking(store)
    tracker = Tracker(tracking)
    with pytest.raises(StoreUnavailable):
        tracker.start_run("e")
    tracker.close()
    (run,) = tracking.search_runs(_all_runs())
    assert run.status == RunStatus.FAILED
    assert "could not start" in run.error
    assert "StoreUnavailable" in run.error


def _all_runs():
    from keel.tracking import RunQuery

    return RunQuery(experiments=("e",))


# -- corrupt objects ----------------------------------------------------------------------


def test_storing_the_good_bytes_again_repairs_a_corrupt_object(
    store: Store, tmp_path: Path
) -> None:
    data = DatasetService(store)
    files = _folder(tmp_path / "files")
    first = data.log(files, "d")
    entry = data.manifest(first).entries[0]
    _tamper(store.objects.path(entry.digest))  # same name, wrong bytes
    assert not fsck(store).ok
    again = data.log(files, "again")  # a new dataset built from the right bytes
    assert fsck(store).ok
    for version in (first, again):
        data.get(version, tmp_path / f"out-{version.dataset}")
    # a single put repairs too, for bytes and for a same-size corruption
    digest = store.objects.put(b"x" * 100)
    _tamper(store.objects.path(digest), b"y" * 100)
    assert store.objects.put(b"x" * 100) == digest
    assert store.objects.read_bytes(digest) == b"x" * 100


def test_storing_the_good_bytes_again_repairs_a_corrupt_fsspec_object() -> None:
    objects = open_object_store(f"memory://keel-faults-{time.time_ns()}")
    digest = objects.put(b"good bytes")
    objects.fs.pipe_file(objects.path(digest), b"bad bytes!")  # same size
    assert not objects.verify(digest)
    assert objects.put(b"good bytes") == digest
    assert objects.verify(digest)


def test_getting_a_corrupt_version_leaves_nothing(store: Store, tmp_path: Path) -> None:
    data = DatasetService(store)
    version = data.log(_folder(tmp_path / "files", count=6), "d")
    entries = data.manifest(version).entries
    _tamper(store.objects.path(entries[-1].digest))  # the last file written is bad
    target = tmp_path / "fresh" / "out"
    with pytest.raises(IntegrityError, match="corrupt"):
        data.get(version, target)
    assert not (tmp_path / "fresh").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    with pytest.raises(IntegrityError):
        data.get(version, existing)
    assert [p.name for p in existing.iterdir()] == ["mine.txt"]


def test_cli_get_of_a_corrupt_version_leaves_nothing(store: Store, tmp_path: Path) -> None:
    data = DatasetService(store)
    version = data.log(_folder(tmp_path / "files", count=6), "d")
    _tamper(store.objects.path(data.manifest(version).entries[-1].digest))
    result = run_keel("data", "get", "d:v1", "--to", "out", cwd=tmp_path)
    assert result.returncode == 1
    assert "corrupt" in result.stderr
    assert not (tmp_path / "out").exists()


# -- partial writes: keel gc --------------------------------------------------------------


def _partial(store: Store, name: str, age_s: float, size: int = 1000) -> Path:
    tmp = Path(store.objects.url) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"{name}.part"
    path.write_bytes(b"p" * size)
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


def test_gc_removes_stale_partial_writes_but_not_fresh_ones(store: Store) -> None:
    stale = _partial(store, "stale", age_s=2 * 3600, size=3000)
    fresh = _partial(store, "fresh", age_s=60)  # perhaps a live writer's
    assert fsck(store).stale_temporaries == 2
    report = gc(store)
    assert [item["path"] for item in report.removed] == [str(stale)]
    assert report.bytes_freed == 3000
    assert report.kept_recent == 1
    assert not stale.exists()
    assert fresh.exists()


def test_gc_dry_run_removes_nothing(store: Store) -> None:
    stale = _partial(store, "stale", age_s=2 * 3600)
    report = gc(store, dry_run=True)
    assert [item["path"] for item in report.removed] == [str(stale)]
    assert stale.exists()


def test_gc_cli_reports_and_removes(store: Store, tmp_path: Path) -> None:
    stale = _partial(store, "stale", age_s=20 * 60, size=1234)
    fresh = _partial(store, "fresh", age_s=60)
    fsck_out = run_keel("fsck", cwd=tmp_path)
    assert "reclaimable by 'keel gc'" in fsck_out.stdout
    dry = run_keel("gc", "--older-than", "10m", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0
    assert "would remove 1 partial writes, 1,234 bytes" in dry.stdout
    assert stale.exists()
    import json

    done = run_keel("gc", "--older-than", "10m", "--json", cwd=tmp_path)
    assert json.loads(done.stdout)["bytes_freed"] == 1234
    assert not stale.exists()
    assert fresh.exists()
    bad = run_keel("gc", "--older-than", "soon", cwd=tmp_path)
    assert bad.returncode == 2


def test_gc_records_dead_runs_killed(tmp_path: Path) -> None:
    init_project(tmp_path).close()
    with Store.open(resolve(cwd=tmp_path, run_heartbeat_timeout=1)) as store:
        tracking = SqlTracking(store)
        dead = tracking.create_run("e")
        with store.write() as conn:  # its process last reported a minute ago
            conn.execute(t.runs.update().where(t.runs.c.id == dead.id).values(heartbeat_at=1))
        alive = tracking.create_run("e")
    result = run_keel("gc", cwd=tmp_path, env={"KEEL_RUN_HEARTBEAT_TIMEOUT": "60"})
    assert result.returncode == 0
    assert dead.id in result.stdout
    with Store.open(resolve(cwd=tmp_path)) as store, store.read() as conn:
        status = dict(conn.execute(sa.select(t.runs.c.id, t.runs.c.status)).all())
    assert status == {dead.id: RunStatus.KILLED, alive.id: RunStatus.RUNNING}


# -- model packages -----------------------------------------------------------------------


def test_a_package_with_a_tampered_input_example_refuses_to_load(store: Store) -> None:
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(50, 3))
    model = LogisticRegression().fit(x, x[:, 0] > 0)
    registry = RegistryService(store)
    version = registry.register(model, "m", input_example=x[:5])
    example = read_package(store.objects, version.package_digest).files[EXAMPLE_FILE]
    _tamper(store.objects.path(example))
    with pytest.raises(IntegrityError, match=r"input example .* tampered"):
        registry.load("m:1")
