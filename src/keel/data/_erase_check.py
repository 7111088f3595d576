"""The ``keel fsck`` check of recorded erasures: no version matches, no old object remains."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq
import sqlalchemy as sa

from keel.errors import KeelError
from keel.store import Store
from keel.store import schema as t

from ._erase import erasure_events, object_references_to
from ._predicate import Matcher
from ._service import DatasetService

__all__ = ["check_erasures"]


def check_erasures(store: Store) -> list[dict[str, Any]]:
    """Problems with recorded erasures, for ``keel fsck``; an empty list means all is well.

    For every ``erase`` audit event: the predicate must match no row of any current version
    of the dataset (including versions logged since), and none of the objects the erasure
    took out of use may still be stored. Each problem is a dict with ``check``,
    ``problem``, ``object`` and ``detail``. Changes nothing.
    """
    problems: list[dict[str, Any]] = []
    leftovers: dict[str, str] = {}
    for event in erasure_events(store):
        details = event["details"] or {}
        name, predicate = details.get("dataset"), details.get("predicate")
        where = f"erasure {event['id']} of {name!r}"
        service = DatasetService(store, _project_name(store, event["project_id"]))
        try:
            versions = service.versions(name)
            with Matcher(predicate) as matcher:
                for version in versions:
                    if version.kind != "table":
                        continue
                    rows = 0
                    for entry in service.manifest(version).entries:
                        with store.objects.open(entry.digest) as fh:
                            rows += len(matcher.rows(pq.read_table(fh), where=version.ref))
                    if rows:
                        problems.append(
                            _problem(
                                "rows still match",
                                version.ref,
                                f"{rows:,} rows match the predicate of {where} "
                                f"(logged or restored since?); erase them again",
                            )
                        )
        except KeelError as exc:
            problems.append(_problem("cannot check", str(name), f"{where}: {exc.message}"))
        for digest in details.get("erased_objects", []):
            if store.objects.exists(digest):
                leftovers.setdefault(digest, where)
    if leftovers:
        referenced = object_references_to(store, leftovers)
        for digest, where in sorted(leftovers.items()):
            by = referenced.get(digest)
            how = (
                f"still referenced by {', '.join(by)}; erase the rows there too"
                if by
                else "referenced by nothing; run the same erasure again to delete it"
            )
            problems.append(
                _problem(
                    "erased object still stored", digest, f"taken out of use by {where}, {how}"
                )
            )
    return problems


def _problem(problem: str, obj: str, detail: str) -> dict[str, Any]:
    return {"check": "erasure", "problem": problem, "object": obj, "detail": detail}


def _project_name(store: Store, project_id: str) -> str:
    with store.read() as conn:
        return conn.execute(
            sa.select(t.projects.c.name).where(t.projects.c.id == project_id)
        ).scalar_one()
