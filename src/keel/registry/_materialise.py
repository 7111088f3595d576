"""A package's files in a local folder, each verified against its digest.

Loading reads a package from a folder: ``<root>/<package digest>/`` holds the manifest and
every file it declares (the model's files and the stored input example). What is already
there from an earlier load, by this process or another one, is re-hashed instead of
fetched again; only what is absent or does not match its digest is fetched, all in one
call (:class:`FetchesMany`: a keel server's store downloads them in parallel). A file is
trusted only for its hash, never for being in the folder, so the folder may be shared,
deleted or tampered with: a damaged file is fetched again, never loaded.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from keel.errors import IntegrityError
from keel.store.objects import ObjectStore, check_digest, hash_bytes

from ._package import EXAMPLE_FILE, MANIFEST_FILE, PackageManifest, read_package

__all__ = ["FetchesMany", "cached_manifest", "hash_file", "materialise", "read_manifest"]


@runtime_checkable
class FetchesMany(Protocol):
    """Optional: an object store that downloads several objects in one call (verified,
    written atomically), as :meth:`HttpObjectStore.get_many` does."""

    def get_many(self, jobs: list[tuple[str, str | os.PathLike[str]]]) -> list[Path]: ...


def cached_manifest(objects: ObjectStore, digest: str, folder: Path) -> PackageManifest:
    """The package's manifest from ``folder`` when its bytes there hash to ``digest``, else
    from ``objects`` (and then kept in ``folder`` for the next load)."""
    check_digest(digest)
    path = folder / MANIFEST_FILE
    raw = _read_if_intact(path, digest)
    if raw is None:
        raw = objects.read_bytes(digest)  # verified by the store as it is read
        _write_atomically(path, raw)
    return PackageManifest.from_json(raw, digest=digest)


def materialise(
    objects: ObjectStore, manifest: PackageManifest, folder: Path, *, name: str
) -> Path:
    """``folder`` holding every file the manifest declares, each matching its digest.

    Files already there are re-hashed; the others are fetched from ``objects``, in one
    call when the store can (:class:`FetchesMany`). ``name`` names the package in errors.

    Raises:
        ObjectNotFound: a file is not in the store.
        IntegrityError: a file the store holds does not match its digest (named).
    """
    wanted = [
        (file, file_digest, folder / file)
        for file, file_digest in manifest.files.items()
        if not _intact(folder / file, file_digest)
    ]
    if len(wanted) > 1 and isinstance(objects, FetchesMany):
        try:
            objects.get_many([(d, path) for _, d, path in wanted])
            return folder
        except IntegrityError:
            pass  # fetched one at a time below, to say which file it was
    for file, file_digest, path in wanted:
        if _intact(path, file_digest):
            continue  # the batch above got this one
        try:
            objects.get(file_digest, path)
        except IntegrityError as exc:
            what = "input example" if file == EXAMPLE_FILE else "file"
            raise IntegrityError(
                f"Cannot load {name}: its {what} {file} (object {file_digest}) is corrupt "
                "or was tampered with: its bytes do not match the digest the package "
                "records. Restore the object from a copy, or run 'keel fsck' to list "
                "everything affected."
            ) from exc
    return folder


def read_manifest(objects: ObjectStore, digest: str, folder: Path | None) -> PackageManifest:
    """The manifest, through ``folder`` when there is one (see :func:`cached_manifest`)."""
    if folder is None:
        return read_package(objects, digest)
    return cached_manifest(objects, digest, folder)


def _intact(path: Path, digest: str) -> bool:
    try:
        return path.is_file() and hash_file(path) == digest
    except OSError:  # unreadable: fetch it again
        return False


def _read_if_intact(path: Path, digest: str) -> bytes | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    return raw if hash_bytes(raw) == digest else None


def hash_file(path: Path) -> str:
    """The digest of a file's bytes (mapped, not read into memory)."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return hash_bytes(b"")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return hash_bytes(mapped)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
