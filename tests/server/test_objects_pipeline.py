"""A push sends while it hashes: every PIPELINE_BYTES of newly hashed bytes, the client
asks the server which it lacks and sends those, each digest once across the whole push."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from keel.store.objects import HttpObjectStore, LocalObjectStore, _http
from tests._served import Served, serve_local

API = "/api/v1/objects"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_local(tmp_path / "server", ("writer",)) as s:
        yield s


def test_a_push_asks_and_sends_part_by_part_and_each_object_once(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_http, "PIPELINE_BYTES", 256 * 1024)
    blobs = [os.urandom(60_000 + i) for i in range(30)] + [os.urandom(2 * 1024 * 1024)]
    folder = tmp_path / "data"
    folder.mkdir()
    files = []
    for i, blob in enumerate(blobs):
        files.append(folder / f"f{i:02d}.bin")
        files[-1].write_bytes(blob)
    # the same bytes early and late in the push: one upload
    sources = [*files, blobs[0], files[5]]
    store = HttpObjectStore(served.url, token=served.tokens["writer"], remember_files=False)
    sent: list[tuple[str, str]] = []
    store.client.http.event_hooks["request"].append(
        lambda request: sent.append((request.method, request.url.path))
    )
    bodies: list[int] = []
    original = _http.HttpObjectStore._send_group
    monkeypatch.setattr(
        _http.HttpObjectStore,
        "_send_group",
        lambda self, group: (bodies.extend(len(i.read()) for i in group), original(self, group)),
    )
    try:
        digests = store.put_many(sources, workers=3)
    finally:
        store.close()
    expected = [blake3.blake3(b).hexdigest() for b in blobs]
    assert digests == [*expected, expected[0], expected[5]]
    assert sum(1 for m, p in sent if (m, p) == ("POST", f"{API}/missing")) >= 4  # part by part
    assert sorted(bodies) == sorted(len(b) for b in blobs)  # each object sent once
    backing = LocalObjectStore(served.config.objects, fsync=False)
    assert sorted(backing.digests()) == sorted(expected)
    for blob, digest in zip(blobs, expected, strict=True):
        assert backing.read_bytes(digest) == blob


def test_a_failed_send_fails_the_push_and_records_nothing(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_http, "PIPELINE_BYTES", 64 * 1024)
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(10):
        (folder / f"f{i}.bin").write_bytes(os.urandom(100_000 + i))
    files = sorted(folder.iterdir())
    store = HttpObjectStore(served.url, token=served.tokens["writer"])
    monkeypatch.setenv("KEEL_CACHE_DIR", str(tmp_path / "cache"))

    def broken(self: HttpObjectStore, group: list[object]) -> None:
        raise ConnectionResetError("the network went away")

    monkeypatch.setattr(_http.HttpObjectStore, "_send_group", broken)
    try:
        with pytest.raises(ConnectionResetError, match="went away"):
            store.put_many(files)
        monkeypatch.undo()
        monkeypatch.setenv("KEEL_CACHE_DIR", str(tmp_path / "cache"))
        # the stat cache did not record the failed push: the next one sends every file
        assert len(store.missing(blake3.blake3(f.read_bytes()).hexdigest() for f in files)) == 10
        store.put_many(files)
        assert store.missing(blake3.blake3(f.read_bytes()).hexdigest() for f in files) == []
    finally:
        store.close()
