"""blake3 content hashing: the one place that decides how digests are computed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

import blake3

__all__ = ["CHUNK_SIZE", "DIGEST_RE", "check_digest", "chunks", "hash_bytes", "new_hasher"]

CHUNK_SIZE = 8 * 1024 * 1024
"""Bytes read per step when streaming; large enough for blake3's threads to pay off."""

DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def new_hasher(size_hint: int = CHUNK_SIZE) -> blake3.blake3:
    """A new blake3 hasher; large inputs are spread over all cores, small ones are not."""
    if size_hint >= CHUNK_SIZE:
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    return blake3.blake3()


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """The hex digest of ``data``."""
    hasher = new_hasher(len(data))
    hasher.update(data)
    return hasher.hexdigest()


def chunks(stream: BinaryIO, size_hint: int = CHUNK_SIZE) -> Iterator[memoryview | bytes]:
    """Read ``stream`` to its end in chunks of up to :data:`CHUNK_SIZE` (one reused buffer,
    no larger than ``size_hint`` so that small files do not allocate 8 MiB each)."""
    size = max(4096, min(CHUNK_SIZE, size_hint))
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        yield from iter(lambda: stream.read(size), b"")
        return
    view = memoryview(bytearray(size))
    while n := readinto(view):
        yield view[:n]


def check_digest(digest: object) -> str:
    """Return ``digest`` if it is a 64-character lowercase hex blake3 digest, else raise."""
    from keel.errors import InvalidInput

    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise InvalidInput(
            f"{digest!r} is not an object digest. Expected 64 lowercase hex characters "
            "(a blake3 digest), as returned by put()."
        )
    return digest
