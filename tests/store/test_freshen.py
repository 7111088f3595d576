"""``ObjectStore.freshen``: loose objects and packs get a new time, absent ones are named."""

from __future__ import annotations

import os
import time
from pathlib import Path

import blake3

from keel.store.objects import LocalObjectStore

OLD = 1_000_000_000.0  # 2001: far past any grace period


def test_freshen_refreshes_loose_objects_and_packs_and_names_the_absent(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", fsync=False)
    loose = store.put(os.urandom(200_000))  # above the pack threshold: a file of its own
    small = store.put_many([os.urandom(100 + i) for i in range(40)])  # one pack
    assert not store.path(small[0]).exists()  # packed, no file of its own
    assert any(name.endswith(".idx") for name in os.listdir(tmp_path / "objects" / "packs"))
    os.utime(store.path(loose), (OLD, OLD))
    for name in os.listdir(tmp_path / "objects" / "packs"):
        os.utime(tmp_path / "objects" / "packs" / name, (OLD, OLD))
    assert store.modified(loose) == OLD
    assert store.modified(small[7]) == OLD

    absent = blake3.blake3(b"never stored").hexdigest()
    before = time.time() - 5
    assert store.freshen([small[7], absent, loose, small[3], absent]) == [absent]
    assert store.modified(loose) > before
    assert all(store.modified(d) > before for d in small)  # the whole pack: its index's time
    assert store.freshen([]) == []


def test_freshen_names_an_object_whose_copy_gc_removed(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", fsync=False)
    digest = store.put(os.urandom(200_000))
    os.utime(store.path(digest), (OLD, OLD))
    assert store.delete_if_older(digest, cutoff=time.time())
    assert store.freshen([digest]) == [digest]
