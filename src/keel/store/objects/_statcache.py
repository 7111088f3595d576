"""Files in the workspace: scanning, hashing, storing and restoring them, and the stat
cache that tells which are unchanged since keel last hashed them.

``keel data add`` and ``keel data status`` must not re-read a folder of 100,000 files to
learn that nothing changed. The stat cache remembers, per file, the ``(size, mtime_ns,
inode)`` it had when keel hashed it and the digest it hashed to; a file whose stat still
matches is taken to hold the same bytes, as git's index and DVC's state database do.

Two rules keep that safe:

* **Racy files are re-hashed.** A file written in the same filesystem clock tick as it was
  hashed could change again without its mtime moving. An entry is trusted only if the
  file's mtime is at least :data:`RACY_NS` (two seconds on filesystems with whole-second
  timestamps) older than the moment keel looked at it, the rule git uses for its index.
* **A cached digest is always a stored object.** Entries are written only for files whose
  bytes are in the object store (added, pulled, or equal to the version a pointer names),
  so ``add`` can reuse a cached digest without storing the file again. The cache remembers
  which object store it speaks for and forgets everything when that changes.

Besides one entry per file, the cache keeps one *snapshot* per pointed-to path: a digest
of every file's path and stat at a moment the whole tree was known to match a version.
``status`` on a tree whose stats all still match answers from the snapshot alone, without
reading the version's manifest or the per-file entries.

The cache is a SQLite file in ``.keel/cache/``; losing it only costs re-hashing.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel._file_scan import RACY_NS, fingerprint, racy_window, scan_files
from keel.errors import IntegrityError, InvalidInput, KeelError, NotFound, ObjectNotFound

if TYPE_CHECKING:
    from keel.store.objects import ObjectStore

__all__ = [
    "RACY_NS",
    "FileStat",
    "Progress",
    "StatCache",
    "fingerprint",
    "hash_file",
    "hash_files",
    "restore_files",
    "scan",
    "store_files",
]

_WORKERS = 8  # storing many small files waits on the filesystem more than on the CPU
_BUFFER = 8 << 20

FileStat = tuple[str, int, int, int]
"""A file on disk: (absolute path, size, mtime_ns, inode)."""

Progress = Callable[[int, int], None]
"""Called as ``(done, total)`` while a long step runs: bytes for add, files otherwise."""

Entry = tuple[int, int, int, str, int]
"""A cache entry: (size, mtime_ns, inode, digest, checked_ns)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    digest TEXT NOT NULL,
    checked_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    path TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    checked_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


def scan(target: Path) -> dict[str, FileStat]:
    """Every regular file under folder ``target`` (or ``target`` itself if it is a file).

    Keys are paths relative to ``target``, with ``/`` separators; a file's key is its name.
    Symbolic links are skipped, as ``DatasetService.log`` skips them.
    """
    try:
        return scan_files(str(target))
    except FileNotFoundError as exc:
        raise NotFound(f"Cannot read {exc.filename or target}: no such file or folder.") from exc
    except OSError as exc:
        raise InvalidInput(
            f"Cannot read {exc.filename or target}: {exc.strerror}. Check its permissions."
        ) from exc


def hash_file(path: str | os.PathLike[str]) -> str:
    """The object digest of a file's bytes (what the object store would name it)."""
    from . import hash_bytes

    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < (1 << 20):
            return hash_bytes(fh.read())
        import mmap

        from ._hashing import new_hasher

        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            hasher = new_hasher(size)
            hasher.update(mapped)
            return hasher.hexdigest()


class StatCache:
    """``path -> (size, mtime_ns, inode, digest)`` for files whose bytes are stored.

    Paths are relative to the project root. ``hits`` and ``misses`` count lookups, so
    callers (and tests) can tell how many files had to be read.

    Args:
        path: the SQLite file; created, with its folder, on first use.
        objects_url: the object store the cached digests are stored in.
    """

    def __init__(self, path: Path, objects_url: str) -> None:
        self.path = path
        self.objects_url = objects_url
        self.hits = 0
        self.misses = 0
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"StatCache({str(self.path)!r}, {self.objects_url!r})"

    def entries(self, key: str, *, folder: bool) -> dict[str, Entry]:
        """Cached entries of the file ``key``, or of every file under folder ``key``."""
        if folder:  # '0' is the character after '/', so this range is the folder's files
            rows = self._query(
                "SELECT path, size, mtime_ns, inode, digest, checked_ns FROM files "
                "WHERE path > ? AND path < ?",
                (f"{key}/", f"{key}0"),
            )
        else:
            rows = self._query(
                "SELECT path, size, mtime_ns, inode, digest, checked_ns FROM files WHERE path = ?",
                (key,),
            )
        return {path: tuple(rest) for path, *rest in rows}  # type: ignore[misc]

    def lookup(self, entry: Entry | None, size: int, mtime_ns: int, inode: int) -> str | None:
        """The cached digest if the file is unchanged since it was hashed, else None."""
        if (
            entry is not None
            and entry[0] == size
            and entry[1] == mtime_ns
            and entry[2] == inode
            and entry[4] - mtime_ns > racy_window(mtime_ns)
        ):
            self.hits += 1
            return entry[3]
        self.misses += 1
        return None

    def record(self, rows: Iterable[tuple[str, int, int, int, str, int]]) -> None:
        """Remember ``(path, size, mtime_ns, inode, digest, checked_ns)`` rows.

        ``checked_ns`` is when the file was looked at (before it was read), and every
        digest must name an object in the store.
        """
        rows = sorted(rows)  # in key order: SQLite appends rather than splitting pages
        if rows:
            self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)

    def forget(self, paths: Iterable[str]) -> None:
        """Drop the entries of files that are gone."""
        rows = [(p,) for p in sorted(paths)]
        if rows:
            self._write("DELETE FROM files WHERE path = ?", rows)

    def matches_snapshot(
        self,
        key: str,
        manifest: str,
        files: dict[str, FileStat],
        *,
        known: tuple[str, int] | None = None,
    ) -> bool:
        """Whether every file under ``key`` has the stat it had when the tree was known to
        hold version ``manifest`` (and none changed within the racy window of that moment).

        ``known``: ``fingerprint(files)`` if the caller has it already.
        """
        rows = self._query(
            "SELECT manifest, fingerprint, checked_ns FROM snapshots WHERE path = ?", (key,)
        )
        if not rows or rows[0][0] != manifest:
            return False
        digest, newest = known or fingerprint(files)
        return digest == rows[0][1] and rows[0][2] - newest > racy_window(newest)

    def save_snapshot(
        self,
        key: str,
        manifest: str,
        files: dict[str, FileStat],
        checked_ns: int,
        *,
        known: tuple[str, int] | None = None,
    ) -> None:
        """Remember that ``files`` (as scanned at ``checked_ns``) hold version ``manifest``
        (``known``: ``fingerprint(files)`` if the caller has it already)."""
        digest, _ = known or fingerprint(files)
        self._write(
            "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)",
            [(key, manifest, digest, checked_ns)],
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- SQLite ---------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple) -> list[tuple]:
        try:
            return self._connect().execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []  # locked or unreadable for now: everything is a miss, nothing is wrong
        except sqlite3.DatabaseError:
            self._reset()  # a corrupt cache is an empty cache
            return []

    def _write(self, sql: str, rows: list[tuple]) -> None:
        try:
            conn = self._connect()
            # one transaction for the batch: the connection autocommits (isolation_level
            # None), and 'with conn' begins nothing, so each row would be its own commit
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError:
            # locked by another keel for longer than the timeout: the cache stays behind,
            # which costs re-hashing later, never a wrong answer
            return
        except sqlite3.DatabaseError:
            self._reset()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            # a cache: losing the tail is harmless. Set first, so that making a new cache
            # (switching it to WAL) costs no flush either: four fdatasyncs, 20-50 ms
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'objects'").fetchone()
            if row is None or row[0] != self.objects_url:
                with conn:
                    conn.execute("DELETE FROM files")
                    conn.execute("DELETE FROM snapshots")
                    conn.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('objects', ?)", (self.objects_url,)
                    )
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _reset(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


# -- moving bytes between the workspace and the object store ----------------------------


def store_files(
    objects: ObjectStore, files: list[FileStat], on_progress: Progress | None
) -> list[tuple[str, int]]:
    """Store files (hashing them on the way); ``(digest, size)`` of each, in order.

    One ``put_many`` for them all (it flushes the whole batch to disk at once), or, when
    someone watches a progress bar, a few, so that the bar moves.
    """
    if not files:
        return []
    total = sum(f[1] for f in files)
    step = total if on_progress is None else max(total // 8, 1)
    digests: list[str] = []
    start, batch, done = 0, 0, 0
    if on_progress is not None:
        on_progress(0, total)
    for end, (_, size, _, _) in enumerate(files, 1):
        batch += size
        if batch < step and end < len(files):
            continue
        digests += objects.put_many([f[0] for f in files[start:end]], workers=_WORKERS)
        done += batch
        start, batch = end, 0
        if on_progress is not None:
            on_progress(done, total)
    from . import LocalObjectStore

    if isinstance(objects, LocalObjectStore):  # packed ones from its index, without a stat
        return list(zip(digests, objects.sizes(digests), strict=True))
    return [(d, objects.size(d)) for d in digests]


def hash_files(paths: list[str], on_progress: Progress | None) -> list[str]:
    """Digests of many files, read in parallel (blake3 and file reads release the GIL)."""
    if len(paths) < 16:
        return [hash_file(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    digests = []
    with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
        for i, digest in enumerate(pool.map(hash_file, paths, chunksize=64), 1):
            digests.append(digest)
            if on_progress is not None and i % 256 == 0:
                on_progress(i, len(paths))
    return digests


def restore_files(
    objects: ObjectStore, jobs: list[tuple[str, Path]], on_progress: Progress | None
) -> list[tuple[tuple[int, int, int], int]]:
    """Write each object to its path: ``((size, mtime_ns, inode), checked_ns)`` of each.

    Every file is restored or tried; if any failed, the first failure is raised after
    the others are done, with how many failed.
    """
    from concurrent.futures import ThreadPoolExecutor

    from . import LocalObjectStore

    restore = _restore_local if isinstance(objects, LocalObjectStore) else _restore_any

    def one(job: tuple[str, Path]) -> tuple[tuple[int, int, int], int] | KeelError:
        digest, dest = job
        try:
            restore(objects, digest, dest)
            st = os.stat(dest)
        except KeelError as exc:
            return exc
        except OSError as exc:
            return InvalidInput(f"Cannot write {dest}: {exc.strerror}. Check its permissions.")
        return (st.st_size, st.st_mtime_ns, st.st_ino), time.time_ns()

    results: list = []
    workers = 1 if len(jobs) < 8 else min(16, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, outcome in enumerate(pool.map(one, jobs, chunksize=32), 1):
            results.append(outcome)
            if on_progress is not None and (i % 256 == 0 or i == len(jobs)):
                on_progress(i, len(jobs))
    failed = [r for r in results if isinstance(r, KeelError)]
    if failed:
        first = failed[0]
        more = f" ({len(failed) - 1} more files failed too.)" if len(failed) > 1 else ""
        raise type(first)(first.message + more)
    return results


def _restore_local(objects: Any, digest: str, dest: Path) -> None:
    """Copy an object from a local store to ``dest``, hashing it on the way (one read).

    Small objects are checked before anything is written; large ones are written to a
    temporary file that is dropped if the digest does not match.
    """
    from . import hash_bytes
    from ._hashing import new_hasher

    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        src = open(objects.path(digest), "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError as exc:
        if objects.exists(digest):  # a small object kept in a pack: read through its index
            objects.get(digest, dest)
            return
        raise ObjectNotFound(
            f"Object {digest} is not in the object store {objects.url}, so {dest} cannot be "
            "restored. Run 'keel fsck' to check the store."
        ) from exc
    with src:
        size = os.fstat(src.fileno()).st_size
        try:
            with open(tmp, "wb") as out:
                if size <= _BUFFER:
                    data = src.read()
                    actual = hash_bytes(data)
                    if actual == digest:
                        out.write(data)
                else:
                    hasher = new_hasher(size)
                    buffer = memoryview(bytearray(_BUFFER))
                    while n := src.readinto(buffer):
                        hasher.update(buffer[:n])
                        out.write(buffer[:n])
                    actual = hasher.hexdigest()
            if actual != digest:
                raise IntegrityError(
                    f"Object {digest} in {objects.url} is corrupt: its bytes hash to {actual}. "
                    f"{dest} was not restored. Restore the object from a copy, or run 'keel "
                    "fsck' to list everything affected."
                )
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


def _restore_any(objects: ObjectStore, digest: str, dest: Path) -> None:
    objects.get(digest, dest)
