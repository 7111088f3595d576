"""``keel data add`` after ``keel gc --objects`` took the objects of a deleted version: the
stat cache still knows the files, but their bytes are stored again, never just named."""

from __future__ import annotations

import sqlalchemy as sa

from keel.config import resolve
from keel.data import DatasetService
from keel.store import Store
from keel.store import schema as t
from tests.data.test_workspace import keel, make_files, project, read_tree, workspace

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
