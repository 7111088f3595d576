"""A batch upload (``POST /objects/batch``) received straight into a local object store.

The route used to read the whole body into memory, parse it, hash every object in a second
pass and only then write each one: every byte was copied three times in user space and
the body's size was bounded by the memory it held. Here the body is read piece by piece
(gathered on the event loop, handed to one worker thread about 1 MiB at a time, not
joined), and each piece is hashed and written to its object's temporary file in the same
pass. Small objects are kept in memory for a pack (a few MiB a batch at most, the rest go
to files). Only when the whole body arrived and every object matched its digest are they
made durable and renamed into place with two flushes of the filesystem for the batch
(:meth:`~keel.store.objects.LocalObjectStore.publish_staged`); a body that is malformed,
cut off, too large or holds a wrong object leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable

import anyio.from_thread

from keel.errors import InvalidInput, StoreUnavailable
from keel.store.objects import LocalObjectStore
from keel.store.objects._durable import start_writeback
from keel.store.objects._hashing import DIGEST_RE, new_hasher
from keel.store.objects._http_batch import BATCH_OBJECTS
from keel.store.objects._packs import PACK_THRESHOLD

from ._upload import BodyFeed

__all__ = ["batch_feed", "receive_batch"]

SMALL_HELD = 4 * 1024 * 1024
"""Most bytes of small objects one batch keeps in memory for a pack; the rest are files."""
_HEADER_MAX = 64 + 1 + 20 + 1


def batch_feed(
    chunks: AsyncIterator[bytes],
    *,
    declared: int | None,
    limit: int,
    too_large: Callable[[int], str],
) -> BodyFeed:
    """The event-loop side of a batch upload: its body's pieces, counted against ``limit``
    and against the ``Content-Length`` it announced."""

    def incomplete(size: int) -> str:
        if declared is not None and size != declared:
            return _cut_off(size, declared)
        return "The batch was cut off before its end. Nothing was stored; send it again."

    return BodyFeed(
        chunks, declared=declared, limit=limit, incomplete=incomplete, too_large=too_large
    )


def receive_batch(store: LocalObjectStore, feed: BodyFeed) -> list[tuple[str, int]]:
    """Receive, check and store a batch body (run in a worker thread): ``(digest, size)``
    of each object, once, in order.

    Raises:
        InvalidInput: the body is empty, malformed, cut off, holds too many objects or an
            object whose bytes do not hash to its digest; nothing of it was stored.
        PayloadTooLarge: the body went past the feed's limit; nothing was stored.
    """
    writer = _BatchWriter(store)
    try:
        while pieces := anyio.from_thread.run(feed.next):
            for piece in pieces:
                writer.take(piece)
        writer.end()
        files, writer.files = writer.files, {}
        store.publish_staged(files, writer.small)
    except OSError as exc:  # the store's disk refused a write: full, read-only, gone
        raise StoreUnavailable(
            f"Cannot write to the object store {store.root}: {exc.strerror or exc}. Nothing "
            "of the batch was stored. Check that the folder exists, is writable and has free "
            "space (KEEL_OBJECTS says where it is)."
        ) from exc
    finally:
        writer.discard()
    return writer.stored


class _BatchWriter:
    """Parses the batch framing as pieces arrive, hashing and writing each object."""

    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store
        self.files: dict[str, str] = {}  # digest -> temporary file, complete and checked
        self.small: list[tuple[str, bytes]] = []
        self.stored: list[tuple[str, int]] = []
        self._seen: set[str] = set()
        self._small_bytes = 0
        self._head = bytearray()
        self._at = 0  # bytes of the body before the current piece
        self._count = 0
        # the object being received
        self._digest = ""
        self._size = 0
        self._left: int | None = None  # None: between objects (in a header)
        self._hasher = new_hasher(0)
        self._fd: int | None = None
        self._tmp: str | None = None
        self._buffer: bytearray | None = None

    def take(self, piece: bytes) -> None:
        """Consume one piece of the body."""
        view = memoryview(piece)
        pos, n = 0, len(piece)
        while pos < n:
            if self._left is None:
                room = _HEADER_MAX - len(self._head)
                start = self._at + pos - len(self._head)  # where the header began
                end = piece.find(b"\n", pos, pos + room)
                if end < 0:
                    self._head += view[pos : min(n, pos + room)]
                    if len(self._head) >= _HEADER_MAX:
                        raise InvalidInput(_no_header(start))
                    pos = n
                    break
                self._head += view[pos:end]
                pos = end + 1
                line, self._head = bytes(self._head), bytearray()
                self._begin(line, start)
                continue
            size = min(self._left, n - pos)
            part = view[pos : pos + size]
            self._hasher.update(part)
            if self._fd is not None:
                _write_all(self._fd, part)
            elif self._buffer is not None:
                self._buffer += part
            self._left -= size
            pos += size
            if self._left == 0:
                self._finish()
        self._at += n

    def end(self) -> None:
        """The body ended: raise unless it ended just after a whole object."""
        if self._left is not None:
            got = self._size - self._left
            raise InvalidInput(
                _bad(
                    f"is cut off: object {self._digest} announces {self._size} bytes but "
                    f"{got} follow"
                )
            )
        if self._head:
            raise InvalidInput(_no_header(self._at - len(self._head)))
        if not self._count:
            raise InvalidInput(_bad("is empty: send at least one object"))

    def discard(self) -> None:
        """Remove every temporary file not handed to the store."""
        self._close()
        for tmp in [*self.files.values(), *([self._tmp] if self._tmp else [])]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self.files = {}
        self._tmp = None

    def _begin(self, line: bytes, at: int) -> None:
        digest, _, size_text = line.decode("ascii", "replace").partition(" ")
        if not DIGEST_RE.match(digest) or not size_text.isdigit() or not size_text.isascii():
            raise InvalidInput(
                _bad(f"has {line[:90]!r} at byte {at}, not a '<digest> <size>' line")
            )
        self._count += 1
        if self._count > BATCH_OBJECTS:
            raise InvalidInput(_bad(f"holds more than {BATCH_OBJECTS} objects: split it"))
        size = int(size_text)
        self._digest, self._size, self._left = digest, size, size
        self._hasher = new_hasher(0)  # one thread: pieces are small and batches side by side
        if digest in self._seen:  # a repeat: checked, stored once
            pass
        elif size <= PACK_THRESHOLD and self._small_bytes + size <= SMALL_HELD:
            self._buffer = bytearray()
            self._small_bytes += size
        else:
            self._tmp = self.store.staging_path()
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        if size == 0:
            self._finish()

    def _finish(self) -> None:
        actual = self._hasher.hexdigest()
        if actual != self._digest:
            raise InvalidInput(
                f"Object {self._digest} of the batch: its {self._size} bytes hash to {actual}, "
                "so they are not this object. Nothing of the batch was stored; send each "
                "object's own bytes under its blake3 digest."
            )
        if self._digest not in self._seen:
            if self._fd is not None:
                if self.store.fsync:  # the disk starts now; the batch's flush waits less
                    start_writeback(self._fd)
                self._close()
                assert self._tmp is not None
                self.files[self._digest] = self._tmp
                self._tmp = None
            elif self._buffer is not None:
                self.small.append((self._digest, bytes(self._buffer)))
            self._seen.add(self._digest)
            self.stored.append((self._digest, self._size))
        self._buffer = None
        self._left = None

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _no_header(at: int) -> str:
    return _bad(f"has no '<digest> <size>' line at byte {at}")


def _cut_off(size: int, declared: int) -> str:
    return (
        f"The batch was cut off: {size} bytes of the {declared} announced by "
        "Content-Length arrived. Nothing was stored; send it again."
    )


def _bad(what: str) -> str:
    return (
        f"The batch body {what}. Nothing of it was stored. Each object is a line "
        "'<digest> <size>' and a newline, then its bytes."
    )
