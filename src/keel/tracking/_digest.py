"""``Content-Digest`` (RFC 9530) for artifact uploads: the client says what it sends, the
server checks that it received exactly that before storing anything."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import BinaryIO

from keel.errors import InvalidInput

__all__ = ["content_digest", "parse_content_digest"]

_ALGORITHMS = {"sha-256": "sha256", "sha-512": "sha512"}


def content_digest(stream: BinaryIO, chunk: int = 1024 * 1024) -> str | None:
    """The ``Content-Digest`` header for the rest of a seekable stream (rewound after),
    or None when the stream cannot be read twice."""
    if not (hasattr(stream, "seekable") and stream.seekable()):
        return None
    start = stream.tell()
    hasher = hashlib.sha256()
    for block in iter(lambda: stream.read(chunk), b""):
        hasher.update(block)
    stream.seek(start)
    return f"sha-256=:{base64.b64encode(hasher.digest()).decode()}:"


def parse_content_digest(header: str | None) -> tuple[str, bytes] | None:
    """``(hashlib name, digest)`` of the strongest supported entry of a header, or None.

    Raises:
        InvalidInput: the header is present but names no supported algorithm or is malformed.
    """
    if not header:
        return None
    found: dict[str, bytes] = {}
    for item in header.split(","):
        label, _, value = item.strip().partition("=")
        algorithm = _ALGORITHMS.get(label.strip().lower())
        value = value.strip()
        if algorithm is None:
            continue
        try:
            if not (value.startswith(":") and value.endswith(":") and len(value) > 2):
                raise ValueError(value)
            raw = base64.b64decode(value[1:-1], validate=True)
        except (ValueError, binascii.Error) as exc:
            raise InvalidInput(
                f"The Content-Digest header {header[:120]!r} is malformed: expected "
                "'sha-256=:<base64 digest>:' (RFC 9530)."
            ) from exc
        if len(raw) != hashlib.new(algorithm).digest_size:
            raise InvalidInput(
                f"The Content-Digest {label.strip()} value has {len(raw)} bytes; "
                f"{label.strip()} digests have {hashlib.new(algorithm).digest_size}."
            )
        found[algorithm] = raw
    if not found:
        raise InvalidInput(
            f"The Content-Digest header {header[:120]!r} names no supported algorithm; "
            f"use one of {', '.join(_ALGORITHMS)}."
        )
    best = "sha512" if "sha512" in found else "sha256"
    return best, found[best]
