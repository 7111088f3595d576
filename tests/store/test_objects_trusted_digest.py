"""``LocalObjectStore.put(..., digest=)``: a source that checks its own bytes is not hashed
again by the store (the server's upload path), and is still written atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path

import blake3
import pytest

from keel.errors import InvalidInput
from keel.store.objects import LocalObjectStore, _local


class _SelfChecking(io.RawIOBase):
    """A stream of ``data`` whose last read fails unless ``ok`` (as CheckedBody does)."""

    def __init__(self, data: bytes, *, ok: bool = True) -> None:
        self._data, self._pos, self._ok = data, 0, ok

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), len(self._data) - self._pos, 64 * 1024)
        if n == 0 and not self._ok:
            raise InvalidInput("these bytes are not the object")
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def _no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the store hashed bytes whose digest it was given")

    for name in ("new_hasher", "hash_bytes", "copy_and_hash", "hash_fd"):
        monkeypatch.setattr(_local, name, refuse)


@pytest.mark.parametrize("fsync", [True, False])
def test_a_given_digest_is_used_without_hashing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = blake3.blake3(data).hexdigest()
    objects = LocalObjectStore(tmp_path / "objects", fsync=fsync)
    _no_hashing(monkeypatch)
    assert objects.put(_SelfChecking(data), digest=digest) == digest
    monkeypatch.undo()
    assert objects.path(digest).read_bytes() == data
    assert objects.verify(digest)
    assert objects.stale_temporaries() == []


def test_a_source_failing_its_last_read_leaves_nothing(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    digest = blake3.blake3(data).hexdigest()
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    with pytest.raises(InvalidInput, match="not the object"):
        objects.put(_SelfChecking(data, ok=False), digest=digest)
    assert not objects.exists(digest)
    assert list(objects.digests()) == []
    assert objects.stale_temporaries() == []


def test_a_malformed_digest_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    with pytest.raises(InvalidInput, match="not an object digest"):
        objects.put(b"bytes", digest="../escape")
    assert list(objects.digests()) == []


def test_without_a_digest_the_store_still_hashes(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    data = os.urandom(100_000)
    assert objects.put(_SelfChecking(data)) == blake3.blake3(data).hexdigest()


@pytest.mark.parametrize("fsync", [True, False])
def test_put_many_with_digests_stores_every_object_without_hashing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    # small ones (packed: more than PACK_MIN_OBJECTS of them), and larger loose ones
    blobs = [os.urandom(1000 + i) for i in range(40)] + [os.urandom(300_000 + i) for i in range(3)]
    digests = [blake3.blake3(b).hexdigest() for b in blobs]
    objects = LocalObjectStore(tmp_path / "objects", fsync=fsync)
    _no_hashing(monkeypatch)
    assert objects.put_many([memoryview(b) for b in blobs], digests=digests) == digests
    monkeypatch.undo()
    for blob, digest in zip(blobs, digests, strict=True):
        assert objects.read_bytes(digest) == blob
        assert objects.verify(digest)
    assert objects.stale_temporaries() == []


def test_put_many_refuses_digests_that_do_not_pair_with_the_sources(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    with pytest.raises(InvalidInput, match="one digest per source"):
        objects.put_many([b"a", b"b"], digests=[blake3.blake3(b"a").hexdigest()])
    with pytest.raises(InvalidInput, match="not an object digest"):
        objects.put_many([b"a", b"b"], digests=["x", "y"])
    assert list(objects.digests()) == []
