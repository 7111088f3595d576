"""The local object store's own ways of writing: batches, fan-out folders, read-only files."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

from keel.errors import NotFound, StoreUnavailable
from keel.store.objects import LocalObjectStore
from keel.store.objects._packs import PACK_THRESHOLD


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


def _large_files(tmp_path: Path, count: int) -> list[Path]:
    """Files above the pack threshold: each is stored loose, in its fan-out folder."""
    files = []
    for i in range(count):
        path = tmp_path / f"large{i}.bin"
        path.write_bytes(os.urandom(PACK_THRESHOLD + 1 + i))
        files.append(path)
    return files


@pytest.mark.parametrize("fsync", [True, False])
def test_put_many_of_large_files_makes_their_fan_out_folders(tmp_path: Path, fsync: bool) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=fsync)
    files = _large_files(tmp_path, 40)
    digests = objects.put_many(files, workers=4)
    folders = {d[:2] for d in digests}
    assert {p.name for p in objects.root.iterdir()} == folders | {"tmp"}
    for path, digest in zip(files, digests, strict=True):
        assert objects.path(digest).is_file()
        assert objects.read_bytes(digest) == path.read_bytes()
        assert stat.S_IMODE(objects.path(digest).stat().st_mode) == 0o444
    assert objects.stale_temporaries() == []


def test_put_many_makes_again_a_fan_out_folder_removed_after_it_was_made(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    files = _large_files(tmp_path, 2)
    digests = objects.put_many(files)
    for digest in digests:  # the store remembers these folders; a clean-up removes them
        objects.delete(digest)
        with contextlib.suppress(FileNotFoundError):
            objects.path(digest).parent.rmdir()
    assert objects.put_many(files) == digests
    for path, digest in zip(files, digests, strict=True):
        assert objects.read_bytes(digest) == path.read_bytes()
    assert objects.stale_temporaries() == []


def test_put_many_into_an_unwritable_fan_out_place_fails_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    files = _large_files(tmp_path, 3)
    digests = [objects.put(path) for path in files]
    for digest in digests:
        objects.delete(digest)
        objects.path(digest).parent.rmdir()
    first = objects.path(digests[0]).parent
    first.write_bytes(b"not a folder")  # its folder cannot be made
    with pytest.raises(StoreUnavailable):
        objects.put_many(files)
    assert objects.stale_temporaries() == []
    assert list(objects.digests()) == []
    first.unlink()
    assert objects.put_many(files) == digests


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
