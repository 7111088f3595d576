"""Reclaim what interrupted writers left behind: partial object writes, dead runs.

A killed ``keel data add`` or ``log_artifact`` leaves its temporary files under the
object store's ``tmp/`` folder; they are never visible as objects, but they take space
until :func:`gc` removes them. Only files older than a grace period are removed, so a
writer that is still running never loses the file it is writing.

Concepts add their own steps (the CLI passes the expiry of dead runs from
:mod:`keel.tracking`); the store does not know them.

:func:`collect_objects` removes the objects nothing refers to (``keel gc --objects``), with
a grace period of its own so that it is safe beside active writers; the caller says what
refers to what (the store knows no dataset manifest or model package).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._store import Store

__all__ = [
    "DEFAULT_GRACE_S",
    "GcReport",
    "ObjectsReport",
    "References",
    "Step",
    "collect_objects",
    "gc",
    "temporaries",
]

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


# -- unreferenced objects -------------------------------------------------------------------

References = Callable[..., dict[str, list[str]]]
"""What refers to some digests: ``(store, digests, conn=conn)`` in, digest -> holders out
(``keel.data.object_references_to`` knows every digest column, dataset manifest and model
package; the store knows no concept, so the caller passes it)."""

MIN_GRACE_UNTOUCHABLE_S = 600.0
"""The shortest grace period on an object store that cannot refresh an object's time in
place (S3 and other fsspec stores rewrite a copy older than 5 minutes instead)."""


@dataclass
class ObjectsReport:
    """What :func:`collect_objects` removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    grace_s: float
    removed: list[dict[str, Any]] = field(default_factory=list)
    """Unreferenced objects: ``digest``, ``bytes``, ``age_s``."""
    kept_recent: int = 0
    """Unreferenced objects younger than the grace period (a writer may be about to use them)."""
    referenced: int = 0
    """Objects something refers to (never removed)."""
    packs_merged: int = 0
    """Small packs merged into full ones (a local store's packs; see ``repack``)."""

    @property
    def bytes_freed(self) -> int:
        return sum(item["bytes"] for item in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "grace_s": self.grace_s,
            "removed": self.removed,
            "bytes_freed": self.bytes_freed,
            "kept_recent": self.kept_recent,
            "referenced": self.referenced,
            "packs_merged": self.packs_merged,
        }


def collect_objects(
    store: Store,
    *,
    references: References,
    grace: float | None = None,
    dry_run: bool = False,
) -> ObjectsReport:
    """Remove the objects nothing refers to and nobody wrote within ``grace`` seconds.

    Safe while writers are active: an object put within the grace period is never
    removed (its writer may be about to record a reference to it; putting bytes that are
    already stored counts as writing them again), the references are read inside a write
    transaction, an object row a reference still points to is never dropped (the foreign
    key refuses it), and each object's time is read again, atomically, as it goes.

    Args:
        store: the store to clean.
        references: what refers to digests (see :data:`References`).
        grace: seconds; ``gc_grace_minutes`` of the configuration by default.
        dry_run: list what would go, with sizes; remove nothing.

    Raises:
        InvalidInput: a negative grace period, or one shorter than
            :data:`MIN_GRACE_UNTOUCHABLE_S` on a store that cannot refresh an object's time.
    """
    from keel.errors import InvalidInput

    grace_s = store.config.gc_grace_minutes * 60 if grace is None else grace
    if isinstance(grace_s, bool) or not isinstance(grace_s, int | float) or not grace_s >= 0:
        raise InvalidInput(f"The grace period of gc must be zero or more seconds. Got {grace!r}.")
    objects = store.objects
    atomic = getattr(objects, "delete_if_older", None)
    modified = getattr(objects, "modified", None)
    if modified is None:
        raise InvalidInput(
            f"The object store {objects.url} cannot say when an object was written, so "
            "unreferenced objects cannot be removed safely. Run 'keel gc --objects' where "
            "the object store is reachable as a folder or an fsspec URL."
        )
    if atomic is None and grace_s < MIN_GRACE_UNTOUCHABLE_S:
        raise InvalidInput(
            f"The object store {objects.url} cannot refresh an object's time in place, so "
            f"the grace period must be at least {MIN_GRACE_UNTOUCHABLE_S / 60:.0f} minutes. "
            f"Got {grace_s / 60:g}."
        )
    report = ObjectsReport(dry_run=dry_run, grace_s=grace_s)
    if not dry_run:
        objects.mark_removal()  # before any time is read: writers stop trusting caches
    now = time.time()
    cutoff = now - grace_s
    old: dict[str, float] = {}
    for digest in objects.digests():
        when = modified(digest)
        if when is None:
            continue
        if when >= cutoff:
            report.kept_recent += 1
        else:
            old[digest] = when
    with store.write() as conn:
        held = references(store, sorted(old), conn=conn)
    report.referenced = len(held)
    gone = sorted(set(old) - set(held))
    if not dry_run:
        gone = [d for d in gone if _drop_row(store, d)]
    sizes: dict[str, int] = {}
    for digest in gone:
        try:
            sizes[digest] = objects.size(digest)
        except Exception:
            continue
    # a store with packs removes many objects at once (each pack is rewritten once)
    many = getattr(objects, "delete_many_if_older", None)
    deleted = many(list(sizes), cutoff) if many is not None and not dry_run else set()
    for digest, size in sizes.items():
        if not dry_run:
            if many is not None:
                removed = digest in deleted
            elif atomic is not None:
                removed = atomic(digest, cutoff)
            else:
                removed = _delete_if_old(objects, digest, cutoff)
            if not removed:
                report.kept_recent += 1
                store.record_object(digest)  # a writer put it again: its row comes back
                continue
        report.removed.append(
            {"digest": digest, "bytes": size, "age_s": round(now - old[digest], 1)}
        )
    repack = getattr(objects, "repack", None)  # small packs left by many small adds
    if repack is not None and not dry_run:
        report.packs_merged = repack()
    return report


def _drop_row(store: Store, digest: str) -> bool:
    """Drop the object's metadata row unless a reference still needs it (a foreign key).

    Each row goes in a transaction of its own, so gc never holds one object row while it
    waits for another: a writer holding several rows (``insert_or_hold``, in its own order)
    could otherwise wait on a row gc had dropped while gc waited on one the writer held, and
    PostgreSQL would end one of them with a deadlock. A reference written meanwhile still
    keeps its row: the foreign key refuses the delete.
    """
    import sqlalchemy as sa

    from . import schema

    try:
        with store.write() as conn:
            conn.execute(sa.delete(schema.objects).where(schema.objects.c.digest == digest))
    except sa.exc.IntegrityError:
        return False
    return True


def _delete_if_old(objects: Any, digest: str, cutoff: float) -> bool:
    when = objects.modified(digest)
    if when is None or when >= cutoff:
        return False
    return objects.delete(digest)
