"""Check a store end to end: every object intact, every reference pointing at an object."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from . import schema
from ._store import Store

__all__ = ["Check", "FsckReport", "OwnerSource", "Reference", "fsck", "object_references"]


@dataclass(frozen=True)
class Reference:
    """A metadata column that holds object digests."""

    table: str
    column: str


@dataclass
class FsckReport:
    """What ``keel fsck`` found. ``ok`` is False if anything is missing or corrupt."""

    objects_checked: int = 0
    references_checked: int = 0
    missing: dict[str, list[str]] = field(default_factory=dict)
    """Digest -> the ``table.column`` places that refer to it, for digests not stored."""
    corrupt: list[str] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)
    """Objects stored but not recorded in the metadata (harmless; left by interrupted writes)."""
    stale_temporaries: int = 0
    """Partial writes left by interrupted processes: never objects, reclaimed by ``keel gc``."""
    stale_temporary_bytes: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    """What the extra checks found: dicts with ``check``, ``problem``, ``object``, ``detail``."""
    owners: dict[str, list[str]] = field(default_factory=dict)
    """Digest -> what holds it, in users' words (``dataset default/credit:v3 file
    part-0.parquet``), for every missing or corrupt object an owner source knows."""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt and not self.problems

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "objects_checked": self.objects_checked,
            "references_checked": self.references_checked,
            "missing": self.missing,
            "corrupt": self.corrupt,
            "unreferenced": self.unreferenced,
            "stale_temporaries": self.stale_temporaries,
            "stale_temporary_bytes": self.stale_temporary_bytes,
            "problems": self.problems,
            "owners": self.owners,
        }


def object_references() -> list[Reference]:
    """Every column in the schema that refers to ``objects.digest``, found by foreign key."""
    refs = [Reference("objects", "digest")]
    for table in schema.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "objects" and fk.column.name == "digest":
                refs.append(Reference(table.name, fk.parent.name))
    return refs


Check = Callable[[Store], list[dict[str, Any]]]
"""An extra check run by :func:`fsck`: the store in, a list of problems out (empty if fine)."""

OwnerSource = Callable[[Store, Collection[str]], dict[str, list[str]]]
"""Names what holds some digests (``keel fsck`` passes each concept's); the store knows no
concept, so it cannot say that an object is a dataset's file or a model's package."""


def fsck(
    store: Store,
    progress: Callable[[int, int], None] | None = None,
    *,
    checks: Iterable[Check] = (),
    owners: Iterable[OwnerSource] = (),
) -> FsckReport:
    """Verify every stored object and every reference to one; change nothing.

    Args:
        store: the store to check.
        progress: called with (done, total) as objects are verified.
        checks: concept-level checks that run after the object checks (``keel fsck``
            passes the erasure check of :mod:`keel.data`; the store does not know them).
        owners: sources that name what holds a missing or corrupt object.
    """
    report = FsckReport()
    referenced: dict[str, list[str]] = {}
    with store.read() as conn:
        for ref in object_references():
            column = schema.metadata.tables[ref.table].c[ref.column]
            rows = conn.execute(sa.select(column).where(column.is_not(None)).distinct())
            for (digest,) in rows:
                referenced.setdefault(digest, []).append(f"{ref.table}.{ref.column}")
    report.references_checked = len(referenced)

    stored = set(store.objects.digests())
    total = len(stored)
    for done, digest in enumerate(sorted(stored), start=1):
        if not store.objects.verify(digest):
            report.corrupt.append(digest)
        if progress is not None:
            progress(done, total)
    report.objects_checked = total
    packs = getattr(store.objects, "check_packs", None)  # a pack truncated or corrupt, named
    if packs is not None:
        report.problems.extend(packs())
    report.missing = {d: places for d, places in sorted(referenced.items()) if d not in stored}
    report.unreferenced = sorted(stored - referenced.keys())
    from .gc import temporaries

    partial = temporaries(store)
    report.stale_temporaries = len(partial)
    report.stale_temporary_bytes = sum(size for _, size, _ in partial)
    bad = set(report.missing) | set(report.corrupt)
    for source in owners if bad else ():
        for digest, names in source(store, bad).items():
            report.owners.setdefault(digest, []).extend(names)
    for check in checks:
        report.problems.extend(check(store))
    return report
