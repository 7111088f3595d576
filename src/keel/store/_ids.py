"""Identifiers and timestamps for metadata records."""

from __future__ import annotations

import secrets
import threading
import time

__all__ = ["new_id", "now_ms"]


def now_ms() -> int:
    """Milliseconds since the Unix epoch, the unit of every time column."""
    return time.time_ns() // 1_000_000


_last = [0, 0]  # the last id's milliseconds and random part
_lock = threading.Lock()
_RANDOM_MAX = (1 << 80) - 1


def new_id() -> str:
    """A 32-hex-character id: 48 bits of milliseconds then 80 random bits.

    Ids sort by creation time, which keeps B-tree inserts local and listings cheap. Within
    one millisecond a process counts up from its last random part instead of drawing a new
    one, so the ids one process makes sort in the order it made them (audit histories read
    back in the order things happened, not shuffled within a millisecond).
    """
    ms = now_ms()
    with _lock:
        if ms <= _last[0] and _last[1] < _RANDOM_MAX:
            ms, rest = _last[0], _last[1] + 1
        else:
            rest = secrets.randbits(80)
        _last[0], _last[1] = ms, rest
    return f"{ms:012x}{rest:020x}"
