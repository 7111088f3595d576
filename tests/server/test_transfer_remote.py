"""Moving many objects through ``keel server``: small ones go up in batches (all or none
stored), pulls fetch on a thread pool and verify every object on arrival, and a pull never
writes outside its target folder whatever the stored manifest says."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import blake3
import httpx
import pytest

from keel.data import Manifest, ManifestEntry
from keel.data._materialise import write_files
from keel.errors import IntegrityError, InvalidInput
from keel.store.objects import HttpObjectStore, LocalObjectStore
from keel.store.objects._http_batch import BATCH_OBJECTS, frame, header
from tests._served import Served, serve_local

API = "/api/v1/objects"
PROJECT = "team"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_local(tmp_path / "server", ("writer", "reader"), project=PROJECT) as s:
        yield s


def _backing(served: Served) -> LocalObjectStore:
    return LocalObjectStore(served.config.objects, fsync=False)


def _digest(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _batch(served: Served, body: bytes, role: str = "writer") -> httpx.Response:
    return httpx.post(
        f"{served.url}{API}/batch",
        content=body,
        headers={**served.headers(role), "Content-Type": "application/octet-stream"},
    )


def test_a_batch_stores_every_object_once(served: Served) -> None:
    blobs = [os.urandom(100 + i) for i in range(5)]
    pairs = [(_digest(b), b) for b in [*blobs, blobs[1]]]  # a repeat is stored once
    answer = _batch(served, frame(pairs))
    assert answer.status_code == 201, answer.text
    assert answer.json()["stored"] == [{"digest": _digest(b), "size": len(b)} for b in blobs]
    backing = _backing(served)
    assert sorted(backing.digests()) == sorted(_digest(b) for b in blobs)
    assert all(backing.read_bytes(_digest(b)) == b for b in blobs)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (header("0" * 64, 3) + b"abc", "hash to"),  # bytes not matching their digest
        (b"not a header\nxyz", "not a '<digest> <size>' line"),
        (header(_digest(b"abc"), 10) + b"abc", "is cut off"),  # announces more than follows
        (header(_digest(b"abc"), 3) + b"abc" + header(_digest(b"de"), 2) + b"d", "is cut off"),
        (header(_digest(b"abc"), 3) + b"abcTRAILING", "line at byte"),
        (header(_digest(b"x"), 1) + b"x" + header(_digest(b"yz"), -2) + b"yz", "line"),
    ],
)
def test_a_bad_batch_stores_nothing_of_it(served: Served, body: bytes, words: str) -> None:
    good = [(_digest(b), b) for b in (b"first good", b"second good")]
    answer = _batch(served, frame(good) + body)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["message"]
    assert "Nothing of" in answer.json()["message"]
    assert list(_backing(served).digests()) == []  # not even the good objects before it
    assert _backing(served).stale_temporaries() == []


def test_batches_have_bounds_and_need_a_writer(served: Served) -> None:
    many = frame([(_digest(b), b) for b in (str(i).encode() for i in range(BATCH_OBJECTS + 1))])
    answer = _batch(served, many)
    assert answer.status_code == 422
    assert f"more than {BATCH_OBJECTS} objects" in answer.json()["message"]
    assert "is empty" in _batch(served, b"").json()["message"]
    small = frame([(_digest(b"r"), b"r")])
    assert _batch(served, small, role="reader").status_code == 403
    assert httpx.post(f"{served.url}{API}/batch", content=small).status_code == 401
    assert list(_backing(served).digests()) == []
    # local objects: a batch is written as it arrives, so it may be as large as an upload
    # (KEEL_MAX_UPLOAD_MB), not only a request (4 MiB); /missing says how large
    limit = served.config.max_upload_mb * 1024 * 1024
    asked = httpx.post(f"{served.url}{API}/missing", json=[], headers=served.headers("writer"))
    assert asked.headers["X-Keel-Batch-Bytes"] == str(limit)
    big = os.urandom(5 * 1024 * 1024)
    assert _batch(served, frame([(_digest(big), big)])).status_code == 201
    assert _backing(served).read_bytes(_digest(big)) == big
    url = urlsplit(served.url)
    with socket.create_connection((url.hostname, url.port)) as sock:  # over: refused unread
        sock.sendall(
            f"POST {API}/batch HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: {served.headers('writer')['Authorization']}\r\n"
            f"Content-Length: {limit + 1}\r\n\r\n".encode()
        )
        with sock.makefile("rb") as answer_stream:
            assert b" 413 " in answer_stream.readline()


def test_a_batch_cut_off_in_transit_stores_nothing_and_the_next_push_works(
    served: Served,
) -> None:
    pairs = [(_digest(b), b) for b in (os.urandom(2000), os.urandom(3000))]
    body = frame(pairs)
    url = urlsplit(served.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        head = (
            f"POST {API}/batch HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: {served.headers('writer')['Authorization']}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[: len(body) // 2])
    # the server notices the client left; nothing of the batch appears
    store = HttpObjectStore(served.url, token=served.tokens["writer"])
    try:
        assert sorted(store.missing(d for d, _ in pairs)) == sorted(d for d, _ in pairs)
        assert store.put_many([b for _, b in pairs]) == [d for d, _ in pairs]
    finally:
        store.close()
    assert sorted(_backing(served).digests()) == sorted(d for d, _ in pairs)


def test_a_push_of_many_small_files_takes_few_requests(served: Served, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):
        (folder / f"f{i:03d}.txt").write_bytes(f"file {i}\n".encode() * (i + 1))
    (folder / "big.bin").write_bytes(os.urandom(1024 * 1024 + 1))  # over the batch size
    with served.remote("writer") as client:
        sent: list[tuple[str, str]] = []
        objects = client.datasets.objects  # type: ignore[attr-defined]
        assert isinstance(objects, HttpObjectStore)
        objects.client.http.event_hooks["request"].append(
            lambda r: sent.append((r.method, r.url.path))
        )
        version = client.datasets.log(folder, "many")
    object_requests = [s for s in sent if s[1].startswith(API) and not s[1].endswith("missing")]
    assert ("POST", f"{API}/batch") in object_requests
    assert len(object_requests) <= 4  # 300 small files and a manifest: one batch; big alone
    with served.local() as local:
        written = local.datasets.get(version.ref, tmp_path / "back")
        assert len(written) == 301
        assert all((folder / p.name).read_bytes() == p.read_bytes() for p in written)


def test_a_pull_fetches_in_parallel_and_verifies_every_object(
    served: Served, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    same = os.urandom(5000)
    for i in range(40):
        (folder / f"f{i}.bin").write_bytes(os.urandom(1000 + i))
    (folder / "sub" / "copy1.bin").write_bytes(same)
    (folder / "sub" / "copy2.bin").write_bytes(same)  # the same bytes at two paths
    with served.remote("writer") as writer:
        version = writer.datasets.log(folder, "pulled")
    with served.remote("reader") as reader:
        sent: list[str] = []
        reader.datasets.objects.client.http.event_hooks["request"].append(  # type: ignore[attr-defined]
            lambda r: sent.append(r.method)
        )
        written = reader.datasets.get(version.ref, tmp_path / "out")
        assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == sorted(
            p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
        )
        for path in written:
            assert path.read_bytes() == (folder / path.relative_to(tmp_path / "out")).read_bytes()
        assert sent == ["POST"]  # 41 distinct small objects (two copies fetched once): one fetch
        # without sizes, one GET per distinct object on the thread pool
        sent.clear()
        manifest = reader.datasets.manifest(version.ref)
        jobs = [(e.digest, tmp_path / "direct" / e.path) for e in manifest.entries]
        reader.datasets.objects.get_many(jobs)  # type: ignore[attr-defined]
        assert sent.count("GET") == 41
        assert all(
            dest.read_bytes() == (folder / dest.relative_to(tmp_path / "direct")).read_bytes()
            for _, dest in jobs
        )

        # the server sends stored bytes as they are; the client refuses a corrupt object
        victim = _digest((folder / "f7.bin").read_bytes())
        path = _backing(served).path(victim)  # small objects sit in a pack: a loose copy
        path.parent.mkdir(parents=True, exist_ok=True)  # wins over the packed one on reads
        if path.exists():
            path.chmod(0o644)
        path.write_bytes(b"rotten")
        with pytest.raises(IntegrityError, match=victim):
            reader.datasets.get(version.ref, tmp_path / "second")
        assert not (tmp_path / "second").exists()  # all or nothing


def test_a_pull_never_writes_outside_its_folder(served: Served, tmp_path: Path) -> None:
    with served.remote("writer") as writer:
        good = writer.objects.put(b"inside")
        for bad in ("../escape.txt", "/abs.txt", "a\\b.txt", "C:evil.txt", "ok/../../x.txt"):
            manifest = Manifest("files", [ManifestEntry(bad, good, 6)])
            with pytest.raises(InvalidInput):
                write_files(manifest, writer.objects, tmp_path / "target" / "in")
    assert not (tmp_path / "target").exists()
    assert not (tmp_path / "escape.txt").exists()


def _old_files(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"f{i:02d}.bin"
        path.write_bytes(os.urandom(3000 + i))
        os.utime(path, ns=(time.time_ns() - 10**10,) * 2)  # outside the racy window


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every file the client reads to hash it, from now on."""
    from keel.store.objects import _http

    reads: list[object] = []
    real = _http._hash

    def counted(stream):  # type: ignore[no-untyped-def]
        reads.append(stream)
        return real(stream)

    monkeypatch.setattr(_http, "_hash", counted)
    return reads


def test_an_unchanged_re_push_reads_no_file(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "data"
    _old_files(folder, 30)
    reads = _counting_reads(monkeypatch)
    with served.remote("writer") as client:
        first = client.datasets.log(folder, "cached")
        assert len(reads) == 30
        reads.clear()
        assert client.datasets.log(folder, "cached").ref == first.ref  # nothing read
        assert reads == []
        # one file changes: only it is read, and the new version holds its new bytes
        changed = folder / "f05.bin"
        changed.write_bytes(b"new bytes")
        os.utime(changed, ns=(time.time_ns() - 5 * 10**9,) * 2)
        second = client.datasets.log(folder, "cached")
        assert len(reads) == 1
        assert second.ref != first.ref
    with served.remote("reader") as reader:
        back = reader.datasets.get(second.ref, tmp_path / "back")
        assert (tmp_path / "back" / "f05.bin").read_bytes() == b"new bytes"
        assert len(back) == 30


def test_a_file_changed_just_now_is_read_again(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"written a moment ago")
    # a time no push can be 100 ms past: the file may still change within its clock tick
    os.utime(folder / "a.txt", ns=(time.time_ns() + 3600 * 10**9,) * 2)
    reads = _counting_reads(monkeypatch)
    with served.remote("writer") as client:
        client.datasets.log(folder, "fresh")
        client.datasets.log(folder, "fresh")
    assert len(reads) == 2  # the cache does not trust a file that may still be changing


def test_a_cached_file_the_server_lost_is_sent_again(served: Served, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    _old_files(folder, 3)
    lost = blake3.blake3((folder / "f01.bin").read_bytes()).hexdigest()
    with served.remote("writer") as client:
        client.datasets.log(folder, "lost")
        _backing(served).delete(lost)
        client.datasets.log(folder, "lost")  # known unchanged, yet asked about: sent again
    assert _backing(served).read_bytes(lost) == (folder / "f01.bin").read_bytes()


def test_a_pull_of_small_files_asks_for_many_in_one_request(served: Served, tmp_path: Path) -> None:
    folder = tmp_path / "small"
    _old_files(folder, 120)
    (folder / "big.bin").write_bytes(os.urandom(1024 * 1024 + 5))  # over the batch size
    with served.remote("writer") as writer:
        version = writer.datasets.log(folder, "small")
    with served.remote("reader") as reader:
        sent: list[tuple[str, str]] = []
        reader.datasets.objects.client.http.event_hooks["request"].append(  # type: ignore[attr-defined]
            lambda r: sent.append((r.method, r.url.path))
        )
        written = reader.datasets.get(version.ref, tmp_path / "out")
    assert len(written) == 121
    for path in written:
        assert path.read_bytes() == (folder / path.name).read_bytes()
    object_requests = [s for s in sent if s[1].startswith(API)]
    assert object_requests.count(("POST", f"{API}/fetch")) == 1
    assert len(object_requests) == 2  # the small files in one answer, the big one alone


def test_fetch_answers_objects_as_stored_and_refuses_absent_ones(served: Served) -> None:
    blobs = [b"one", b"two two", b""]
    with served.remote("writer") as writer:
        digests = writer.objects.put_many(blobs)
    url, headers = f"{served.url}{API}/fetch", served.headers("reader")
    answer = httpx.post(url, json=[*digests, digests[0]], headers=headers)
    assert answer.status_code == 200
    assert answer.content == frame(list(zip(digests, blobs, strict=True)))  # a repeat once
    absent = "ab" * 32
    missing = httpx.post(url, json=[digests[0], absent], headers=headers)
    assert missing.status_code == 404
    assert absent in missing.json()["message"]
    assert httpx.post(url, json=["../etc"], headers=headers).status_code == 422
    assert httpx.post(url, json=[], headers=headers).status_code == 422
    assert (
        httpx.post(url, json=[digests[0]] * (BATCH_OBJECTS + 1), headers=headers).status_code == 422
    )
    assert httpx.post(url, json=[digests[0]]).status_code == 401


def test_a_corrupt_object_in_a_fetch_is_refused_and_not_written(
    served: Served, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    _old_files(folder, 10)
    with served.remote("writer") as writer:
        version = writer.datasets.log(folder, "rot")
    victim = _digest((folder / "f04.bin").read_bytes())
    path = _backing(served).path(victim)
    path.chmod(0o644)
    path.write_bytes(os.urandom(path.stat().st_size))  # same size, other bytes
    with served.remote("reader") as reader, pytest.raises(IntegrityError, match=victim):
        reader.datasets.get(version.ref, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("piece", [1, 7, 64, 100, 4096])
def test_a_fetch_answer_is_read_whatever_its_pieces(piece: int) -> None:
    from keel.errors import StoreUnavailable
    from keel.store.objects._http import _Frames

    blobs = [os.urandom(n) for n in (0, 5, 300, 10_000)]
    digests = [_digest(b) for b in blobs]
    body = frame(list(zip(digests, blobs, strict=True)))
    cut = [body[i : i + piece] for i in range(0, len(body), piece)]  # headers split anywhere
    frames = _Frames(iter(cut), "http://x")
    for digest, blob in zip(digests, blobs, strict=True):
        assert b"".join(frames.take(frames.header(digest))) == blob
    short = _Frames(iter(cut[:-1]), "http://x")  # the answer ends early
    for digest, blob in zip(digests[:-1], blobs[:-1], strict=True):
        assert b"".join(short.take(short.header(digest))) == blob
    last = short.take(short.header(digests[-1]))  # the cut is inside its bytes
    with pytest.raises(StoreUnavailable, match="ended before every object"):
        b"".join(last)
    with pytest.raises(StoreUnavailable, match=f"where object {'ab' * 32} was expected"):
        _Frames(iter(cut), "http://x").header("ab" * 32)


def test_a_fetch_answer_gathers_small_objects_and_splits_none(served: Served) -> None:
    blobs = [os.urandom(2_500_000), b"tiny", os.urandom(700_000), b"", os.urandom(400_000)]
    with served.remote("writer") as writer:
        digests = writer.objects.put_many(blobs)
    with httpx.stream(
        "POST", f"{served.url}{API}/fetch", json=digests, headers=served.headers("reader")
    ) as answer:
        assert answer.status_code == 200
        body = answer.read()
    assert body == frame(list(zip(digests, blobs, strict=True)))
