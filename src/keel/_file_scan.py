"""The regular files under a folder with the stat fields that tell a change, from ``os``
alone: the stat cache and the quick ``keel data status``/``add`` answer both read it (the
second without importing pathlib or keel's store)."""

from __future__ import annotations

import os

__all__ = ["scan_files"]


def scan_files(target: str) -> dict[str, tuple[str, int, int, int]]:
    """``relative path -> (path, size, mtime_ns, inode)`` for every regular file under folder
    ``target``, or for ``target`` itself (keyed by its name) if it is a file.

    Keys use ``/`` separators; symbolic links are skipped.

    Raises:
        OSError: ``target`` or a folder under it cannot be read.
    """
    if not os.path.isdir(target):
        st = os.stat(target)
        return {os.path.basename(target): (target, st.st_size, st.st_mtime_ns, st.st_ino)}
    found: dict[str, tuple[str, int, int, int]] = {}
    stack = [("", target)]
    while stack:
        prefix, folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found[prefix + entry.name] = (entry.path, st.st_size, st.st_mtime_ns, st.st_ino)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((f"{prefix}{entry.name}/", entry.path))
    return found
