"""Batch uploads written as they arrive: the framing is parsed across any split of the
body into pieces, every object is hashed in the same pass as it is written, and nothing
is named before the whole batch checked out; the client sends large batches (objects of
any size up to them) to a server that says it takes them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from keel.errors import InvalidInput
from keel.server._batch_upload import _BatchWriter
from keel.store.objects import HttpObjectStore, LocalObjectStore, _http
from keel.store.objects._http_batch import frame, header
from keel.store.objects._packs import PACK_THRESHOLD
from tests._served import Served, serve_local

API = "/api/v1/objects"
MiB = 1024 * 1024


def _digest(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _write(store: LocalObjectStore, body: bytes, piece: int) -> list[tuple[str, int]]:
    """Feed ``body`` to a batch writer in pieces of ``piece`` bytes and publish it."""
    writer = _BatchWriter(store)
    try:
        for i in range(0, len(body), piece):
            writer.take(body[i : i + piece])
        writer.end()
        files, writer.files = writer.files, {}
        store.publish_staged(files, writer.small)
    finally:
        writer.discard()
    return writer.stored


@pytest.mark.parametrize("piece", [1, 7, 86, 4096, 10**9])
def test_a_batch_is_read_whatever_its_pieces(tmp_path: Path, piece: int) -> None:
    blobs = [b"", b"x", os.urandom(PACK_THRESHOLD), os.urandom(PACK_THRESHOLD + 1)]
    blobs += [os.urandom(3000 + i) for i in range(3)]
    if piece > 1:
        blobs.append(os.urandom(2 * MiB))  # a large object goes to its own file
    pairs = [(_digest(b), b) for b in [*blobs, blobs[3]]]  # a repeat is stored once
    store = LocalObjectStore(tmp_path / "objects", fsync=True)
    stored = _write(store, frame(pairs), piece)
    assert stored == [(_digest(b), len(b)) for b in blobs]
    assert all(store.read_bytes(_digest(b)) == b for b in blobs)
    assert store.stale_temporaries() == []


@pytest.mark.parametrize(
    ("tail", "words"),
    [
        (header("0" * 64, 3) + b"abc", "hash to"),
        (header(_digest(b"abc"), 10) + b"abc", "is cut off"),
        (b"abc", "line at byte 4"),
        (b"z" * 200, "no '<digest> <size>' line at byte 4"),
        (header(_digest(b"ab"), 2)[:-1] + b"x\nab", "not a '<digest> <size>' line"),
    ],
)
@pytest.mark.parametrize("piece", [3, 4096, 10**9])
def test_a_bad_batch_leaves_nothing_behind(
    tmp_path: Path, tail: bytes, words: str, piece: int
) -> None:
    good = os.urandom(4 * PACK_THRESHOLD)  # in a temporary file before the bad part arrives
    body = frame([(_digest(b"ok"), b"ok"), (_digest(good), good)])
    store = LocalObjectStore(tmp_path / "objects", fsync=False)
    # the good objects take len(body) bytes: byte positions in messages count from 0
    with pytest.raises(InvalidInput, match=words.replace("byte 4", f"byte {len(body)}")):
        _write(store, body + tail, piece)
    assert list(store.digests()) == []
    assert store.stale_temporaries() == []


def test_an_empty_batch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is empty"):
        _write(LocalObjectStore(tmp_path / "objects"), b"", 1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_local(tmp_path / "server", ("writer",)) as s:
        yield s


def test_a_push_sends_large_batches_to_a_server_that_takes_them(
    served: Served, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    blobs = [os.urandom(2 * MiB + i) for i in range(6)] + [os.urandom(5000 + i) for i in range(9)]
    files = []
    for i, blob in enumerate(blobs):
        files.append(folder / f"f{i:02d}.bin")
        files[-1].write_bytes(blob)
    store = HttpObjectStore(served.url, token=served.tokens["writer"], remember_files=False)
    sent: list[tuple[str, str]] = []
    store.client.http.event_hooks["request"].append(
        lambda request: sent.append((request.method, request.url.path))
    )
    try:
        digests = store.put_many(files)
    finally:
        store.close()
    assert digests == [_digest(b) for b in blobs]
    uploads = [(m, p) for m, p in sent if p != f"{API}/missing"]
    # 12 MiB and a little: two batches of at most 8 MiB, no PUT of its own for any object
    assert uploads == [("POST", f"{API}/batch")] * 2
    backing = LocalObjectStore(served.config.objects, fsync=False)
    assert all(backing.read_bytes(_digest(b)) == b for b in blobs)


def test_objects_are_grouped_by_what_the_server_takes() -> None:
    items = [_http._Staged(f"{i:064x}", size) for i, size in enumerate([5 * MiB, 2 * MiB, 10])]
    # a server that did not say: objects above 1 MiB alone, batches of at most 3 MiB
    assert [len(g) for g in _http._groups(items)] == [1, 1, 1]
    # one that takes 8 MiB batches: objects up to 8 MiB go together
    assert [len(g) for g in _http._groups(items, 8 * MiB)] == [3]
    assert [len(g) for g in _http._groups(items, 6 * MiB)] == [1, 2]


def test_a_batch_cut_off_after_whole_objects_leaves_no_file(served: Served) -> None:
    import socket
    import time
    from urllib.parse import urlsplit

    # the first object arrives whole (written to its temporary file), the second half
    pairs = [(_digest(b), b) for b in (os.urandom(1_500_000), os.urandom(1_500_000))]
    body = frame(pairs)
    url = urlsplit(served.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            f"POST {API}/batch HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: {served.headers('writer')['Authorization']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) * 3 // 4]
        )
        backing = LocalObjectStore(served.config.objects, fsync=False)
        deadline = time.monotonic() + 10
        while not backing.stale_temporaries() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert backing.stale_temporaries()  # written as it arrived, not held in memory
    deadline = time.monotonic() + 10
    while backing.stale_temporaries() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backing.stale_temporaries() == []
    assert list(backing.digests()) == []  # not even the object that arrived whole


def test_a_server_that_refuses_a_large_batch_gets_small_ones(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.server.routes import objects as routes

    # a server that says it takes 64 MiB batches but refuses any over 4 MiB
    monkeypatch.setattr(
        routes,
        "_batch_limit",
        lambda request: 64 * MiB if request.url.path.endswith("/missing") else 4 * MiB,
    )
    folder = tmp_path / "data"
    folder.mkdir()
    blobs = [os.urandom(2 * MiB + i) for i in range(4)] + [os.urandom(5000 + i) for i in range(5)]
    files = []
    for i, blob in enumerate(blobs):
        files.append(folder / f"f{i:02d}.bin")
        files[-1].write_bytes(blob)
    store = HttpObjectStore(served.url, token=served.tokens["writer"], remember_files=False)
    sent: list[tuple[str, str, int]] = []
    store.client.http.event_hooks["response"].append(
        lambda response: sent.append(
            (response.request.method, response.request.url.path, response.status_code)
        )
    )
    try:
        assert store.put_many(files, workers=1) == [_digest(b) for b in blobs]
        assert store._batch_bytes == _http.BATCH_BYTES  # not believed again
        assert store.put_many([os.urandom(2 * MiB)], workers=1)
    finally:
        store.close()
    assert ("POST", f"{API}/batch", 413) in sent
    # then as to a server that said nothing: a 2 MiB object goes alone, with a PUT
    assert sent[-1][0::2] == ("PUT", 201)
    backing = LocalObjectStore(served.config.objects, fsync=False)
    assert all(backing.read_bytes(_digest(b)) == b for b in blobs)
