"""Object store in a local folder: ``<root>/ab/cdef...``, written by rename, read verified."""

from __future__ import annotations

import mmap
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from keel.errors import ObjectNotFound, StoreUnavailable

from ._base import ObjectStore, Source, as_stream
from ._hashing import check_digest, chunks, hash_bytes, new_hasher

__all__ = ["LocalObjectStore"]

TMP_DIR = "tmp"


class LocalObjectStore(ObjectStore):
    """Objects as read-only files under ``root``, two hex characters of fan-out.

    Args:
        root: the folder; created on the first write.
        fsync: flush each object and its folder to disk before it becomes visible, so
            a power cut cannot leave a named object with missing bytes.
    """

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self.fsync = fsync

    def put_many(self, sources: list[Source], *, workers: int = 4) -> list[str]:
        """Store many objects, flushing them to disk once at the end instead of one by one.

        Each object is still written under a temporary name and renamed into place, so a
        crash never exposes a partial object; durability comes from one ``sync`` for the
        batch, which is much cheaper than an fsync per file for thousands of small files.
        """
        if not self.fsync:
            return super().put_many(sources, workers=workers)
        batch = LocalObjectStore(self.root, fsync=False)
        digests = ObjectStore.put_many(batch, sources, workers=workers)
        os.sync()
        return digests

    def path(self, digest: str) -> Path:
        """Where the object with ``digest`` lives (whether or not it exists)."""
        check_digest(digest)
        return self.root / digest[:2] / digest[2:]

    def put(self, source: Source) -> str:
        if isinstance(source, bytes | bytearray | memoryview):
            digest = hash_bytes(source)
            if not self.exists(digest):
                self._write(digest, lambda fh: fh.write(source))
            return digest
        stream, owned = as_stream(source)
        try:
            return self._put_stream(stream)
        finally:
            if owned:
                stream.close()

    def _put_stream(self, stream: BinaryIO) -> str:
        tmp = self._tmp_path()
        hasher = new_hasher()
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks(stream):
                    hasher.update(chunk)
                    out.write(chunk)
                self._flush(out)
            digest = hasher.hexdigest()
            self._publish(tmp, digest)
            return digest
        finally:
            tmp.unlink(missing_ok=True)

    def _write(self, digest: str, write) -> None:
        tmp = self._tmp_path()
        try:
            with open(tmp, "wb") as out:
                write(out)
                self._flush(out)
            self._publish(tmp, digest)
        finally:
            tmp.unlink(missing_ok=True)

    def _tmp_path(self) -> Path:
        tmp_dir = self.root / TMP_DIR
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"Cannot write to the object store {self.root}: {exc.strerror}. "
                "Check that the folder exists and is writable."
            ) from exc
        return tmp_dir / f"{uuid.uuid4().hex}.part"

    def _flush(self, fh: BinaryIO) -> None:
        if self.fsync:
            fh.flush()
            os.fsync(fh.fileno())

    def _publish(self, tmp: Path, digest: str) -> None:
        final = self.path(digest)
        if final.exists():
            return  # same bytes already stored: content addressing makes this a no-op
        final.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)
        if self.fsync:
            fd = os.open(final.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def open(self, digest: str) -> BinaryIO:
        fh = self._open_raw(digest)
        try:
            actual = _hash_open_file(fh)
            if actual != digest:
                raise self._corrupt(digest, actual)
            fh.seek(0)
        except BaseException:
            fh.close()
            raise
        return fh

    def _open_raw(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(
                f"Object {digest} is not in the object store {self.root}. "
                "It was never stored here, or it was deleted; run 'keel fsck' to check the store."
            ) from exc

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def verify(self, digest: str) -> bool:
        with self._open_raw(digest) as fh:
            return _hash_open_file(fh) == digest

    def delete(self, digest: str) -> bool:
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def digests(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for fan in sorted(self.root.iterdir()):
            if len(fan.name) != 2 or not fan.is_dir():
                continue
            for entry in os.scandir(fan):
                yield fan.name + entry.name

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectNotFound(
                f"Object {digest} is not in the object store {self.root}."
            ) from exc

    def stale_temporaries(self) -> list[Path]:
        """Partial writes left behind by a crashed process (never visible as objects)."""
        tmp_dir = self.root / TMP_DIR
        return sorted(tmp_dir.glob("*.part")) if tmp_dir.is_dir() else []


def _hash_open_file(fh: BinaryIO) -> str:
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        return hash_bytes(b"")
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        hasher = new_hasher(size)
        hasher.update(mapped)
        return hasher.hexdigest()
