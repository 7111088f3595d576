"""Contract tests of the object store, run on a local folder, on S3 (moto) and through a keel
server (HTTP)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.config import resolve
from keel.errors import IntegrityError, InvalidInput, NotFound, ObjectNotFound
from keel.store import init_project
from keel.store.objects import (
    FsspecObjectStore,
    HttpObjectStore,
    LocalObjectStore,
    ObjectStore,
    open_object_store,
)
from tests.conftest import live_server

IMPLEMENTATIONS = ["local", "s3", "http"]

_SERVED: dict[int, LocalObjectStore] = {}
"""The object store behind each HTTP store under test (the server's own folder)."""


@pytest.fixture(params=IMPLEMENTATIONS)
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        yield open_object_store(f"s3://{bucket}/objects")
    elif request.param == "http":
        # a keel server on loopback in front of a local folder: the client's contract is
        # the same whatever stands behind the server
        config = resolve(
            uri=f"sqlite:///{tmp_path / 'server' / 'keel.db'}",
            objects=str(tmp_path / "server" / "objects"),
            fsync=False,
        )
        init_project(tmp_path / "server", config).close()
        with live_server(config) as url:
            store = open_object_store(url)
            assert isinstance(store, HttpObjectStore)
            _SERVED[id(store)] = LocalObjectStore(config.objects, fsync=False)
            yield store
            store.close()
            del _SERVED[id(store)]
    else:
        yield open_object_store(str(tmp_path / "objects"), fsync=True)


def _tamper(objects: ObjectStore, digest: str, data: bytes) -> None:
    """Overwrite a stored object's bytes behind the store's back."""
    objects = _SERVED.get(id(objects), objects)
    if isinstance(objects, LocalObjectStore):
        path = objects.path(digest)
        path.chmod(0o644)
        path.write_bytes(data)
    else:
        assert isinstance(objects, FsspecObjectStore)
        objects.fs.pipe_file(objects.path(digest), data)


class Boom(Exception):
    pass


class FailingStream(io.RawIOBase):
    """Yields ``good`` bytes, then raises, like a network read that dies halfway."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            raise Boom("connection reset")
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


def test_put_returns_the_blake3_digest_and_reads_back(objects: ObjectStore) -> None:
    data = b"keel stores bytes by content"
    digest = objects.put(data)
    assert digest == blake3.blake3(data).hexdigest()
    assert objects.exists(digest)
    assert objects.read_bytes(digest) == data
    assert objects.size(digest) == len(data)
    assert objects.verify(digest) is True


def test_bytes_path_and_stream_give_the_same_object(objects: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    file = tmp_path / "data.bin"
    file.write_bytes(data)
    digests = {objects.put(data), objects.put(file), objects.put(io.BytesIO(data))}
    assert len(digests) == 1
    assert list(objects.digests()) == [digests.pop()]


def test_empty_object(objects: ObjectStore) -> None:
    digest = objects.put(b"")
    assert objects.read_bytes(digest) == b""
    assert objects.verify(digest)


def test_get_copies_a_verified_object_to_a_path(objects: ObjectStore, tmp_path: Path) -> None:
    digest = objects.put(b"model weights")
    dest = objects.get(digest, tmp_path / "out" / "weights.bin")
    assert dest.read_bytes() == b"model weights"


def test_corrupt_object_raises_integrity_error_naming_it(objects: ObjectStore) -> None:
    digest = objects.put(b"original bytes")
    _tamper(objects, digest, b"tampered bytes")
    assert objects.verify(digest) is False
    with pytest.raises(IntegrityError, match=f"Object {digest} .* is corrupt"):
        objects.open(digest)
    with pytest.raises(IntegrityError, match=digest):
        objects.read_bytes(digest)


def test_missing_object_raises_not_found(objects: ObjectStore) -> None:
    digest = blake3.blake3(b"never stored").hexdigest()
    assert not objects.exists(digest)
    with pytest.raises(ObjectNotFound, match=f"Object {digest} is not in the object store"):
        objects.open(digest)
    with pytest.raises(ObjectNotFound):
        objects.verify(digest)


@pytest.mark.parametrize("bad", ["abc", "G" * 64, "../" + "a" * 61, 42])
def test_malformed_digest_is_rejected(objects: ObjectStore, bad: object) -> None:
    with pytest.raises(InvalidInput, match="is not an object digest"):
        objects.exists(bad)  # type: ignore[arg-type]


def test_unsupported_source_and_missing_path(objects: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="Cannot store an object of type int"):
        objects.put(12)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no such file"):
        objects.put(tmp_path / "nope.bin")
    with pytest.raises(InvalidInput, match="it is a folder"):
        objects.put(tmp_path)
    assert list(objects.digests()) == []


def test_failed_write_leaves_nothing_visible(objects: ObjectStore) -> None:
    with pytest.raises(Boom):
        objects.put(FailingStream(good=5_000_000))
    assert list(objects.digests()) == []
    served = _SERVED.get(id(objects), objects)
    if isinstance(served, LocalObjectStore):
        assert served.stale_temporaries() == []


def test_delete(objects: ObjectStore) -> None:
    digest = objects.put(b"short-lived")
    assert objects.delete(digest) is True
    assert not objects.exists(digest)
    assert objects.delete(digest) is False


STREAM_CHILD = """
import io, sys, tracemalloc
import blake3
from keel.store.objects import open_object_store

class Zeros(io.RawIOBase):
    def __init__(self, size):
        self.left = size
    def readable(self):
        return True
    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n

size = int(sys.argv[2]) * 1024 * 1024
store = open_object_store(sys.argv[1])
tracemalloc.start()
digest = store.put(Zeros(size))
with store.open(digest) as fh:
    total = sum(len(chunk) for chunk in iter(lambda: fh.read(1 << 20), b""))
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
assert total == size, total
assert digest == blake3.blake3(bytes(size)).hexdigest()
print(peak)
"""


def test_large_stream_is_not_held_in_memory(objects: ObjectStore) -> None:
    """Objects streamed through put and open use memory bounded by the chunk size, not
    the object size. Measured in a client process of its own (moto's in-process server
    would otherwise count)."""
    import subprocess
    import sys

    def peak_mib(size_mib: int) -> float:
        out = subprocess.run(
            [sys.executable, "-c", STREAM_CHILD, objects.url, str(size_mib)],
            capture_output=True,
            text=True,
            check=True,
        )
        return int(out.stdout.strip().splitlines()[-1]) / 2**20

    small, large = peak_mib(16), peak_mib(96)
    assert large < 80, f"peak {large:.1f} MiB for a 96 MiB object"
    assert large < small + 16, f"peak grows with size: {small:.1f} -> {large:.1f} MiB"


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=5000))
def test_round_trip_preserves_every_byte(tmp_path: Path, data: bytes) -> None:
    store = LocalObjectStore(tmp_path / "hyp", fsync=False)
    digest = store.put(data)
    assert store.put(data) == digest
    assert store.read_bytes(digest) == data


def test_local_objects_are_read_only_files(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", fsync=False)
    digest = store.put(b"immutable")
    path = store.path(digest)
    assert (path.parent.name, path.name) == (digest[:2], digest[2:])
    assert path.stat().st_mode & 0o222 == 0


def test_unknown_scheme_lists_a_suggestion() -> None:
    from keel.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown object store scheme 's33'.*Did you mean 's3'"):
        open_object_store("s33://bucket/x")


def test_put_many_stores_everything_in_order_and_leaves_no_temporaries(
    objects: ObjectStore, tmp_path: Path
) -> None:
    files = []
    for i in range(20):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(os.urandom(1000 + i * 3000))
        files.append(path)
    sources = [*files, b"inline bytes", files[0]]  # a duplicate is stored once
    digests = objects.put_many(sources, workers=4)
    assert digests == [objects.put(s) for s in sources]
    assert len(set(objects.digests())) == 21
    for path, digest in zip(files, digests, strict=False):
        assert objects.read_bytes(digest) == path.read_bytes()
    if isinstance(objects, LocalObjectStore):
        assert objects.stale_temporaries() == []


def test_the_local_store_loads_no_remote_store_module() -> None:
    """``keel data add`` into a folder pays for neither the fsspec nor the HTTP store (nor
    tempfile, only ``get`` needs it); both are still there by name when asked for."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from keel.store.objects import open_object_store\n"
        "open_object_store(sys.argv[1])\n"
        "print(sorted(m for m in ('keel.store.objects._fsspec', 'keel.store.objects._http',"
        " 'tempfile') if m in sys.modules))\n"
        "import keel.store.objects as objects\n"
        "print(objects.HttpObjectStore.__name__, objects.FsspecObjectStore.__name__,"
        " objects.MISSING_BATCH is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "objects"], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == ["[]", "HttpObjectStore FsspecObjectStore True"]
