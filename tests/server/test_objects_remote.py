"""Objects through a keel server: pushes send only what is missing, every upload is
checked against its digest before it is stored, and refused or cut-off uploads leave
nothing behind. Real servers on 127.0.0.1 over SQLite and PostgreSQL metadata."""

from __future__ import annotations

import io
import os
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import blake3
import httpx
import pytest

import keel
from keel.config import Config, resolve
from keel.errors import (
    InvalidInput,
    ObjectNotFound,
    PermissionDenied,
    Unauthenticated,
)
from keel.server import TokenService
from keel.store import Store, init_project
from keel.store.objects import HttpObjectStore, LocalObjectStore
from tests.conftest import live_server

API = "/api/v1/objects"
MiB = 1024 * 1024


@dataclass
class Server:
    url: str
    tokens: dict[str, str]
    """Secrets by name: reader, writer, admin, and scoped-admin (limited to project 'a')."""
    backing: LocalObjectStore
    """The server's own object store, looked at behind its back."""

    def store(self, token: str | None = "writer") -> HttpObjectStore:
        return HttpObjectStore(self.url, token=self.tokens[token] if token else None)

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[token]}"}

    def assert_alive(self) -> None:
        assert httpx.get(f"{self.url}/api/v1/health").json()["status"] == "ok"


def _serve(tmp_path: Path, uri: str, max_upload_mb: int) -> Iterator[Server]:
    config: Config = resolve(
        uri=uri, objects=str(tmp_path / "objects"), fsync=False, max_upload_mb=max_upload_mb
    )
    init_project(tmp_path, config).close()
    with Store.open(config) as store:
        service = TokenService(store)
        tokens = {role: service.create(f"{role}-t", role)[1] for role in ("reader", "writer")}
        tokens["admin"] = service.create("admin-t", "admin")[1]
        tokens["scoped-admin"] = service.create("scoped-t", "admin", projects=["a"])[1]
    with live_server(config, auth=True) as url:
        yield Server(url, tokens, LocalObjectStore(config.objects, fsync=False))


@pytest.fixture
def server(store_uri: str, tmp_path: Path) -> Iterator[Server]:
    """A server requiring tokens, on each metadata backend, taking uploads up to 80 MiB."""
    yield from _serve(tmp_path, store_uri, max_upload_mb=80)


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[Server]:
    """A server taking uploads of at most 1 MiB (SQLite metadata)."""
    yield from _serve(tmp_path, f"sqlite:///{tmp_path / 'keel.db'}", max_upload_mb=1)


def _digest(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _counting(store: HttpObjectStore) -> list[tuple[str, str]]:
    """Every request the store's client sends from now on, as (method, path)."""
    sent: list[tuple[str, str]] = []
    store.client.http.event_hooks["request"].append(
        lambda request: sent.append((request.method, request.url.path))
    )
    return sent


def test_small_and_multi_mb_objects_round_trip(server: Server, tmp_path: Path) -> None:
    small, big, streamed = b"tiny", os.urandom(5 * MiB + 17), os.urandom(3 * MiB)
    file = tmp_path / "weights.bin"
    file.write_bytes(big)
    writer, reader = server.store("writer"), server.store("reader")
    try:
        digests = [writer.put(small), writer.put(file), writer.put(io.BytesIO(streamed))]
        assert digests == [_digest(small), _digest(big), _digest(streamed)]
        assert reader.read_bytes(digests[0]) == small
        assert reader.get(digests[1], tmp_path / "out" / "w.bin").read_bytes() == big
        with reader.open(digests[2]) as fh:
            assert fh.read() == streamed
        assert [reader.size(d) for d in digests] == [len(small), len(big), len(streamed)]
        assert all(reader.exists(d) and reader.verify(d) for d in digests)
        # on the server's disk, under their digests, intact
        assert sorted(server.backing.digests()) == sorted(digests)
        assert all(server.backing.verify(d) for d in digests)
    finally:
        writer.close()
        reader.close()
    server.assert_alive()


def test_pushing_the_same_bytes_again_sends_nothing(server: Server) -> None:
    blobs = [os.urandom(1000 + i) for i in range(5)]
    store = server.store()
    sent = _counting(store)
    try:
        digests = store.put_many([*blobs, blobs[0]])  # a duplicate within a batch: sent once
        # one question for the whole push, then the five small objects in one request
        assert sent == [("POST", f"{API}/missing"), ("POST", f"{API}/batch")]
        assert sorted(server.backing.digests()) == sorted(set(digests))

        sent.clear()
        assert store.put_many(blobs) == digests[:5]
        assert store.put(blobs[2]) == digests[2]
        assert [m for m, _ in sent] == ["POST", "POST"]  # asked, and nothing sent
        assert store.missing(digests) == []

        sent.clear()
        new = os.urandom(2000)
        store.put_many([*blobs[:3], new])
        assert [p for m, p in sent if m == "PUT"] == [f"{API}/{_digest(new)}"]
    finally:
        store.close()
    assert len(list(server.backing.digests())) == 6


def test_body_not_matching_its_digest_is_refused_and_stores_nothing(server: Server) -> None:
    claimed = _digest(b"the real object")
    answer = httpx.put(
        f"{server.url}{API}/{claimed}", content=b"something else", headers=server.headers("writer")
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "InvalidInput"
    assert claimed in body["message"]
    assert _digest(b"something else") in body["message"]
    assert list(server.backing.digests()) == []
    assert server.backing.stale_temporaries() == []

    malformed = httpx.put(
        f"{server.url}{API}/..%2f..%2fetc", content=b"x", headers=server.headers("writer")
    )
    assert malformed.status_code in (404, 422)
    assert list(server.backing.digests()) == []
    server.assert_alive()


def _cut_off_upload(server: Server, digest: str, data: bytes) -> None:
    """Announce ``data`` with its full Content-Length, send half of it, hang up."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        head = (
            f"PUT {API}/{digest} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: Bearer {server.tokens['writer']}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[: len(data) // 2])


def test_cut_off_upload_stores_nothing_and_the_next_push_works(server: Server) -> None:
    data = os.urandom(2 * MiB)
    digest = _digest(data)
    _cut_off_upload(server, digest, data)
    server.assert_alive()
    store = server.store()
    try:
        assert store.missing([digest]) == [digest]  # nothing of the half upload is visible
        sent = _counting(store)
        assert store.put(data) == digest
        assert ("PUT", f"{API}/{digest}") in sent  # not skipped as if it were already there
        assert store.read_bytes(digest) == data
    finally:
        store.close()
    assert list(server.backing.digests()) == [digest]
    assert server.backing.verify(digest)
    assert server.backing.stale_temporaries() == []
    server.assert_alive()


def test_readers_cannot_push_and_anonymous_callers_get_401(server: Server) -> None:
    data = b"guarded"
    digest = _digest(data)
    reader = server.store("reader")
    anonymous = server.store(None)
    try:
        with pytest.raises(PermissionDenied, match="needs 'writer'"):
            reader.put(data)
        raw = httpx.put(
            f"{server.url}{API}/{digest}", content=data, headers=server.headers("reader")
        )
        assert raw.status_code == 403
        with pytest.raises(Unauthenticated, match="requires a token"):
            anonymous.put(data)
        for method, path in [("PUT", digest), ("GET", digest), ("POST", "missing")]:
            answer = httpx.request(method, f"{server.url}{API}/{path}", json=[digest])
            assert answer.status_code == 401, (method, path)
        assert list(server.backing.digests()) == []

        writer = server.store("writer")
        writer.put(data)
        writer.close()
        assert reader.read_bytes(digest) == data  # what readers are for
        with pytest.raises(Unauthenticated):
            anonymous.read_bytes(digest)
    finally:
        reader.close()
        anonymous.close()
    server.assert_alive()


def test_listing_and_deleting_need_an_admin_of_every_project(server: Server) -> None:
    writer, admin, scoped = server.store(), server.store("admin"), server.store("scoped-admin")
    try:
        digest = writer.put(b"shared by every project")
        with pytest.raises(PermissionDenied):
            writer.delete(digest)
        with pytest.raises(PermissionDenied, match="limited to the project"):
            list(scoped.digests())
        with pytest.raises(PermissionDenied, match="limited to the project"):
            scoped.delete(digest)
        assert server.backing.exists(digest)
        assert list(admin.digests()) == [digest]
        assert admin.delete(digest) is True
        assert not server.backing.exists(digest)
    finally:
        for store in (writer, admin, scoped):
            store.close()


def test_absent_object_is_404_naming_its_digest(server: Server) -> None:
    digest = _digest(b"never pushed")
    answer = httpx.get(f"{server.url}{API}/{digest}", headers=server.headers("reader"))
    assert answer.status_code == 404
    assert answer.json()["error"] == "ObjectNotFound"
    assert digest in answer.json()["message"]
    assert str(server.backing.root) not in answer.json()["message"]  # no server paths
    head = httpx.head(f"{server.url}{API}/{digest}", headers=server.headers("reader"))
    assert head.status_code == 404
    reader = server.store("reader")
    try:
        with pytest.raises(ObjectNotFound, match=digest):
            reader.open(digest)
        assert reader.exists(digest) is False
    finally:
        reader.close()
    server.assert_alive()


def test_sixteen_clients_pushing_overlapping_sets_lose_nothing(server: Server) -> None:
    blobs = [os.urandom(500 + 7919 * i) for i in range(40)]
    # client k pushes blobs k .. k+11 (wrapping), so every blob is pushed by several clients
    sets = [[blobs[(k * 3 + j) % len(blobs)] for j in range(12)] for k in range(16)]
    results: list[list[str]] = [[] for _ in sets]
    errors: list[BaseException] = []
    start = threading.Barrier(len(sets))

    def push(k: int) -> None:
        store = server.store()
        try:
            start.wait()
            results[k] = store.put_many(sets[k], workers=2)
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=push, args=(k,)) for k in range(len(sets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for pushed, digests in zip(sets, results, strict=True):
        assert digests == [_digest(b) for b in pushed]
    expected = {_digest(b) for s in sets for b in s}
    stored = list(server.backing.digests())
    assert len(stored) == len(set(stored)) == len(expected)  # each once
    assert set(stored) == expected
    assert all(server.backing.verify(d) for d in stored)
    assert server.backing.stale_temporaries() == []
    server.assert_alive()


def test_missing_takes_a_bounded_list_of_well_formed_digests(server: Server) -> None:
    url, headers = f"{server.url}{API}/missing", server.headers("writer")
    too_many = [_digest(b"x")] * 10_001
    answer = httpx.post(url, json=too_many, headers=headers)
    assert answer.status_code == 422
    bad = httpx.post(url, json=[_digest(b"x"), "../" + "a" * 5000], headers=headers)
    assert bad.status_code == 422
    assert "is not an object digest" in bad.json()["message"]
    assert len(bad.json()["message"]) < 500  # the bad value is quoted, truncated
    store = server.store()
    try:
        with pytest.raises(InvalidInput, match="is not an object digest"):
            store.missing(["nope"])
    finally:
        store.close()
    server.assert_alive()


def test_uploads_over_the_limit_are_refused_with_413(small_server: Server) -> None:
    digest = _digest(b"whatever")
    address = urlsplit(small_server.url)
    # a declared length over the limit is refused before any of the body is sent
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(
            f"PUT {API}/{digest} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: Bearer {small_server.tokens['writer']}\r\n"
            f"Content-Length: {2 * MiB}\r\n\r\n".encode()
        )
        with sock.makefile("rb") as answer_stream:
            status_line = answer_stream.readline()
    assert b" 413 " in status_line
    # a chunked body (no length announced) is refused once it goes over
    data = os.urandom(2 * MiB)
    answer = httpx.put(
        f"{small_server.url}{API}/{_digest(data)}",
        content=iter([data[:MiB], data[MiB:]]),
        headers=small_server.headers("writer"),
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "PayloadTooLarge"
    assert list(small_server.backing.digests()) == []
    small_server.assert_alive()


def test_a_large_push_and_pull_use_bounded_memory(server: Server, tmp_path: Path) -> None:
    """The client and the server (one process here) hold chunks, never the whole object."""
    size = 64 * MiB
    file = tmp_path / "large.bin"
    with open(file, "wb") as out:
        for _ in range(size // MiB):
            out.write(os.urandom(MiB))
    store = server.store()
    try:
        tracemalloc.start()
        digest = store.put(file)
        store.get(digest, tmp_path / "back.bin")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        store.close()
    assert server.backing.size(digest) == size
    assert peak < 32 * MiB, f"peak {peak / MiB:.1f} MiB moving a {size // MiB} MiB object"


def test_client_objects_picks_the_transport(server: Server, tmp_path: Path) -> None:
    with keel.Client(server.url, token=server.tokens["writer"]) as client:
        assert isinstance(client.objects, HttpObjectStore)
        digest = client.objects.put(b"through the client")
    assert server.backing.read_bytes(digest) == b"through the client"
    config = resolve(uri=f"sqlite:///{tmp_path / 'l.db'}", objects=str(tmp_path / "lobj"))
    init_project(tmp_path / "local", config).close()
    with keel.Client(config=config) as local:
        assert local.objects is local.store.objects


def test_asking_what_is_missing_refreshes_what_the_server_has(server: Server) -> None:
    """A client told 'the server has it' goes on to reference the object: the answer counts
    as writing it again, so a gc on the server keeps it through its grace period."""
    blobs = [os.urandom(3000 + i) for i in range(3)]
    store = server.store()
    try:
        digests = store.put_many(blobs)
        old = 1_000_000_000.0  # 2001: far past any grace period
        for digest in digests:
            os.utime(server.backing.path(digest), (old, old))
        absent = _digest(b"never stored")
        assert store.freshen([*digests, absent, digests[0]]) == [absent]
        assert all(server.backing.modified(d) > old + 1e8 for d in digests)
    finally:
        store.close()
