"""Object store in a local folder: ``<root>/ab/cdef...``, written by rename, read verified."""

from __future__ import annotations

import contextlib
import io
import logging
import mmap
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from keel.errors import ObjectNotFound, StoreUnavailable

from ._base import ObjectStore, Source, as_stream
from ._hashing import CHUNK_SIZE, check_digest, chunks, hash_bytes, new_hasher

__all__ = ["LocalObjectStore"]

TMP_DIR = "tmp"

log = logging.getLogger("keel.store")


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
        self._tmp_ready = False

    def put_many(self, sources: list[Source], *, workers: int = 4) -> list[str]:
        """Store many objects with two disk flushes for the whole batch, not two per file.

        Every object is first written under a temporary name; one ``sync`` makes all those
        bytes durable; only then are they renamed into place, and a second ``sync`` makes
        the names durable. A crash or power cut at any point leaves at most temporary
        files, never a named object whose bytes did not reach the disk.
        """
        if len(sources) < 2:
            return [self.put(source) for source in sources]
        with self._writing():
            return self._put_many(sources, workers)

    def _put_many(self, sources: list[Source], workers: int) -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        workers = max(1, workers)
        # a few dozen sources per task, not one: for 100,000 small files the executor's
        # futures and locks would otherwise cost more than the files
        size = max(1, min(32, len(sources) // (4 * workers)))
        batches = [sources[i : i + size] for i in range(0, len(sources), size)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self._stage_batch, batch) for batch in batches]
        staged: list[tuple[str, str]] = []
        failed = [f.exception() for f in futures if f.exception() is not None]
        for future in futures:
            if future.exception() is None:
                staged += future.result()
        published = 0
        try:
            if failed:
                raise failed[0]
            if self.fsync:
                os.sync()
            for tmp, digest in staged:
                if not self._publish(tmp, digest, sync=False):
                    os.unlink(tmp)  # the same bytes were already stored
                published += 1
            if self.fsync:
                os.sync()
        finally:
            for tmp, _ in staged[published:]:  # what is left after a failure
                _unlink(tmp)
        return [digest for _, digest in staged]

    def _stage_batch(self, sources: list[Source]) -> list[tuple[str, str]]:
        """:meth:`_stage` each source; on a failure, remove what was staged and raise."""
        staged: list[tuple[str, str]] = []
        try:
            for source in sources:
                staged.append(self._stage(source))
        except BaseException:
            for tmp, _ in staged:
                _unlink(tmp)
            raise
        return staged

    def _stage(self, source: Source) -> tuple[str, str]:
        """Write ``source`` to a temporary file (not flushed) and return it with its digest."""
        tmp = str(self._tmp_path())
        try:
            if isinstance(source, bytes | bytearray | memoryview):
                with open(tmp, "wb") as out:
                    out.write(source)
                return tmp, hash_bytes(source)
            stream, owned = as_stream(source)
            try:
                hint = _size_hint(stream)
                hasher = new_hasher(hint)
                with open(tmp, "wb") as out:
                    for chunk in chunks(stream, hint):
                        hasher.update(chunk)
                        out.write(chunk)
                return tmp, hasher.hexdigest()
            finally:
                if owned:
                    stream.close()
        except BaseException:
            _unlink(tmp)
            raise

    def path(self, digest: str) -> Path:
        """Where the object with ``digest`` lives (whether or not it exists)."""
        return Path(self._file(digest))

    def _file(self, digest: str) -> str:
        """:meth:`path` as a string: cheaper, for the many-objects loops."""
        check_digest(digest)
        return f"{self.url}{os.sep}{digest[:2]}{os.sep}{digest[2:]}"

    def put(self, source: Source) -> str:
        if isinstance(source, bytes | bytearray | memoryview):
            digest = hash_bytes(source)
            with self._writing():
                if not self._intact(digest, memoryview(source).nbytes) or not self._touch(digest):
                    self._write(digest, lambda fh: fh.write(source))
            return digest
        stream, owned = as_stream(source)
        try:
            with self._writing():
                return self._put_stream(stream)
        finally:
            if owned:
                stream.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn the filesystem's refusals (read-only, full, not a folder) into StoreUnavailable.

        Errors naming a file outside the store (an unreadable source file) pass through.
        """
        try:
            yield
        except OSError as exc:
            name = exc.filename
            if name is not None and not str(name).startswith(self.url):
                raise
            raise StoreUnavailable(
                f"Cannot write to the object store {self.root}: {exc.strerror or exc}"
                f"{f' ({name})' if name else ''}. Check that the folder exists, is writable "
                "and has free space (KEEL_OBJECTS says where it is)."
            ) from exc

    def _intact(self, digest: str, size: int) -> bool:
        """Whether the object is stored with the right bytes (size first, then its hash).

        A corrupt copy is not kept because its name is right: storing the good bytes
        again must repair it, so an existing object is re-hashed before it is trusted.
        """
        final = self._file(digest)
        try:
            if os.stat(final).st_size != size:
                return False
            with open(final, "rb") as fh:
                return _hash_open_file(fh) == digest
        except FileNotFoundError:
            return False

    def _put_stream(self, stream: BinaryIO) -> str:
        tmp = self._tmp_path()
        hasher = new_hasher(_size_hint(stream))
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks(stream, _size_hint(stream)):
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
        if self._tmp_ready:
            return tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            self._tmp_ready = True
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

    def _publish(self, tmp: str | Path, digest: str, *, sync: bool = True) -> bool:
        """Rename ``tmp`` to the object's name; False if the object was already there."""
        final = self._file(digest)
        if os.path.isfile(final):
            if self._intact(digest, os.stat(tmp).st_size) and self._touch(digest):
                return False  # same bytes already stored: content addressing makes this a no-op
            log.warning("object %s in %s is corrupt; replaced by good bytes", digest, self.url)
        os.chmod(tmp, 0o444)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # the first object of its fan-out folder (a rare case)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)
        if self.fsync and sync:
            fd = os.open(os.path.dirname(final), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return True

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
            if self._back_from_gc(digest):
                return open(self.path(digest), "rb")
            raise ObjectNotFound(
                f"Object {digest} is not in the object store {self.root}. "
                "It was never stored here, or it was deleted; run 'keel fsck' to check the store."
            ) from exc

    def exists(self, digest: str) -> bool:
        return os.path.isfile(self._file(digest))

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
            return os.stat(self._file(digest)).st_size
        except FileNotFoundError as exc:
            if self._back_from_gc(digest):
                return os.stat(self._file(digest)).st_size
            raise ObjectNotFound(
                f"Object {digest} is not in the object store {self.root}."
            ) from exc

    def _touch(self, digest: str) -> bool:
        """Mark an existing object as just written (its modification time is the last put,
        which ``keel gc --objects`` respects); False if it vanished meanwhile (gc took it),
        so the caller writes it again."""
        try:
            os.utime(self._file(digest))
        except FileNotFoundError:
            return False
        return True

    def modified(self, digest: str) -> float | None:
        """When the object was last put (seconds since the epoch); None if it is absent."""
        try:
            return os.stat(self._file(digest)).st_mtime
        except FileNotFoundError:
            return None

    def _back_from_gc(self, digest: str, wait_s: float = 0.5) -> bool:
        """Whether a missing object reappears: :meth:`delete_if_older` moves an object
        aside for a moment while it checks whether a writer touched it, and moves it back
        if one did. Only while a gc has something aside is it worth waiting for."""
        tmp_dir = self.root / TMP_DIR
        deadline = time.monotonic() + wait_s
        while any(tmp_dir.glob("*.gc.part")) and time.monotonic() < deadline:
            if os.path.isfile(self._file(digest)):
                return True
            time.sleep(0.005)
        return os.path.isfile(self._file(digest))

    def delete_if_older(self, digest: str, cutoff: float) -> bool:
        """Delete the object unless it was put at or after ``cutoff``; True if deleted.

        The object is first moved aside (one atomic rename), then its time is read: a
        writer that stored the same bytes before the rename has touched it, and it is
        moved back; one that stores them after the rename finds no object and writes a
        new copy. Either way a writer never loses what it just put.
        """
        final = self._file(digest)
        aside = str(self._tmp_path()).replace(".part", ".gc.part")
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            return False
        if os.stat(aside).st_mtime >= cutoff:
            if os.path.exists(final):  # a writer stored it again meanwhile
                os.unlink(aside)
            else:
                os.replace(aside, final)
            return False
        os.unlink(aside)
        return True

    def stale_temporaries(self) -> list[Path]:
        """Partial writes left behind by a crashed process (never visible as objects)."""
        tmp_dir = self.root / TMP_DIR
        return sorted(tmp_dir.glob("*.part")) if tmp_dir.is_dir() else []


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _size_hint(stream: BinaryIO) -> int:
    """The size of a file-backed stream, to size buffers and threads; large if unknown."""
    try:
        return max(64 * 1024, os.fstat(stream.fileno()).st_size)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return CHUNK_SIZE


def _hash_open_file(fh: BinaryIO) -> str:
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        return hash_bytes(b"")
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        hasher = new_hasher(size)
        hasher.update(mapped)
        return hasher.hexdigest()
