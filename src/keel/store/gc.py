"""Reclaim what interrupted writers left behind: partial object writes, dead runs.

A killed ``keel data add`` or ``log_artifact`` leaves its temporary files under the
object store's ``tmp/`` folder; they are never visible as objects, but they take space
until :func:`gc` removes them. Only files older than a grace period are removed, so a
writer that is still running never loses the file it is writing.

Concepts add their own steps (the CLI passes the expiry of dead runs from
:mod:`keel.tracking`); the store does not know them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._store import Store

__all__ = ["DEFAULT_GRACE_S", "GcReport", "Step", "gc", "temporaries"]

DEFAULT_GRACE_S = 3600.0
"""Temporary files younger than this (seconds) may belong to a live writer and are kept."""

Step = Callable[[Store, bool], list[dict[str, Any]]]
"""An extra gc step: the store and ``dry_run`` in, what it did (or would do) out."""


@dataclass
class GcReport:
    """What :func:`gc` removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    older_than_s: float
    removed: list[dict[str, Any]] = field(default_factory=list)
    """Temporary files: ``path``, ``bytes`` and ``age_s``."""
    kept_recent: int = 0
    """Temporary files younger than the grace period (perhaps a live writer's)."""
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def bytes_freed(self) -> int:
        return sum(item["bytes"] for item in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "older_than_s": self.older_than_s,
            "removed": self.removed,
            "bytes_freed": self.bytes_freed,
            "kept_recent": self.kept_recent,
            "steps": self.steps,
        }


def temporaries(store: Store) -> list[tuple[Path, int, float]]:
    """Partial writes in the object store: (path, bytes, modification time)."""
    stale = getattr(store.objects, "stale_temporaries", None)
    found = []
    for path in stale() if stale else []:
        try:
            info = os.stat(path)
        except FileNotFoundError:  # its writer finished (or gc ran) meanwhile
            continue
        found.append((Path(path), info.st_size, info.st_mtime))
    return found


def gc(
    store: Store,
    *,
    older_than: float = DEFAULT_GRACE_S,
    dry_run: bool = False,
    steps: Mapping[str, Step] | None = None,
) -> GcReport:
    """Remove temporary files older than ``older_than`` seconds, then run ``steps``.

    Args:
        store: the store to clean.
        older_than: grace period in seconds; younger temporary files are kept, since a
            writer may still be writing them.
        dry_run: report what would be removed, remove nothing.
        steps: concept-level steps by name, e.g. ``{"expired_runs": ...}``.

    Unreferenced objects are not removed: one written by a process that is about to
    record it is indistinguishable from a leftover.
    """
    if older_than < 0:
        from keel.errors import InvalidInput

        raise InvalidInput(
            f"The grace period of gc must be zero or more seconds. Got {older_than!r}."
        )
    report = GcReport(dry_run=dry_run, older_than_s=older_than)
    now = time.time()
    for path, size, mtime in temporaries(store):
        age = now - mtime
        if age < older_than:
            report.kept_recent += 1
            continue
        if not dry_run:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
        report.removed.append({"path": str(path), "bytes": size, "age_s": round(age, 1)})
    for name, step in (steps or {}).items():
        report.steps[name] = step(store, dry_run)
    return report
