"""Deleting a version that something may still hold: one rule for every concept.

A dataset version or model version is deleted only when nothing protected refers to it
(a tag or alias, a deployment's routes, a model version's training data, ...). Each
concept knows what holds its own records; what other concepts hold is asked of *holders*
the caller passes (the client wires them, since the store and each concept know no other
concept). Without ``force`` a held version is refused with the list of holders; with
``force`` it is deleted anyway and the result says what broke.

Deleting a version removes its metadata only: its objects become unreferenced and
``keel gc --objects`` reclaims them after its grace period.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from keel.errors import VersionHeld

__all__ = ["Deletion", "Holder", "VersionHeld", "check_held"]

Holder = Callable[[Any, Any], list[str]]
"""What holds a version: (store, version) in, one sentence per holder out (empty if none),
e.g. ``"deployment 'credit-api' routes 90% of its traffic to it"``."""


@dataclass
class Deletion:
    """What deleting a version did: its reference, whether it was forced, and what broke."""

    kind: str
    ref: str
    id: str
    forced: bool = False
    broke: list[str] = field(default_factory=list)
    """The holders that referred to it (only on a forced delete): what no longer works."""
    objects: list[str] = field(default_factory=list)
    """Digests it held; unreferenced now unless another record holds them ('keel gc
    --objects' reclaims those after the grace period)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_held(kind: str, ref: str, holders: list[str], *, force: bool, command: str) -> None:
    """Refuse to delete ``ref`` while ``holders`` is not empty, unless ``force``."""
    if holders and not force:
        listing = "; ".join(holders)
        raise VersionHeld(
            f"Cannot delete {kind} {ref}: {listing}. Nothing was deleted. Remove those "
            f"references first, or run '{command} --force' to delete it anyway (they will "
            "break).",
            holders,
        )


def gather(holders: Iterable[Holder], store: Any, version: Any) -> list[str]:
    """Every sentence the ``holders`` say about ``version``, in order, without repeats."""
    said: dict[str, None] = {}
    for holder in holders:
        for line in holder(store, version):
            said[line] = None
    return list(said)


def highest_deleted(conn: Any, kind: str, object_id: str) -> int:
    """The highest version number ever deleted from a dataset or model (0 if none), so
    that a new version never takes the number of a deleted one."""
    import sqlalchemy as sa

    from . import schema as t

    ae = t.audit_events
    rows = conn.execute(
        sa.select(ae.c.details).where(
            ae.c.object_kind == kind, ae.c.object_id == object_id, ae.c.action == "delete_version"
        )
    ).scalars()
    numbers = [d.get("version") for d in rows if isinstance(d, dict)]
    return max([n for n in numbers if isinstance(n, int)], default=0)


__all__ += ["gather", "highest_deleted"]
