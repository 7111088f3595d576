"""The model packages a client keeps on disk (``$KEEL_CACHE_DIR/models/<digest>/``):
how much room they take, and clearing them.

A load through a keel server keeps each package's files there so that another process
loading the same package re-hashes them instead of downloading them again (see
:mod:`._materialise`). Nothing else ever removes them. Clearing is always safe for the
data: a file there is trusted only for its hash, so a later load fetches again what is
gone. A package folder is first renamed away (one atomic step), then removed, so a load
running meanwhile sees either the whole folder or none of it.

Example::

    >>> from keel.registry import cached_packages, clear_model_cache  # doctest: +SKIP
    >>> sum(p.bytes for p in cached_packages())                       # doctest: +SKIP
    >>> clear_model_cache()                                           # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CachedPackage", "cached_packages", "clear_model_cache", "model_cache_folder"]

_DIGEST = re.compile(r"[0-9a-f]{64}")
_REMOVING = ".removing-"
"""Prefix of a package folder renamed away and not yet removed (by a clear that stopped)."""


@dataclass(frozen=True)
class CachedPackage:
    """One package folder of the cache: its digest, files, bytes and last write time."""

    digest: str
    path: str
    files: int
    bytes: int
    modified: float
    """When a file was last written into it (seconds since the epoch)."""


def model_cache_folder() -> Path:
    """The folder of cached packages: ``models`` under the client's cache folder
    (``KEEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/keel``, else ``~/.cache/keel``)."""
    from keel.config import user_cache_folder

    return user_cache_folder() / "models"


def cached_packages(folder: str | os.PathLike[str] | None = None) -> list[CachedPackage]:
    """The packages kept in ``folder`` (default :func:`model_cache_folder`), largest first.

    Only folders named by a package digest count; anything else there is not keel's and is
    left alone. A folder left half-removed by an interrupted clear is listed too (its
    ``digest`` then starts with ``.removing-``), since clearing removes it.
    """
    root = Path(folder) if folder is not None else model_cache_folder()
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        from keel.errors import InvalidInput

        raise InvalidInput(
            f"The model cache {root} is a file, not a folder. Remove it or point "
            "KEEL_CACHE_DIR elsewhere."
        ) from None
    found = []
    for entry in entries:
        if not _ours(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        files, size, modified = _usage(Path(entry.path))
        found.append(CachedPackage(entry.name, entry.path, files, size, modified))
    return sorted(found, key=lambda p: (-p.bytes, p.digest))


def clear_model_cache(
    folder: str | os.PathLike[str] | None = None, *, dry_run: bool = False
) -> list[CachedPackage]:
    """Remove every cached package from ``folder`` (default :func:`model_cache_folder`)
    and return what was removed (with ``dry_run``: what would be, removing nothing).

    Models already loaded in a process stay loaded; its next cold load of a package
    downloads the package's files again.
    """
    packages = cached_packages(folder)
    if dry_run:
        return packages
    for package in packages:
        path = Path(package.path)
        doomed = path
        if not package.digest.startswith(_REMOVING):
            doomed = path.with_name(f"{_REMOVING}{package.digest}-{uuid.uuid4().hex[:8]}")
            try:
                path.rename(doomed)  # a concurrent load sees the whole folder or none
            except FileNotFoundError:  # another clear took it meanwhile
                continue
        shutil.rmtree(doomed, ignore_errors=True)
    return packages


def _ours(name: str) -> bool:
    return bool(_DIGEST.fullmatch(name)) or (
        name.startswith(_REMOVING) and bool(_DIGEST.fullmatch(name[len(_REMOVING) :][:64]))
    )


def _usage(folder: Path) -> tuple[int, int, float]:
    """Files, bytes and newest modification time under ``folder`` (links not followed)."""
    files = size = 0
    modified = 0.0
    for base, _, names in os.walk(folder):
        for name in names:
            try:
                info = os.lstat(os.path.join(base, name))
            except FileNotFoundError:  # removed meanwhile
                continue
            files += 1
            size += info.st_size
            modified = max(modified, info.st_mtime)
    return files, size, modified
