"""The object store interface: content-addressed bytes, verified on every read."""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from keel.errors import IntegrityError

from ._hashing import CHUNK_SIZE, check_digest

__all__ = ["ObjectStore", "Source"]

Source = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO
"""What :meth:`ObjectStore.put` accepts: bytes, a file path, or a readable binary stream."""


class ObjectStore(ABC):
    """Content-addressed storage: objects are named by the blake3 digest of their bytes.

    Writes are atomic (nothing is visible until every byte is stored) and idempotent
    (the same bytes are stored once). Reads verify the digest and raise
    :class:`~keel.errors.IntegrityError` naming the object when the bytes do not match.

    Example::

        >>> import tempfile
        >>> from keel.store.objects import open_object_store
        >>> store = open_object_store(tempfile.mkdtemp())
        >>> digest = store.put(b"hello")
        >>> store.read_bytes(digest)
        b'hello'
    """

    url: str

    @abstractmethod
    def put(self, source: Source) -> str:
        """Store ``source`` (bytes, a path or a binary stream) and return its digest.

        Streams and files are read in chunks, so objects larger than memory are fine.
        """

    @abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """Open an object for reading, after verifying its bytes against ``digest``.

        Raises:
            ObjectNotFound: no object with this digest.
            IntegrityError: the stored bytes do not hash to ``digest``.
        """

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether an object with this digest is stored (without reading it)."""

    @abstractmethod
    def verify(self, digest: str) -> bool:
        """Re-hash the stored object; True if intact, False if corrupt.

        Raises:
            ObjectNotFound: no object with this digest.
        """

    @abstractmethod
    def delete(self, digest: str) -> bool:
        """Remove an object; True if it was there. Callers make sure nothing refers to it."""

    @abstractmethod
    def digests(self) -> Iterator[str]:
        """Every digest in the store, in no particular order."""

    @abstractmethod
    def size(self, digest: str) -> int:
        """Size of an object in bytes."""

    # Conveniences built on the primitives above.

    def removals_started(self) -> int | None:
        """When (``time.time_ns()``) objects were last about to be removed (``keel gc
        --objects``, an erasure): 0 if never, None if this store cannot tell.

        An object known to be stored at a later time is still stored: a writer whose stat
        cache checked its files after this need not :meth:`freshen` their objects.
        """
        return None

    def mark_removal(self) -> None:
        """Record that objects are about to be removed (see :meth:`removals_started`);
        called before the first removal. A store that cannot tell does nothing."""
        return None

    def freshen(self, digests: Iterable[str]) -> list[str]:
        """Mark the stored objects among ``digests`` as just written; return the others.

        A writer about to record a reference to objects it did not put itself (a file the
        stat cache knows, an object a server said it has) calls this first: ``keel gc
        --objects`` keeps an object written within its grace period, so the reference can
        never end up naming bytes that gc removed meanwhile. The digests returned (in
        order, once each) are not stored: the writer must put them again. A store that
        cannot refresh an object's time (S3) only reports; gc's longer grace period there
        covers the writer.
        """
        return [digest for digest in dict.fromkeys(digests) if not self.exists(digest)]

    def put_many(self, sources: list[Source], *, workers: int = 4) -> list[str]:
        """Store many files or byte strings, in parallel; digests in the same order.

        blake3 and file I/O release the GIL, so threads overlap hashing and copying.
        """
        if len(sources) < 2 or workers < 2:
            return [self.put(source) for source in sources]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self.put, sources))

    def read_bytes(self, digest: str) -> bytes:
        """The verified bytes of an object."""
        with self.open(digest) as fh:
            return fh.read()

    def get(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy a verified object to ``dest`` atomically and return the path."""
        import shutil
        import tempfile

        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with self.open(digest) as src, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK_SIZE)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def _corrupt(self, digest: str, actual: str) -> IntegrityError:
        return IntegrityError(
            f"Object {digest} in {self.url} is corrupt: its bytes hash to {actual}. "
            "Restore it from a copy, or run 'keel fsck' to list everything affected."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def as_stream(source: Source) -> tuple[BinaryIO, bool]:
    """Return a readable stream for ``source`` and whether the caller must close it."""
    from keel.errors import InvalidInput, NotFound

    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source), True
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            return open(path, "rb"), True
        except FileNotFoundError as exc:
            raise NotFound(f"Cannot store {path}: no such file.") from exc
        except IsADirectoryError as exc:
            raise InvalidInput(
                f"Cannot store {path}: it is a folder. Store its files one by one."
            ) from exc
    if hasattr(source, "read"):
        return source, False
    raise InvalidInput(
        f"Cannot store an object of type {type(source).__name__}. "
        "Give bytes, a file path or a binary stream opened with 'rb'."
    )


__all__ += ["as_stream", "check_digest"]
