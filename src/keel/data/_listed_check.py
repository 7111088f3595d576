"""The ``keel fsck`` check that every object a version lists is stored.

Metadata columns refer to objects by foreign key, and :func:`keel.store.fsck.fsck` checks
those; the files of a dataset version and of a model package are listed inside their
manifest objects instead, which only the concepts can read.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.store import Store
from keel.store import schema as t

from ._erase import versions_holding

__all__ = ["check_listed_objects"]


def check_listed_objects(store: Store) -> list[dict[str, Any]]:
    """Problems for ``keel fsck``: objects a dataset or model version lists (its manifest's
    files, its profile, its package's files) that the object store does not hold.

    Each problem is a dict with ``check``, ``problem``, ``object`` and ``detail`` (the
    versions listing it). An empty list means every listed object is stored. An object
    with a metadata row is left out: fsck's own check of the rows reports it. Changes
    nothing.
    """
    stored = set(store.objects.digests())
    lacking: dict[str, list[str]] = {}
    with store.read() as conn:
        for where, holds in versions_holding(store, conn):
            for digest in sorted(holds - stored):
                lacking.setdefault(digest, []).append(where)
        wanted = sorted(lacking)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = conn.execute(sa.select(t.objects.c.digest).where(t.objects.c.digest.in_(chunk)))
            for (digest,) in rows:
                del lacking[digest]
    return [
        {
            "check": "listed objects",
            "problem": "missing",
            "object": digest,
            "detail": f"listed by {', '.join(places)}; its bytes are not in the object store",
        }
        for digest, places in sorted(lacking.items())
    ]
