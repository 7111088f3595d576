"""Pack files: many small objects in one content-addressed file, found through an index.

A pack ``packs/<name>.pack`` is a header followed by its objects' bytes, back to back;
``<name>`` is the blake3 digest of the whole pack. Its index ``packs/<name>.idx`` lists
each object's digest, offset and length, sorted by digest, and ends with the pack's name
and a blake3 checksum of the index itself. Every object in a pack is still verified
against its own digest when it is read.

The index is the commit point: a pack becomes visible when its index is renamed into
place, after the pack itself, so a crash while writing leaves at most a pack nobody
can see (reclaimed by ``keel gc`` like any other partial write).
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple

import blake3

from ._hashing import hash_bytes

__all__ = [
    "PACKS_DIR",
    "PACK_MAX_BYTES",
    "PACK_MAX_OBJECTS",
    "PACK_MIN_OBJECTS",
    "PACK_THRESHOLD",
    "BrokenPack",
    "PackIndex",
    "encode_pack",
    "in_tables",
    "index_tables",
]

PACKS_DIR = "packs"
PACK_THRESHOLD = 64 * 1024
"""Objects up to this many bytes, put in a batch, go into packs; larger ones stay loose."""
PACK_MIN_OBJECTS = 32
"""A batch with fewer small objects than this writes them loose: a pack pays off for many."""
PACK_MAX_BYTES = 2 * 1024 * 1024
PACK_MAX_OBJECTS = 4096

PACK_MAGIC = b"KEELPACK1\n"
INDEX_MAGIC = b"KEELIDX1"
_HEADER = struct.Struct(">8sI")  # magic, number of entries
_ENTRY = struct.Struct(">32sQI")  # object digest, offset in the pack, length
_TRAILER = 64  # the pack's digest, then the blake3 of everything before it
_SETTLED_NS = 2_000_000_000  # a folder unchanged this long before a listing is settled


class BrokenPack(Exception):
    """A pack or index that cannot be trusted: truncated, corrupt or missing its pack."""


class Entry(NamedTuple):
    """Where one object lies in a pack (a tuple: 100,000 of them are made in a blink)."""

    pack: str
    offset: int
    length: int


def encode_pack(objects: list[tuple[str, bytes]]) -> tuple[str, bytes, bytes]:
    """Pack ``(digest, bytes)`` pairs: the pack's name, its bytes and its index's bytes."""
    parts = [PACK_MAGIC]
    entries = []
    offset = len(PACK_MAGIC)
    for digest, data in objects:
        parts.append(data)
        entries.append((bytes.fromhex(digest), offset, len(data)))
        offset += len(data)
    pack = b"".join(parts)
    name = hash_bytes(pack)
    entries.sort()
    body = b"".join(
        [_HEADER.pack(INDEX_MAGIC, len(entries))]
        + [_ENTRY.pack(*e) for e in entries]
        + [bytes.fromhex(name)]
    )
    return name, pack, body + blake3.blake3(body).digest()


def decode_index(data: bytes, name: str) -> list[tuple[str, int, int]]:
    """The ``(digest, offset, length)`` entries of the index of pack ``name``.

    Raises:
        BrokenPack: the index is truncated, corrupt, or belongs to another pack.
    """
    if len(data) < _HEADER.size + _TRAILER:
        raise BrokenPack(f"index of pack {name} is truncated ({len(data)} bytes)")
    body, checksum = data[:-32], data[-32:]
    if blake3.blake3(body).digest() != checksum:
        raise BrokenPack(f"index of pack {name} is corrupt (its checksum does not match)")
    magic, count = _HEADER.unpack_from(body)
    if magic != INDEX_MAGIC or len(body) != _HEADER.size + count * _ENTRY.size + 32:
        raise BrokenPack(f"index of pack {name} has an unknown format")
    if body[-32:].hex() != name:
        raise BrokenPack(f"index of pack {name} names another pack, {body[-32:].hex()}")
    entries = body[_HEADER.size : -32]
    return [(d.hex(), off, n) for d, off, n in _ENTRY.iter_unpack(entries)]


def index_tables(folder: str) -> list[bytes]:
    """The entry tables of every pack index under ``folder``, read but neither decoded
    nor checked: for :func:`in_tables`, a cheap look for a handful of digests in a store
    of many packs (loading them all costs about a millisecond per pack)."""
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".idx")]
    except FileNotFoundError:
        return []
    tables = []
    for name in names:
        try:
            with open(os.path.join(folder, name), "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            continue  # gc took it between the listing and now
        tables.append(data[_HEADER.size : -_TRAILER])
    return tables


def in_tables(tables: list[bytes], digest: str) -> bool:
    """Whether one of these :func:`index_tables` lists ``digest`` (unchecked: a yes must
    be confirmed, by :class:`PackIndex`, before it is relied on)."""
    key = bytes.fromhex(digest)
    for table in tables:
        at = table.find(key)
        while at != -1:
            if at % _ENTRY.size == 0:
                return True
            at = table.find(key, at + 1)
    return False


class PackIndex:
    """Which pack holds which object, for every pack under one folder.

    Loaded on first use and refreshed when asked (other processes add packs, gc removes
    them); safe to share between threads.
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._packs: dict[str, list[tuple[str, int, int]]] = {}
        self._where: dict[str, Entry] = {}
        self._changed = 0  # the folder's time at the last listing (ns)
        self._listed = 0  # when that listing was made (ns)
        self.broken: dict[str, str] = {}
        """Pack name -> why its index could not be read (its objects are not visible)."""

    def get(self, digest: str, *, refresh: bool = True) -> Entry | None:
        """Where ``digest`` is packed; on a miss, look again for new packs first."""
        found = self._where.get(digest)
        if found is None and refresh:
            self.refresh()
            found = self._where.get(digest)
        return found

    def get_many(self, digests: list[str]) -> list[Entry | None]:
        """Where each of ``digests`` is packed (None: in no pack), after one refresh."""
        self.refresh()
        get = self._where.get
        return [get(digest) for digest in digests]

    def digests(self) -> Iterator[str]:
        """Every packed digest (after a refresh)."""
        self.refresh()
        return iter(list(self._where))

    def packs(self) -> dict[str, list[tuple[str, int, int]]]:
        """Pack name -> its entries, for every readable pack (after a refresh)."""
        self.refresh()
        return dict(self._packs)

    def refresh(self) -> None:
        """Load the indexes of packs added since the last look; forget removed ones.

        Skipped when the folder has not changed since a listing made well after its last
        change (its time then moves with any rename into or out of it, even on
        filesystems whose clock ticks coarsely): asking about many absent objects costs a
        ``stat`` each, not a listing.
        """
        with self._lock:  # one listing at a time: an older one never undoes a newer one
            try:
                changed = os.stat(self.folder).st_mtime_ns
            except FileNotFoundError:
                changed = 0
            if changed and changed == self._changed and self._listed - changed > _SETTLED_NS:
                return
            listed = time.time_ns()
            try:
                names = {n[:-4] for n in os.listdir(self.folder) if n.endswith(".idx")}
            except FileNotFoundError:
                names = set()
            self._changed, self._listed = changed, listed
            gone = (self._packs.keys() | self.broken.keys()) - names
            for name in gone:
                self._packs.pop(name, None)
                self.broken.pop(name, None)
            added = names - self._packs.keys() - self.broken.keys()
            for name in sorted(added):
                try:
                    with open(os.path.join(self.folder, f"{name}.idx"), "rb") as fh:
                        self._packs[name] = decode_index(fh.read(), name)
                except FileNotFoundError:
                    continue  # gc took it between the listing and now
                except BrokenPack as exc:
                    self.broken[name] = str(exc)
            if gone:
                self._rebuild()
            else:
                for name in added:
                    if name in self._packs:
                        self._add(name, self._packs[name])

    def _add(self, name: str, entries: list[tuple[str, int, int]]) -> None:
        where = self._where
        for digest, offset, length in entries:
            where[digest] = Entry(name, offset, length)

    def _rebuild(self) -> None:
        """Index every pack again, swapped in at once: a reader never sees it half built."""
        where: dict[str, Entry] = {}
        for name, entries in self._packs.items():
            for digest, offset, length in entries:
                where[digest] = Entry(name, offset, length)
        self._where = where

    def forget(self, name: str) -> None:
        """Drop a pack this process has just removed, without waiting for a refresh."""
        with self._lock:
            if self._packs.pop(name, None) is not None:
                self._rebuild()

    def pack_path(self, name: str) -> str:
        return os.path.join(self.folder, f"{name}.pack")

    def index_path(self, name: str) -> str:
        return os.path.join(self.folder, f"{name}.idx")

    def read(self, entry: Entry) -> bytes:
        """The raw bytes of one packed object (not verified here).

        Raises:
            FileNotFoundError: the pack was removed (gc repacked it): look again.
            BrokenPack: the pack is shorter than its index says.
        """
        with open(self.pack_path(entry.pack), "rb") as fh:
            data = os.pread(fh.fileno(), entry.length, entry.offset)
        if len(data) != entry.length:
            raise BrokenPack(
                f"pack {entry.pack} is truncated: the object at offset {entry.offset} "
                f"should have {entry.length} bytes, the pack holds {len(data)}"
            )
        return data

    def check(self, name: str, entries: list[tuple[str, int, int]]) -> str | None:
        """Why pack ``name`` is broken (missing, truncated, corrupt), or None if intact."""
        try:
            with open(self.pack_path(name), "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return f"pack {name} is missing; its index lists {len(entries)} objects"
        end = max((off + n for _, off, n in entries), default=len(PACK_MAGIC))
        if len(data) < end:
            return f"pack {name} is truncated: {len(data)} bytes, its index needs {end}"
        if hash_bytes(data) != name:
            return f"pack {name} is corrupt: its bytes do not hash to its name"
        return None
