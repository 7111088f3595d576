"""``keel gc --objects``: unreferenced objects go after the grace period, referenced ones and
young ones never; a dry run lists them with sizes; a writer that keeps writing (and storing
bytes gc is about to take) never loses anything it references (checked with fsck)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from keel.client import Client
from keel.config import Config
from keel.data import object_references_to
from keel.errors import InvalidInput
from keel.store import Store
from keel.store.fsck import fsck
from keel.store.gc import collect_objects

HOUR = 3600.0


def _age(store: Store, digests, seconds: float = 2 * HOUR) -> None:
    """Make objects look written ``seconds`` ago (as if left long before this gc)."""
    past = time.time() - seconds
    for digest in digests:
        os.utime(store.objects.path(digest), (past, past))


def _age_all(store: Store) -> None:
    _age(store, list(store.objects.digests()))


def _frame(i: int) -> pd.DataFrame:
    return pd.DataFrame({"i": [i] * 50, "x": [float(i * k) for k in range(50)]})


@pytest.fixture
def client(store: Store, store_config: Config):
    with Client(config=store_config) as opened:
        yield opened


def test_unreferenced_objects_go_after_grace_referenced_stay(client: Client) -> None:
    store = client.store
    data = client.datasets
    keep = data.log(_frame(1), "d")
    gone = data.log(_frame(2), "d")
    run = client.runs.create_run("exp")
    client.runs.put_artifact(run.id, "a.txt", "file", b"kept artifact")
    held = {e.digest for e in data.manifest(gone).entries} | {gone.manifest_digest}
    data.delete(gone.ref)
    _age_all(store)
    young = store.objects.put(b"written just now, not referenced yet")

    preview = collect_objects(store, references=object_references_to, grace=HOUR, dry_run=True)
    previewed = {item["digest"] for item in preview.removed}
    assert previewed
    assert previewed <= held | {gone.profile_digest}
    assert all(item["bytes"] > 0 for item in preview.removed)
    assert preview.kept_recent == 1  # the young object
    assert all(store.objects.exists(d) for d in previewed)  # a dry run removes nothing

    report = collect_objects(store, references=object_references_to, grace=HOUR)
    assert {item["digest"] for item in report.removed} == previewed
    assert report.bytes_freed == preview.bytes_freed
    assert not any(store.objects.exists(d) for d in previewed)
    assert store.objects.exists(young)
    checked = fsck(store)
    assert checked.ok
    assert not checked.missing
    assert data.load(keep.ref, format="pandas").equals(_frame(1))
    with client.runs.open_artifact(run.id, "a.txt") as fh:
        assert fh.read() == b"kept artifact"
    # nothing left to take
    again = collect_objects(store, references=object_references_to, grace=HOUR)
    assert again.removed == []


def test_bad_grace_is_refused(client: Client) -> None:
    for bad in (-1, float("nan"), "1h"):
        with pytest.raises(InvalidInput, match="grace period"):
            collect_objects(client.store, references=object_references_to, grace=bad)


def test_storing_bytes_again_protects_them(client: Client) -> None:
    """A writer that stores bytes gc is about to take (old, unreferenced), and has not yet
    recorded its reference, keeps them: storing counts as writing them again."""
    store = client.store
    data = client.datasets
    version = data.log(_frame(3), "d")
    manifest = data.manifest(version)
    parts = {e.digest: store.objects.read_bytes(e.digest) for e in manifest.entries}
    data.delete(version.ref)
    _age_all(store)
    for raw in parts.values():  # the writer's put, before its transaction records them
        store.objects.put(raw)
    report = collect_objects(store, references=object_references_to, grace=HOUR)
    assert not {item["digest"] for item in report.removed} & set(parts)
    assert all(store.objects.exists(d) for d in parts)
    removed = {item["digest"] for item in report.removed}
    assert version.manifest_digest in removed  # what nobody stored again still went


def test_gc_with_a_concurrent_writer_loses_nothing(client: Client, tmp_path: Path) -> None:
    store = client.store
    data = client.datasets
    # garbage: versions deleted long ago; the writer will store some of the same bytes again
    for i in range(6):
        data.delete(data.log(_frame(i), "old").ref)
    _age_all(store)
    garbage = set(store.objects.digests())

    written: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        with Client(config=store.config) as own:
            i = 0
            try:
                while not stop.is_set() or i < 12:
                    version = own.datasets.log(_frame(i % 9), "live")  # 0..5 overlap garbage
                    written.append(version.ref)
                    run = own.runs.create_run("w")
                    own.runs.put_artifact(run.id, "n.txt", "file", f"{i % 4}".encode())
                    i += 1
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    reports = []
    try:
        # until the writer wrote its dozen (or failed: then the assertion below says why)
        while (thread.is_alive() and len(written) < 12) or len(reports) < 3:
            reports.append(collect_objects(store, references=object_references_to, grace=HOUR))
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    final = collect_objects(store, references=object_references_to, grace=HOUR)
    checked = fsck(store)
    assert checked.missing == {}, checked.to_dict()
    assert checked.corrupt == []
    assert checked.ok
    for ref in written:
        loaded = data.load(ref, format="pandas")
        assert len(loaded) == 50
    removed = {d["digest"] for r in [*reports, final] for d in r.removed}
    assert removed <= garbage  # only old garbage ever went
    assert removed  # and some did (garbage the writer never stored again)


def test_local_delete_if_older_keeps_what_was_put_again(tmp_path: Path) -> None:
    from keel.store.objects import open_object_store

    objects = open_object_store(str(tmp_path / "objects"))
    old, fresh = objects.put(b"old bytes"), objects.put(b"fresh bytes")
    past = time.time() - HOUR
    for digest in (old, fresh):
        os.utime(objects.path(digest), (past, past))
    objects.put(b"fresh bytes")  # stored again: its time is now
    cutoff = time.time() - 60
    assert objects.delete_if_older(old, cutoff) is True
    assert objects.delete_if_older(fresh, cutoff) is False
    assert not objects.exists(old)
    assert objects.read_bytes(fresh) == b"fresh bytes"  # moved aside and back, intact
    assert objects.delete_if_older(old, cutoff) is False  # gone already: nothing to do
    assert not list((tmp_path / "objects" / "tmp").glob("*.gc.part"))  # nothing left aside


def test_a_reader_waits_for_an_object_gc_moved_aside_for_a_moment(tmp_path: Path) -> None:
    from keel.errors import ObjectNotFound
    from keel.store.objects import open_object_store

    objects = open_object_store(str(tmp_path / "objects"))
    digest = objects.put(b"touched by a writer")
    final = objects.path(digest)
    aside = tmp_path / "objects" / "tmp" / "x.gc.part"
    aside.parent.mkdir(exist_ok=True)
    os.rename(final, aside)  # what delete_if_older does before it reads the object's time
    back = threading.Timer(0.05, os.rename, (aside, final))  # ...and undoes: it was touched
    back.start()
    try:
        assert objects.read_bytes(digest) == b"touched by a writer"
        assert objects.size(digest) == len(b"touched by a writer")
    finally:
        back.join()
    objects.delete(digest)  # really gone, and no gc at work: refused at once
    with pytest.raises(ObjectNotFound):
        objects.read_bytes(digest)


def test_on_s3_gc_needs_a_longer_grace_and_keeps_young_objects(
    tmp_path: Path, s3_bucket: str
) -> None:
    from keel.config import resolve
    from keel.store import init_project

    config = resolve(uri=f"sqlite:///{tmp_path / 'keel.db'}", objects=f"s3://{s3_bucket}/keel")
    init_project(tmp_path, config).close()
    with Client(config=config) as client:
        version = client.datasets.log(_frame(1), "d")
        client.datasets.delete(version.ref)
        stored = set(client.store.objects.digests())
        assert client.store.objects.modified(next(iter(stored))) > time.time() - HOUR
        with pytest.raises(InvalidInput, match="at least 10 minutes"):
            collect_objects(client.store, references=object_references_to, grace=60)
        report = collect_objects(client.store, references=object_references_to, grace=600)
        assert report.removed == []
        assert report.kept_recent == len(stored)
        assert set(client.store.objects.digests()) == stored


def test_a_referenced_object_row_is_never_dropped(client: Client) -> None:
    """The last guard: even if gc thought an object unreferenced, the foreign key of a
    reference refuses to let its row go, and gc then keeps the bytes too."""
    from keel.store.gc import _drop_row

    run = client.runs.create_run("exp")
    digest = client.runs.put_artifact(run.id, "a.bin", "file", b"held").digest
    assert _drop_row(client.store, digest) is False
    _age_all(client.store)
    report = collect_objects(client.store, references=lambda *a, **k: {}, grace=HOUR)
    assert digest not in {item["digest"] for item in report.removed}
    assert client.store.objects.exists(digest)
    assert fsck(client.store).ok


def test_freshening_objects_protects_them_and_names_the_missing(client: Client) -> None:
    """A writer about to reference objects it did not put (the stat cache knew them)
    freshens them first: gc keeps what it freshened, and what gc already took is named, so
    the writer stores it again instead of referencing bytes that are gone."""
    store = client.store
    data = client.datasets
    kept = data.log(_frame(4), "kept")
    taken = data.log(_frame(5), "taken")
    kept_parts = [e.digest for e in data.manifest(kept).entries]
    taken_parts = [e.digest for e in data.manifest(taken).entries]
    data.delete(kept.ref)
    data.delete(taken.ref)
    _age_all(store)
    collect_objects(store, references=object_references_to, grace=HOUR)  # takes every part
    store.objects.put(_frame(4).to_csv().encode())  # unrelated
    assert store.objects.freshen(taken_parts) == taken_parts  # gone: put them again

    kept2 = data.log(_frame(4), "kept2")  # the same bytes, stored afresh
    parts = [e.digest for e in data.manifest(kept2).entries]
    assert parts == kept_parts
    data.delete(kept2.ref)
    _age_all(store)
    assert store.objects.freshen([*parts, *parts]) == []  # once each, all stored
    report = collect_objects(store, references=object_references_to, grace=HOUR)
    assert not {item["digest"] for item in report.removed} & set(parts)
    assert all(store.objects.exists(d) for d in parts)
