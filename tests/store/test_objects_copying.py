"""Local files entering a local store: kernel copies hashed as written, opt-in reflinks and
hard links (with a copy where the filesystem cannot), and a narrow syncfs."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from keel.errors import InvalidInput
from keel.store.objects import LocalObjectStore, hash_bytes, open_object_store
from keel.store.objects._copying import copy_and_hash
from keel.store.objects._durable import _libc_syncfs, start_writeback, syncfs
from keel.store.objects._hashing import CHUNK_SIZE


@pytest.mark.parametrize("size", [70_000, CHUNK_SIZE, 2 * CHUNK_SIZE + 12_345])
def test_a_large_file_is_copied_and_named_by_the_bytes_written(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    objects = LocalObjectStore(tmp_path / "objects")
    digest = objects.put(source)
    assert digest == hash_bytes(data)
    assert objects.read_bytes(digest) == data
    assert objects.path(digest).stat().st_ino != source.stat().st_ino  # a copy
    assert objects.put_many([source, source]) == [digest, digest]
    assert objects.stale_temporaries() == []


def test_a_stream_opened_past_its_start_stores_the_rest(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    with open(source, "rb") as fh:
        fh.seek(1000)
        digest = objects.put(fh)
    assert objects.read_bytes(digest) == data[1000:]


def test_copy_and_hash_copies_in_the_kernel(tmp_path: Path) -> None:
    data = os.urandom(CHUNK_SIZE + 5)
    (tmp_path / "a").write_bytes(data)
    with open(tmp_path / "a", "rb") as src, open(tmp_path / "b", "wb+") as dst:
        digest = copy_and_hash(src.fileno(), dst.fileno(), len(data) - 5, 5)
    assert digest == hash_bytes(data[5:])
    assert (tmp_path / "b").read_bytes() == data[5:]


def test_copy_and_hash_hashes_each_copy_in_place(tmp_path: Path) -> None:
    # each chunk is hashed where it lies in the copy (mapped): sizes of one and several
    # chunks, and a few bytes, one after the other
    sizes = [2 * CHUNK_SIZE + 7, 300_001, 5, CHUNK_SIZE + 1, 1_000_000]
    for i, size in enumerate(sizes):
        data = os.urandom(size)
        (tmp_path / f"s{i}").write_bytes(data)
        with open(tmp_path / f"s{i}", "rb") as src, open(tmp_path / f"d{i}", "wb+") as dst:
            digest = copy_and_hash(src.fileno(), dst.fileno(), size)
        assert digest == hash_bytes(data), size
        assert (tmp_path / f"d{i}").read_bytes() == data


def test_a_durable_put_leaves_no_temporary_and_a_read_only_object(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects")  # fsync=True: flushed before the rename
    source = tmp_path / "f.bin"
    data = os.urandom(200_000)
    source.write_bytes(data)
    digest = objects.put(source)
    assert objects.put(source) == digest  # already stored: its temporary is removed
    assert objects.read_bytes(digest) == data
    assert stat.S_IMODE(objects.path(digest).stat().st_mode) == 0o444
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


def test_hardlink_makes_the_file_the_object_and_read_only(tmp_path: Path) -> None:
    data = os.urandom(100_000)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    objects = open_object_store(str(tmp_path / "objects"), link="hardlink")
    digest = objects.put(source)
    assert objects.path(digest).stat().st_ino == source.stat().st_ino  # type: ignore[attr-defined]
    assert stat.S_IMODE(source.stat().st_mode) == 0o444
    assert objects.read_bytes(digest) == data


def test_hardlink_across_filesystems_copies(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs a second filesystem (/dev/shm)")
    source = shm / f"keel-test-{os.getpid()}.bin"
    source.write_bytes(os.urandom(100_000))
    try:
        objects = LocalObjectStore(tmp_path / "objects", link="hardlink")
        digest = objects.put(source)
        assert objects.read_bytes(digest) == source.read_bytes()
        assert objects.path(digest).stat().st_ino != source.stat().st_ino
    finally:
        source.unlink()


def test_reflink_shares_blocks_or_copies_where_the_filesystem_cannot(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    objects = LocalObjectStore(tmp_path / "objects", link="reflink")  # ext4: copies
    [digest] = objects.put_many([source])
    assert objects.read_bytes(digest) == data
    assert objects.path(digest).stat().st_ino != source.stat().st_ino
    source.write_bytes(b"edited")  # a reflink or a copy: the object does not change
    assert objects.read_bytes(digest) == data


def test_an_unknown_link_type_is_refused_with_the_choices() -> None:
    with pytest.raises(InvalidInput, match="copy, reflink, hardlink"):
        LocalObjectStore("/tmp/unused", link="symlink")


def test_syncfs_flushes_the_store_filesystem(tmp_path: Path) -> None:
    assert _libc_syncfs() is not None  # glibc on Linux has syncfs(2)
    syncfs(tmp_path)  # no error; nothing observable to assert beyond that it returns
    with pytest.raises(FileNotFoundError):
        syncfs(tmp_path / "missing")


def test_a_pipe_is_copied_through_user_space(tmp_path: Path) -> None:
    data = os.urandom(150_000)
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    digest = objects.put(io.BufferedReader(io.BytesIO(data)))  # no file descriptor
    assert objects.read_bytes(digest) == data


def test_the_objects_link_setting_reaches_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.config import resolve
    from keel.store import Store, init_project

    init_project(tmp_path).close()
    monkeypatch.setenv("KEEL_OBJECTS_LINK", "hardlink")
    with Store.open(resolve(cwd=tmp_path)) as store:
        assert isinstance(store.objects, LocalObjectStore)
        assert store.objects.link == "hardlink"
    monkeypatch.setenv("KEEL_OBJECTS_LINK", "symlink")
    from keel.errors import ConfigError

    with pytest.raises(ConfigError, match="copy, reflink, hardlink"):
        resolve(cwd=tmp_path)


def test_start_writeback_is_taken_for_a_file_and_refused_for_a_pipe(tmp_path: Path) -> None:
    with open(tmp_path / "a", "wb") as out:
        out.write(os.urandom(100_000))
        assert start_writeback(out.fileno()) is True
        assert start_writeback(out.fileno(), 4096, 8192) is True
    read, write = os.pipe()
    try:
        assert start_writeback(write) is False  # ESPIPE: a hint refused, nothing raised
    finally:
        os.close(read)
        os.close(write)


def test_copy_and_hash_starts_writing_each_chunk_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keel.store.objects._copying as copying

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(copying, "start_writeback", lambda fd, at, n: calls.append((at, n)))
    size = 2 * CHUNK_SIZE + 12_345
    data = os.urandom(size)
    (tmp_path / "a").write_bytes(data)
    for writeback in (False, True):
        with open(tmp_path / "a", "rb") as src, open(tmp_path / "b", "wb+") as dst:
            digest = copy_and_hash(src.fileno(), dst.fileno(), size, writeback=writeback)
        assert digest == hash_bytes(data)
        assert (tmp_path / "b").read_bytes() == data
    assert calls == [(0, CHUNK_SIZE), (CHUNK_SIZE, CHUNK_SIZE), (2 * CHUNK_SIZE, 12_345)]


@pytest.mark.parametrize("fsync", [True, False])
def test_put_many_starts_writeback_of_copies_only_when_it_will_flush_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    import keel.store.objects._copying as copying

    files = []
    for i in range(3):
        files.append(tmp_path / f"f{i}")
        files[-1].write_bytes(os.urandom(200_000 + i))
    started: list[int] = []
    monkeypatch.setattr(copying, "start_writeback", lambda fd, at, n: started.append(n))
    objects = LocalObjectStore(tmp_path / "objects", fsync=fsync)
    digests = objects.put_many(files)
    assert [objects.read_bytes(d) for d in digests] == [f.read_bytes() for f in files]
    assert sorted(started) == ([200_000, 200_001, 200_002] if fsync else [])
    assert objects.stale_temporaries() == []
