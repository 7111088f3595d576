"""The regular files under a folder with the stat fields that tell a change, their
fingerprint, and which of them changed too close to a moment for their stat to be trusted:
the stat cache and the quick ``keel data status``/``add`` answer both use them (the second
without importing pathlib or keel's store)."""

from __future__ import annotations

import os

__all__ = ["COARSE_RACY_NS", "RACY_NS", "Scanned", "fingerprint", "racy_window", "scan_files"]

RACY_NS = 100_000_000
"""A file whose mtime is this close to a check (or after it) may have changed within the
same clock tick as the check: its stat proves nothing, its bytes must be read."""
COARSE_RACY_NS = 2_000_000_000  # filesystems that keep whole seconds (ext3, FAT, some NFS)


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


def fingerprint(files: dict[str, tuple[str, int, int, int]]) -> tuple[str, int]:
    """A blake3 digest of every file's path and stat (as :func:`scan_files` gives them),
    and the newest mtime among them."""
    import blake3

    rows = sorted(
        f"{rel}\0{size}\0{mtime}\0{inode}" for rel, (_, size, mtime, inode) in files.items()
    )
    newest = max((f[2] for f in files.values()), default=0)
    data = "\n".join(rows).encode("utf-8", "surrogateescape")
    return blake3.blake3(data).hexdigest(), newest


def racy_window(mtime_ns: int) -> int:
    """How close to a check a file with this mtime must be to count as racy: whole-second
    mtimes say the filesystem keeps a coarse clock."""
    return COARSE_RACY_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS


class Scanned:
    """One scan of ``target`` (:func:`scan_files`), looked at from ``checked_ns`` on, with
    its :func:`fingerprint` worked out at most once: ``keel data add`` hands the quick
    path's scan to the full way, which then neither walks the folder nor fingerprints
    100,000 stats again. ``files`` must not be changed once given."""

    __slots__ = ("_fingerprint", "checked_ns", "files", "target")

    def __init__(
        self, target: str, checked_ns: int, files: dict[str, tuple[str, int, int, int]]
    ) -> None:
        self.target = target
        self.checked_ns = checked_ns
        self.files = files
        self._fingerprint: tuple[str, int] | None = None

    def fingerprint(self) -> tuple[str, int]:
        """:func:`fingerprint` of ``files``, computed on the first call."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.files)
        return self._fingerprint
