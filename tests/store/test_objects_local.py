"""The local object store's own ways of writing: batches, fan-out folders, read-only files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keel.errors import NotFound
from keel.store.objects import LocalObjectStore


@pytest.mark.parametrize("fsync", [True, False])
def test_put_many_of_objects_already_stored_keeps_them_and_leaves_no_temporaries(
    tmp_path: Path, fsync: bool
) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=fsync)
    files = []
    for i in range(6):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(os.urandom(500 + i))
        files.append(path)
    first = objects.put_many(files[:4])
    inodes = [objects.path(d).stat().st_ino for d in first]
    again = objects.put_many(files)  # four already stored, two new
    assert again[:4] == first
    assert [objects.path(d).stat().st_ino for d in first] == inodes  # not rewritten
    assert objects.stale_temporaries() == []
    for path, digest in zip(files, again, strict=True):
        assert objects.read_bytes(digest) == path.read_bytes()
        mode = stat.S_IMODE(objects.path(digest).stat().st_mode)
        assert mode == 0o444


def test_a_removed_fan_out_folder_is_made_again(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    digest = objects.put(b"first")
    objects.delete(digest)
    objects.path(digest).parent.rmdir()  # as a clean-up of empty folders would
    assert objects.put_many([b"first", b"second"])[0] == digest
    assert objects.put(b"first") == digest
    assert objects.read_bytes(digest) == b"first"
    assert objects.stale_temporaries() == []


def test_put_many_with_a_missing_file_raises_and_leaves_no_temporaries(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    files = []
    for i in range(200):  # several batches, one of them failing in its middle
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(os.urandom(100 + i))
        files.append(path)
    files[150].unlink()
    with pytest.raises(NotFound, match="f150.bin"):
        objects.put_many(files, workers=4)
    assert objects.stale_temporaries() == []
    assert list(objects.digests()) == []  # a failed batch: nothing is published
    digests = objects.put_many(files[:150] + files[151:], workers=4)
    assert len(set(objects.digests())) == len(digests) == 199
