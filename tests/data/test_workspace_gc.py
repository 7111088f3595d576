"""``keel data add`` after ``keel gc --objects`` took the objects of a deleted version: the
stat cache still knows the files, but their bytes are stored again, never just named."""

from __future__ import annotations

import os

import sqlalchemy as sa

from keel.config import resolve
from keel.data import DatasetService
from keel.store import Store
from keel.store import schema as t
from tests.data.test_workspace import PAST, keel, make_files, project, read_tree, workspace

__all__ = ["keel", "project"]  # fixtures


def test_an_add_after_gc_took_a_deleted_versions_objects_stores_them_again(project, keel) -> None:
    data = project / "data"
    contents = make_files(data)
    first = workspace(project).add(data)
    assert first.hashed == len(contents)
    assert keel("data", "delete", "data:v1").returncode == 0
    gc = keel("gc", "--objects", "--grace", "0s")
    assert gc.returncode == 0, gc.stdout + gc.stderr

    again = workspace(project).add(data)  # every file unchanged since the stat cache saw it
    assert again.ref == "data:v2"
    assert again.hashed == len(contents)  # read again: their objects were gone
    out = keel("data", "get", "data:v2", "--to", "restored")
    assert out.returncode == 0, out.stdout + out.stderr
    assert read_tree(project / "restored") == contents
    check = keel("fsck")
    assert check.returncode == 0, check.stdout + check.stderr


def test_fsck_names_a_file_a_version_lists_whose_bytes_are_gone(project, keel) -> None:
    data = project / "data"
    make_files(data)
    workspace(project).add(data)
    assert keel("fsck").returncode == 0
    config = resolve(cwd=project)
    with Store.open(config) as store:
        manifest = DatasetService(store).manifest("data:v1")
        lost = manifest.entries[0].digest
        assert store.objects.delete(lost)
        with store.write() as conn:  # as if gc had dropped its row too
            conn.execute(sa.delete(t.objects).where(t.objects.c.digest == lost))
    check = keel("fsck")
    assert check.returncode == 1
    assert lost[:20] in check.stdout
    assert "data:v1" in check.stdout
    as_json = keel("fsck", "--json")
    assert '"listed objects"' in as_json.stdout


def test_without_a_removal_since_the_cache_checked_them_objects_are_not_touched(
    project, keel
) -> None:
    """The stat cache is trusted while no removal started since it checked the files: a
    re-add reads nothing and leaves the objects' times alone (no per-object work); after
    a gc it refreshes them (or reads again those gc took)."""
    data = project / "data"
    make_files(data)
    ws = workspace(project)
    ws.add(data)
    digests = [e.digest for e in _manifest(project, "data:v1").entries]
    old = 1_000_000_000
    for digest in digests:
        os.utime(ws.objects.path(digest), (old, old))
    _write_old(data / "f5.bin", b"changed")
    second = workspace(project).add(data)
    assert (second.hashed, second.ref) == (1, "data:v2")
    assert all(workspace(project).objects.modified(d) == old for d in digests)

    workspace(project).objects.mark_removal()  # a gc that removed nothing of ours
    _write_old(data / "f6.bin", b"changed too")
    third = workspace(project).add(data)
    assert (third.hashed, third.ref) == (1, "data:v3")
    kept = [d for d in digests if d in {e.digest for e in _manifest(project, "data:v3").entries}]
    assert kept
    assert all(workspace(project).objects.modified(d) > old + 1e8 for d in kept)


def test_a_gc_that_starts_during_an_add_cannot_take_the_objects_it_reuses(project) -> None:
    """A removal that starts after the add trusted its stat cache: the add, once it has
    recorded the version, refreshes what it reused and puts back what the removal took."""
    data = project / "data"
    contents = make_files(data)
    ws = workspace(project)
    ws.add(data)
    victim = next(e.digest for e in _manifest(project, "data:v1").entries)
    _write_old(data / "f5.bin", b"changed")
    contents["f5.bin"] = b"changed"

    def gc_meanwhile(*_: object) -> None:  # runs while the changed file is stored
        if ws.objects.exists(victim):
            ws.objects.mark_removal()
            assert ws.objects.delete(victim)

    ws = workspace(project)
    result = ws.add(data, on_progress=gc_meanwhile)
    assert result.ref == "data:v2"
    assert ws.objects.exists(victim)  # put back from the file
    out = project / "restored"
    DatasetService(Store.open(resolve(cwd=project))).get("data:v2", out)
    assert read_tree(out) == contents


def _write_old(path, data: bytes) -> None:
    """Change a file and date it well before the add (not racy: its stat decides)."""
    path.write_bytes(data)
    os.utime(path, (PAST, PAST))


def _manifest(project, ref: str):
    with Store.open(resolve(cwd=project)) as store:
        return DatasetService(store).manifest(ref)
