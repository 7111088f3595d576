"""An upload's body as a file the object store reads straight from the connection.

The route used to receive the whole body into a spool file (hashing it), then hand the
spool to the store, which read it back, hashed it and wrote it again: every byte over
1 MiB was written twice. :class:`CheckedBody` instead gives the store a readable stream
whose bytes come from the request as the store asks for them, so each byte is written
once, by the store, into its own temporary file. The body is counted and hashed as it
arrives; at its end, a body that is short, too long or not the announced object makes
the *read* fail, so the store drops its temporary file and nothing becomes visible.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.from_thread

from keel.errors import InvalidInput, PayloadTooLarge
from keel.store.objects._hashing import new_hasher

__all__ = ["BodyFeed", "CheckedBody"]

HANDOFF = 1024 * 1024
"""Bytes gathered on the event loop before they go to the store's thread."""


class BodyFeed:
    """The event-loop side of an upload: the body's pieces as received, counted against
    ``limit`` and, at the end, against the ``Content-Length`` it announced.

    Args:
        chunks: the request's body stream (``request.stream()``).
        declared: the body's ``Content-Length``, if it gave one.
        limit: most bytes accepted.
        incomplete: the message for a body that ended early or broke off, given the bytes seen.
        too_large: the message for a body past ``limit``, given the bytes seen.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        declared: int | None,
        limit: int,
        incomplete: Callable[[int], str],
        too_large: Callable[[int], str],
    ) -> None:
        self._chunks = chunks
        self.declared = declared
        self.limit = limit
        self._incomplete = incomplete
        self._too_large = too_large
        self.size = 0

    async def next(self) -> list[bytes]:
        """Up to :data:`HANDOFF` more bytes, as received; an empty list at the end."""
        from starlette.requests import ClientDisconnect

        pieces: list[bytes] = []
        gathered = 0
        try:
            while gathered < HANDOFF:
                try:
                    chunk = await self._chunks.__anext__()
                except StopAsyncIteration:
                    if self.declared is not None and self.size != self.declared:
                        raise InvalidInput(self._incomplete(self.size)) from None
                    break
                if not chunk:
                    continue
                self.size += len(chunk)
                if self.size > self.limit:
                    raise PayloadTooLarge(self._too_large(self.size))
                pieces.append(chunk)
                gathered += len(chunk)
        except ClientDisconnect as exc:
            raise InvalidInput(self._incomplete(self.size)) from exc
        return pieces


class CheckedBody(io.RawIOBase):
    """A read-only stream over a request body, for an object store's ``put`` run in a
    worker thread (it fetches each piece from the event loop).

    Args:
        chunks: the request's body stream (``request.stream()``).
        digest: the object the body must be.
        declared: the body's ``Content-Length``, if it gave one.
        limit: most bytes accepted.
        incomplete: the message for a body that ended early or broke off.
        too_large: the message for a body past ``limit``, given the bytes seen.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        digest: str,
        *,
        declared: int | None,
        limit: int,
        incomplete: Callable[[int], str],
        too_large: Callable[[int], str],
    ) -> None:
        self._feed = BodyFeed(
            chunks, declared=declared, limit=limit, incomplete=incomplete, too_large=too_large
        )
        self.digest = digest
        self._hasher = new_hasher(declared or 0)
        self._pending = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            if self._ended:
                return 0
            self._pending = memoryview(anyio.from_thread.run(self._next))
            if not self._pending:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    @property
    def size(self) -> int:
        """Bytes of the body received so far."""
        return self._feed.size

    async def _next(self) -> bytes:
        """Up to :data:`HANDOFF` more bytes; b"" at the end, once the body checked out."""
        pieces = await self._feed.next()
        if not pieces:
            self._finish()
        for piece in pieces:
            self._hasher.update(piece)
        return b"".join(pieces)

    def _finish(self) -> None:
        self._ended = True  # the feed checked the announced length
        actual = self._hasher.hexdigest()
        if actual != self.digest:
            raise InvalidInput(
                f"Object {self.digest}: the {self.size} bytes received hash to {actual}, so "
                "they are not this object (damaged in transit, or sent under the wrong "
                "digest). Nothing was stored; send the object's own bytes under their blake3 "
                "digest."
            )
