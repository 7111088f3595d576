"""keel fsck finds corrupt objects and dangling references, and changes nothing."""

from __future__ import annotations

import blake3
import sqlalchemy as sa

from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.fsck import Reference, fsck, object_references


def _tamper(store: Store, digest: str) -> None:
    path = store.objects.path(digest)  # type: ignore[attr-defined]
    path.chmod(0o644)
    path.write_bytes(b"flipped")


def test_every_digest_column_is_checked() -> None:
    refs = object_references()
    assert Reference("run_artifacts", "digest") in refs
    assert Reference("dataset_versions", "manifest_digest") in refs
    assert Reference("model_versions", "package_digest") in refs


def test_clean_store_is_ok(store: Store) -> None:
    for i in range(5):
        store.put_object(f"object {i}".encode())
    progress: list[tuple[int, int]] = []
    report = fsck(store, lambda done, total: progress.append((done, total)))
    assert report.ok
    assert (report.objects_checked, report.references_checked) == (5, 5)
    assert progress[-1] == (5, 5)
    assert report.missing == {}
    assert report.corrupt == []


def test_corrupt_missing_and_unreferenced_objects_are_reported(store: Store) -> None:
    good = store.put_object(b"good")
    bad = store.put_object(b"will be corrupted")
    gone = store.put_object(b"will be deleted")
    orphan = store.objects.put(b"stored but never recorded")
    _tamper(store, bad)
    store.objects.delete(gone)
    # a run artifact pointing at the deleted object
    project = store.project_id()
    with store.write() as conn:
        exp, run = new_id(), new_id()
        conn.execute(
            t.experiments.insert().values(id=exp, project_id=project, name="e", created_at=0)
        )
        conn.execute(
            t.runs.insert().values(
                id=run, experiment_id=exp, name="r", status="FINISHED", created_at=now_ms()
            )
        )
        conn.execute(
            t.run_artifacts.insert().values(
                run_id=run, name="model.skops", kind="file", digest=gone, size=15, created_at=0
            )
        )
    before = store.counts()

    report = fsck(store)

    assert not report.ok
    assert report.corrupt == [bad]
    assert report.missing == {gone: ["objects.digest", "run_artifacts.digest"]}
    assert report.unreferenced == [orphan]
    assert good not in report.corrupt
    assert store.counts() == before  # fsck changes nothing
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.objects)).scalar() == 3
    assert blake3.blake3(b"good").hexdigest() == good
