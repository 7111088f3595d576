"""Files a client pushed to a keel server before, so an unchanged one is not read again.

A re-push of an unchanged folder would otherwise hash every byte of it only to learn
that the server holds everything. The stat cache of ``keel data`` workspaces
(:class:`keel.data._statcache.StatCache`: ``path -> (size, mtime_ns, inode, digest)``,
with git's rule that a file changed within a moment of being looked at is read again)
remembers each pushed file here, one cache file per server, under the user's cache folder
(:func:`cache_folder`).

A cached digest is still sent in the one ``POST /objects/missing`` of every push, so a
server that lost the object gets the file again. Losing the cache only costs hashing.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._statcache import StatCache

__all__ = ["KnownFiles", "cache_folder"]


def cache_folder() -> Path:
    """Where the push caches live (one SQLite file per server): ``$KEEL_CACHE_DIR/pushed``,
    else ``$XDG_CACHE_HOME/keel/pushed``, else ``~/.cache/keel/pushed``."""
    from keel.config import user_cache_folder

    return user_cache_folder() / "pushed"


class KnownFiles:
    """The stat cache of one push: look files up first, record them once the server has
    every object. Used from one thread (SQLite connections are not shared across threads).

    Args:
        url: the server the objects are pushed to (the cache speaks for it only).
        paths: the files of the push, as given.
    """

    def __init__(self, url: str, paths: list[str]) -> None:
        from keel.store.objects import hash_bytes

        from ._statcache import StatCache

        self.checked_ns = time.time_ns()  # before any file is looked at: the racy rule
        self.cache: StatCache = StatCache(
            cache_folder() / f"{hash_bytes(url.encode())[:24]}.db", url
        )
        self.stats: dict[str, tuple[str, int, int, int]] = {}
        for path in paths:
            try:
                absolute = os.path.abspath(path)
                st = os.stat(absolute)
            except (OSError, ValueError):
                continue  # the store's own read reports it
            self.stats[path] = (absolute, st.st_size, st.st_mtime_ns, st.st_ino)

    def digests(self) -> dict[str, tuple[str, int]]:
        """``path -> (digest, size)`` of the files unchanged since they were last pushed."""
        if not self.stats:
            return {}
        absolute = [s[0] for s in self.stats.values()]
        try:
            if len(absolute) == 1:
                entries = self.cache.entries(absolute[0], folder=False)
            else:
                entries = self.cache.entries(os.path.commonpath(absolute), folder=True)
        except OSError:  # no cache folder can be made: every file is read
            return {}
        found: dict[str, tuple[str, int]] = {}
        for path, (absolute_path, size, mtime_ns, inode) in self.stats.items():
            digest = self.cache.lookup(entries.get(absolute_path), size, mtime_ns, inode)
            if digest is not None:
                found[path] = (digest, size)
        return found

    def record(self, pushed: dict[str, tuple[str, int]]) -> None:
        """Remember ``path -> (digest, size)`` of files the server now holds (a file whose
        size changed while it was read is not remembered)."""
        rows = [
            (absolute, size, mtime_ns, inode, pushed[path][0], self.checked_ns)
            for path, (absolute, size, mtime_ns, inode) in self.stats.items()
            if path in pushed and pushed[path][1] == size
        ]
        with contextlib.suppress(OSError):  # no cache folder: the next push reads them
            self.cache.record(rows)

    def close(self) -> None:
        self.cache.close()
