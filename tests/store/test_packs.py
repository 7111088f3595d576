"""Packs: many small objects in few files, each object verified on read, found broken by
fsck and by every read, collected by gc, and safe when a writer crashes or two race."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from keel.errors import IntegrityError, InvalidInput, NotFound, ObjectNotFound
from keel.store import Store
from keel.store.fsck import fsck
from keel.store.gc import collect_objects
from keel.store.objects import LocalObjectStore, hash_bytes
from keel.store.objects._packs import PACK_MIN_OBJECTS, PACK_THRESHOLD, PACKS_DIR

HOUR = 3600.0


def _small(n: int, seed: str = "") -> list[bytes]:
    """``n`` distinct objects of 1-4 KiB."""
    return [f"{seed}{i}:".encode() + os.urandom(1024 + (i * 97) % 3072) for i in range(n)]


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _pack_files(objects: LocalObjectStore, suffix: str) -> list[Path]:
    return sorted((objects.root / PACKS_DIR).glob(f"*{suffix}"))


def _age_packs(objects: LocalObjectStore, seconds: float = 2 * HOUR) -> None:
    past = time.time() - seconds
    for index in _pack_files(objects, ".idx"):
        os.utime(index, (past, past))


def _tamper(path: Path, at: int, length: int = 1) -> None:
    """Flip every bit of ``length`` bytes at ``at``: always a change (writing a fixed byte
    over random data leaves it as it was one time in 256)."""
    path.chmod(0o644)
    with open(path, "r+b") as fh:
        fh.seek(at)
        original = fh.read(length)
        fh.seek(at)
        fh.write(bytes(b ^ 0xFF for b in original))


@pytest.mark.parametrize("fsync", [True, False])
def test_many_small_objects_go_into_few_files_and_read_back(tmp_path: Path, fsync: bool) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=fsync)
    sources: list = [tmp_path / f"f{i}.bin" for i in range(1500)]
    blobs = _small(len(sources))
    for path, blob in zip(sources, blobs, strict=True):
        path.write_bytes(blob)
    big = os.urandom(PACK_THRESHOLD + 1)
    digests = objects.put_many([*sources, big, blobs[0]], workers=4)

    assert digests[-1] == digests[0]  # the same bytes twice in a batch: one digest
    stored = _files(objects.root)
    # 1,500 small objects (about 3.7 MiB) in a couple of packs, the large one loose
    assert len(stored) <= 8, [str(p) for p in stored]
    assert objects.path(digests[-2]).is_file()
    assert not objects.path(digests[0]).exists()
    for digest, blob in zip(digests, [*blobs, big], strict=False):
        assert digest == hash_bytes(blob)
        assert objects.read_bytes(digest) == blob
        assert objects.size(digest) == len(blob)
        assert objects.exists(digest)
        assert objects.verify(digest)
    assert set(objects.digests()) == set(digests)
    assert objects.check_packs() == []
    assert objects.stale_temporaries() == []
    out = objects.get(digests[7], tmp_path / "out" / "seven.bin")
    assert out.read_bytes() == blobs[7]


def test_files_at_the_pack_threshold_edges_are_packed_or_kept_loose_by_size(
    tmp_path: Path,
) -> None:
    """Files are read straight from their descriptors when small: an empty file, one of
    exactly the threshold, one a byte over it, and a folder among the sources."""
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    blobs = [b"", os.urandom(PACK_THRESHOLD), os.urandom(PACK_THRESHOLD + 1), *_small(40)]
    paths = []
    for i, blob in enumerate(blobs):
        paths.append(tmp_path / f"f{i}.bin")
        paths[-1].write_bytes(blob)
    digests = objects.put_many(paths, workers=2)

    assert digests == [hash_bytes(b) for b in blobs]
    assert not objects.path(digests[0]).exists()  # packed
    assert not objects.path(digests[1]).exists()  # packed: at the threshold
    assert objects.path(digests[2]).is_file()  # a byte over: loose
    for digest, blob in zip(digests, blobs, strict=True):
        assert objects.read_bytes(digest) == blob
        assert objects.size(digest) == len(blob)
    assert objects.sizes(digests) == [len(b) for b in blobs]
    with pytest.raises(ObjectNotFound):
        objects.sizes([digests[0], hash_bytes(b"never stored")])
    (tmp_path / "folder").mkdir()
    with pytest.raises(InvalidInput, match="it is a folder"):
        objects.put_many([*paths[:3], tmp_path / "folder"], workers=2)
    with pytest.raises(NotFound, match="no such file"):
        objects.put_many([*paths[:3], tmp_path / "absent.bin"], workers=2)
    assert objects.stale_temporaries() == []


def test_a_batch_of_packed_objects_flushes_the_filesystem_once_and_its_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packs are made durable by flushes of their folder, so a batch that wrote only packs
    needs one ``syncfs`` (for the bytes), a batch with a loose object two, and a batch
    of objects already stored none; each flush is the real one, counted on its way."""
    import keel.store.objects._local as local

    calls: list[str] = []
    for name in ("syncfs", "fsync_dir"):
        real = getattr(local, name)
        monkeypatch.setattr(
            local, name, lambda path, real=real, name=name: (calls.append(name), real(path))
        )
    objects = LocalObjectStore(tmp_path / "objects", fsync=True)
    blobs = _small(PACK_MIN_OBJECTS)
    objects.put_many(blobs, workers=2)
    # the bytes; the new packs folder's name in the store; the packs; then their indexes
    assert calls == ["syncfs", "fsync_dir", "fsync_dir", "fsync_dir"]
    assert objects.check_packs() == []

    calls.clear()
    objects.put_many(blobs, workers=2)
    assert calls == []  # nothing written

    calls.clear()
    objects.put_many([*_small(PACK_MIN_OBJECTS, "b"), os.urandom(PACK_THRESHOLD + 1)], workers=2)
    assert calls == ["syncfs", "fsync_dir", "fsync_dir", "syncfs"]


def test_a_batch_with_few_small_objects_writes_them_loose(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    digests = objects.put_many(_small(PACK_MIN_OBJECTS - 1))
    assert all(objects.path(d).is_file() for d in digests)
    assert not (objects.root / PACKS_DIR).exists()


def test_putting_packed_objects_again_writes_no_new_pack_and_refreshes_their_time(
    tmp_path: Path,
) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    blobs = _small(200)
    digests = objects.put_many(blobs)
    _age_packs(objects)
    before = _pack_files(objects, ".pack")
    assert objects.modified(digests[0]) < time.time() - HOUR
    again = LocalObjectStore(objects.root, fsync=False)  # another process, say
    assert again.put_many(blobs) == digests
    assert _pack_files(objects, ".pack") == before
    assert objects.modified(digests[0]) > time.time() - 60  # gc's grace starts again


def test_a_corrupt_pack_is_found_by_every_read_by_fsck_and_repaired_by_a_new_put(
    store: Store,
) -> None:
    objects = store.objects
    assert isinstance(objects, LocalObjectStore)
    blobs = _small(100)
    digests = objects.put_many(blobs)
    (pack,) = _pack_files(objects, ".pack")
    entry = objects._packs.get(digests[5])
    assert entry is not None
    _tamper(pack, entry.offset + 10)

    with pytest.raises(IntegrityError, match=f"{digests[5]}.*pack {pack.stem}"):
        objects.read_bytes(digests[5])
    assert objects.read_bytes(digests[6]) == blobs[6]  # its neighbours are intact
    assert not objects.verify(digests[5])
    report = fsck(store)
    assert not report.ok
    assert report.corrupt == [digests[5]]
    assert [p["object"] for p in report.problems] == [pack.stem]
    assert "corrupt" in report.problems[0]["detail"]

    assert objects.put(blobs[5]) == digests[5]  # the good bytes again: a loose copy
    assert objects.read_bytes(digests[5]) == blobs[5]


def test_a_truncated_pack_is_named_by_reads_and_fsck(store: Store) -> None:
    objects = store.objects
    assert isinstance(objects, LocalObjectStore)
    blobs = _small(64)
    digests = objects.put_many(blobs)
    (pack,) = _pack_files(objects, ".pack")
    last = max(digests, key=lambda d: objects._packs.get(d).offset)  # type: ignore[union-attr]
    pack.chmod(0o644)
    os.truncate(pack, pack.stat().st_size - 100)

    with pytest.raises(IntegrityError, match=f"pack {pack.stem} is truncated"):
        objects.read_bytes(last)
    report = fsck(store)
    assert last in report.corrupt
    assert report.problems
    assert report.problems[0]["object"] == pack.stem
    assert "truncated" in report.problems[0]["detail"]


def test_a_corrupt_index_hides_its_pack_and_fsck_names_it(store: Store) -> None:
    objects = store.objects
    assert isinstance(objects, LocalObjectStore)
    digests = objects.put_many(_small(40))
    (index,) = _pack_files(objects, ".idx")
    _tamper(index, 20, 2)
    fresh = LocalObjectStore(objects.root)  # a process that reads the index now
    with pytest.raises(ObjectNotFound):
        fresh.read_bytes(digests[0])
    (problem,) = fresh.check_packs()
    assert problem["object"] == index.stem
    assert "index" in problem["detail"]
    assert "corrupt" in problem["detail"]


def test_gc_rewrites_a_pack_without_its_unreferenced_objects_and_drops_empty_ones(
    store: Store,
) -> None:
    objects = store.objects
    assert isinstance(objects, LocalObjectStore)
    first = _small(100, "a")
    second = _small(50, "b")
    keep_digests = objects.put_many(first)
    drop_digests = objects.put_many(second)  # a pack of its own, all unreferenced
    _age_packs(objects)
    young = objects.put_many(_small(40, "c"))  # unreferenced but within the grace period
    keep = set(keep_digests[::2])

    def references(_store: Store, digests: list[str], conn: object = None) -> dict:
        return {d: ["test"] for d in digests if d in keep}

    report = collect_objects(store, references=references, grace=HOUR)
    removed = {item["digest"] for item in report.removed}
    assert removed == (set(keep_digests) - keep) | set(drop_digests)
    assert report.kept_recent == len(young)
    for digest in removed:
        assert not objects.exists(digest)
        with pytest.raises(ObjectNotFound):
            objects.read_bytes(digest)
    for digest, blob in zip(keep_digests, first, strict=True):
        if digest in keep:
            assert objects.read_bytes(digest) == blob
    assert all(objects.verify(d) for d in young)
    # the rewritten pack and the young one, both small, merged into one
    assert report.packs_merged == 2
    assert len(_pack_files(objects, ".pack")) == 1
    assert objects.check_packs() == []
    assert fsck(store).problems == []


def test_deleting_a_packed_object_removes_its_bytes_and_keeps_the_others(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    blobs = _small(40)
    digests = objects.put_many(blobs)
    secret = blobs[3]
    assert objects.delete(digests[3])
    assert not objects.exists(digests[3])
    assert not any(secret in p.read_bytes() for p in _files(objects.root))
    assert [objects.read_bytes(d) for d in digests[4:]] == blobs[4:]
    assert not objects.delete(digests[3])


def test_a_writer_killed_mid_pack_leaves_the_store_readable(store: Store, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    objects = store.objects
    assert isinstance(objects, LocalObjectStore)
    before = _small(300, "before")
    digests = objects.put_many(before)
    script = (
        "import os, sys\n"
        "from keel.store.objects import LocalObjectStore\n"
        "objects = LocalObjectStore(sys.argv[1], fsync=True)\n"
        "for round in range(1000):\n"
        "    objects.put_many([os.urandom(2000) for _ in range(20000)])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen([sys.executable, "-c", script, str(objects.root)], env=env)
    try:
        staging = objects.root / "tmp"
        deadline = time.monotonic() + 120
        while not list(staging.glob("*.pack.part")):  # a pack is being written
            assert writer.poll() is None, "the writer ended before writing a pack"
            assert time.monotonic() < deadline, "no pack was written in two minutes"
            time.sleep(0.001)
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()

    fresh = LocalObjectStore(objects.root)
    for digest, blob in zip(digests, before, strict=True):
        assert fresh.read_bytes(digest) == blob
    assert fresh.check_packs() == []
    report = fsck(store)
    assert report.ok, report.to_dict()
    assert report.corrupt == []
    assert report.missing == {}
    assert report.stale_temporaries >= 1  # what the writer left, for gc to take


def _put_same(root: str, seed: int) -> list[str]:
    import random

    rng = random.Random(7)
    blobs = [rng.randbytes(1000 + i) for i in range(600)]
    random.Random(seed).shuffle(blobs)
    objects = LocalObjectStore(root, fsync=False)
    return sorted(objects.put_many(blobs))


def test_concurrent_writers_of_the_same_small_objects(tmp_path: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor

    root = str(tmp_path / "objects")
    with ProcessPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(_put_same, [root] * 3, [1, 2, 3]))
    assert results[0] == results[1] == results[2]
    objects = LocalObjectStore(root)
    for digest in results[0]:
        assert objects.verify(digest)
    assert set(objects.digests()) == set(results[0])
    assert objects.check_packs() == []
    assert objects.stale_temporaries() == []


def test_a_pack_left_without_its_index_is_a_partial_write_that_gc_removes(store: Store) -> None:
    from keel.store.gc import gc

    objects = store.objects
    assert isinstance(objects, LocalObjectStore)
    blobs = _small(50)
    digests = objects.put_many(blobs)
    (pack,) = _pack_files(objects, ".pack")
    orphan = pack.with_name("0" * 64 + ".pack")  # as a writer killed between its renames
    orphan.write_bytes(pack.read_bytes())
    assert objects.stale_temporaries() == [orphan]
    assert fsck(store).stale_temporaries == 1
    report = gc(store, older_than=0)
    assert report.removed
    assert not orphan.exists()
    assert pack.exists()
    assert [objects.read_bytes(d) for d in digests] == blobs


def test_a_pack_written_by_another_process_is_seen_after_a_settled_listing(
    tmp_path: Path,
) -> None:
    reader = LocalObjectStore(tmp_path / "objects", fsync=False)
    first = reader.put_many(_small(40, "first"))
    folder = reader.root / PACKS_DIR
    past = time.time() - HOUR
    os.utime(folder, (past, past))  # settled long before the listing below
    absent = hash_bytes(b"never stored")
    assert not reader.exists(absent)  # lists the folder
    assert not reader.exists(absent)  # a stat only: unchanged since
    writer = LocalObjectStore(reader.root, fsync=False)
    second = writer.put_many(_small(40, "second"))
    assert all(reader.exists(d) for d in first + second)
    assert reader.read_bytes(second[3]) == writer.read_bytes(second[3])


def test_putting_one_packed_object_again_writes_no_loose_copy(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    blobs = _small(40)
    digests = objects.put_many(blobs)
    _age_packs(objects)
    assert objects.put(blobs[1]) == digests[1]
    assert not objects.path(digests[1]).exists()
    assert objects.modified(digests[1]) > time.time() - 60  # its pack's time, refreshed


def test_gc_merges_small_packs_and_every_object_stays_readable(store: Store) -> None:
    objects = store.objects
    assert isinstance(objects, LocalObjectStore)
    batches = [_small(40, f"add{n}") for n in range(5)]  # five small adds, five small packs
    digests = [objects.put_many(blobs) for blobs in batches]
    assert len(_pack_files(objects, ".pack")) == 5
    everything = {d for batch in digests for d in batch}

    def references(_store: Store, wanted: list[str], conn: object = None) -> dict:
        return {d: ["test"] for d in wanted if d in everything}

    _age_packs(objects)
    report = collect_objects(store, references=references, grace=HOUR)
    assert report.removed == []
    assert report.packs_merged == 5
    assert len(_pack_files(objects, ".pack")) == 1
    for batch, blobs in zip(digests, batches, strict=True):
        assert [objects.read_bytes(d) for d in batch] == blobs
    assert fsck(store).ok
    assert objects.repack() == 0  # one pack left: nothing to merge


def test_a_damaged_small_pack_is_not_merged(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    for n in range(3):
        objects.put_many(_small(40, f"add{n}"))
    damaged = _pack_files(objects, ".pack")[0]
    _tamper(damaged, 100)
    assert objects.repack() == 2
    assert damaged in _pack_files(objects, ".pack")
    assert [p["object"] for p in objects.check_packs()] == [damaged.stem]


def test_a_missing_pack_is_named_by_reads_and_fsck(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    digests = objects.put_many(_small(40))
    (pack,) = _pack_files(objects, ".pack")
    pack.unlink()
    with pytest.raises(IntegrityError, match=f"pack {pack.stem} is missing"):
        objects.read_bytes(digests[0])
    assert not objects.verify(digests[0])
    (problem,) = objects.check_packs()
    assert problem["object"] == pack.stem
    assert "missing" in problem["detail"]


def test_a_gc_killed_while_merging_packs_leaves_every_object_readable(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    objects = LocalObjectStore(tmp_path / "objects")
    before = [_small(40, f"before{n}") for n in range(4)]
    digests = [objects.put_many(blobs) for blobs in before]
    script = (
        "import os, sys\n"
        "from keel.store.objects import LocalObjectStore\n"
        "objects = LocalObjectStore(sys.argv[1], fsync=True)\n"
        "for round in range(100000):\n"
        "    for n in range(4):\n"
        "        objects.put_many([os.urandom(1500) for _ in range(40)])\n"
        "    objects.repack()\n"
        "    print(round, flush=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    merger = subprocess.Popen(
        [sys.executable, "-c", script, str(objects.root)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert merger.stdout is not None
        for _ in range(3):  # a few merges done, the next one under way
            assert merger.stdout.readline(), "the merging process ended early"
        staging = objects.root / "tmp"
        deadline = time.monotonic() + 60
        while not list(staging.glob("*.part")) and time.monotonic() < deadline:
            time.sleep(0.0005)  # kill while a pack or a moved-aside index is in flight
        merger.send_signal(signal.SIGKILL)
    finally:
        merger.kill()
        merger.wait()
        if merger.stdout is not None:
            merger.stdout.close()

    fresh = LocalObjectStore(objects.root)
    for batch, blobs in zip(digests, before, strict=True):
        assert [fresh.read_bytes(d) for d in batch] == blobs
    assert fresh.check_packs() == []
    assert all(fresh.verify(d) for d in fresh.digests())


def test_a_few_packed_objects_put_again_are_found_in_the_raw_indexes_not_copied(
    tmp_path: Path,
) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    blobs = _small(200)
    digests = objects.put_many(blobs)
    _age_packs(objects)
    before = sorted(p.name for p in _files(objects.root))
    again = LocalObjectStore(objects.root, fsync=False)  # its indexes not loaded
    few = [blobs[3], blobs[150], b"new:" + os.urandom(2000)]
    stored = again.put_many(few)
    assert stored[:2] == [digests[3], digests[150]]
    assert not again.path(digests[3]).exists()  # found packed: no loose copy
    assert again.path(stored[2]).is_file()  # the new one, too few to pack, is loose
    assert sorted(p.name for p in _files(objects.root)) == sorted([*before, stored[2][2:]])
    assert again.modified(digests[3]) > time.time() - 60  # its pack's time, refreshed
    assert again.sizes(stored) == [len(b) for b in few]


def test_raw_index_lookup_answers_only_digests_at_an_entry(tmp_path: Path) -> None:
    from keel.store.objects._packs import in_tables, index_tables

    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    digests = objects.put_many(_small(50))
    tables = index_tables(str(objects.root / PACKS_DIR))
    assert len(tables) == 1
    assert all(in_tables(tables, d) for d in digests)
    assert not in_tables(tables, hash_bytes(b"absent"))
    # bytes of a stored digest that straddle two entries are not an entry
    straddling = tables[0][20:52].hex()
    assert not in_tables(tables, straddling)
    assert index_tables(str(tmp_path / "nowhere")) == []


def test_a_small_object_already_stored_loose_is_not_packed_again(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    blobs = _small(100)
    loose = objects.put(blobs[7])  # alone: a loose object, in its fan-out folder
    digests = objects.put_many(blobs)
    assert digests[7] == loose
    assert objects.path(loose).is_file()
    packed = [e for entries in objects._packs.packs().values() for e, _, _ in entries]
    assert loose not in packed
    assert len(packed) == 99
