"""What is on disk, and which files are unchanged since keel last hashed them.

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

The cache is a SQLite file in ``.keel/cache/``; losing it only costs re-hashing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from keel.errors import InvalidInput, NotFound

__all__ = ["RACY_NS", "FileStat", "StatCache", "hash_file", "scan"]

RACY_NS = 100_000_000
"""An entry whose file changed less than this long before it was hashed is re-hashed."""

_COARSE_RACY_NS = 2_000_000_000  # filesystems that keep whole seconds (ext3, FAT, some NFS)

FileStat = tuple[str, int, int, int]
"""A file on disk: (absolute path, size, mtime_ns, inode)."""

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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


def scan(target: Path) -> dict[str, FileStat]:
    """Every regular file under folder ``target`` (or ``target`` itself if it is a file).

    Keys are paths relative to ``target``, with ``/`` separators; a file's key is its name.
    Symbolic links are skipped, as ``DatasetService.log`` skips them.
    """
    try:
        if not target.is_dir():
            st = target.stat()
            return {target.name: (str(target), st.st_size, st.st_mtime_ns, st.st_ino)}
        found: dict[str, FileStat] = {}
        stack = [("", str(target))]
        while stack:
            prefix, folder = stack.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((f"{prefix}{entry.name}/", entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        found[prefix + entry.name] = (
                            entry.path,
                            st.st_size,
                            st.st_mtime_ns,
                            st.st_ino,
                        )
        return found
    except FileNotFoundError as exc:
        raise NotFound(f"Cannot read {exc.filename or target}: no such file or folder.") from exc
    except OSError as exc:
        raise InvalidInput(
            f"Cannot read {exc.filename or target}: {exc.strerror}. Check its permissions."
        ) from exc


def hash_file(path: str | os.PathLike[str]) -> str:
    """The object digest of a file's bytes (what the object store would name it)."""
    from keel.store.objects import hash_bytes

    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < (1 << 20):
            return hash_bytes(fh.read())
        import mmap

        from keel.store.objects._hashing import new_hasher  # TODO(lead): public API

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
            and entry[4] - mtime_ns > _racy_window(mtime_ns)
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
        rows = list(rows)
        if rows:
            self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)

    def forget(self, paths: Iterable[str]) -> None:
        """Drop the entries of files that are gone."""
        rows = [(p,) for p in paths]
        if rows:
            self._write("DELETE FROM files WHERE path = ?", rows)

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
            with conn:
                conn.executemany(sql, rows)
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
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = OFF")  # a cache: losing the tail is harmless
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'objects'").fetchone()
            if row is None or row[0] != self.objects_url:
                with conn:
                    conn.execute("DELETE FROM files")
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


def _racy_window(mtime_ns: int) -> int:
    return _COARSE_RACY_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS
