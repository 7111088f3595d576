"""Identifiers and timestamps for metadata records."""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id", "now_ms"]


def now_ms() -> int:
    """Milliseconds since the Unix epoch, the unit of every time column."""
    return time.time_ns() // 1_000_000


def new_id() -> str:
    """A 32-hex-character id: 48 bits of milliseconds then 80 random bits.

    Ids sort by creation time, which keeps B-tree inserts local and listings cheap.
    """
    return f"{now_ms():012x}{secrets.token_hex(10)}"
