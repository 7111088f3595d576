"""The ``keel fsck`` check of recorded erasures: no version matches, no old object remains."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from keel._parquet import read_parquet
from keel.errors import KeelError
from keel.store import Store
from keel.store import schema as t

from ._erase import erasure_events, object_references_to
from ._predicate import Matcher, check_predicate
from ._service import DatasetService

__all__ = ["CopySource", "StoredCopy", "check_erasures"]


@dataclass(frozen=True)
class StoredCopy:
    """A few rows kept outside a dataset's versions by another concept (the input example a
    model package stores, say), which an erasure must not have missed.

    Attributes:
        ref: what holds the copy, as users name it (``"credit:3"``).
        table: the rows.
        what: what the copy is, for messages (``"model input example"``).
        remedy: how to remove the rows (``"register the model again without them"``).
    """

    ref: str
    table: pa.Table
    what: str
    remedy: str


CopySource = Callable[[Store, str], Iterable[StoredCopy]]
"""The stored copies of one project (store, project id); concepts above data supply them."""


def check_erasures(store: Store, *, copies: Sequence[CopySource] = ()) -> list[dict[str, Any]]:
    """Problems with recorded erasures, for ``keel fsck``; an empty list means all is well.

    For every ``erase`` audit event: the predicate must match no row of any current version
    of the dataset (including versions logged since), nor of any copy the ``copies``
    sources yield for the project (``keel fsck`` passes the registry's stored input
    examples), and none of the objects the erasure took out of use may still be stored.
    Each problem is a dict with ``check``, ``problem``, ``object`` and ``detail``. Changes
    nothing.
    """
    problems: list[dict[str, Any]] = []
    leftovers: dict[str, str] = {}
    by_dataset: dict[tuple[str, str], dict[str, str]] = {}
    for event in erasure_events(store):
        details = event["details"] or {}
        where = f"erasure {event['id']} of {details.get('dataset')!r}"
        key = (event["project_id"], details.get("dataset"))
        by_dataset.setdefault(key, {}).setdefault(details.get("predicate"), where)
        for digest in details.get("erased_objects", []):
            if store.objects.exists(digest):
                leftovers.setdefault(digest, where)
    for (project_id, name), erasures in by_dataset.items():
        try:
            problems += _matching_rows(store, project_id, name, erasures)
        except KeelError as exc:
            problems.append(_problem("cannot check", str(name), exc.message))
        problems += _matching_copies(store, project_id, erasures, copies)
    if leftovers:
        referenced = object_references_to(store, leftovers)
        for digest, where in sorted(leftovers.items()):
            by = referenced.get(digest)
            how = (
                f"still referenced by {', '.join(by)}; erase the rows there too"
                if by
                else "referenced by nothing; run the same erasure again to delete it"
            )
            detail = f"taken out of use by {where}, {how}"
            problems.append(_problem("erased object still stored", digest, detail))
    return problems


def _matching_rows(
    store: Store, project_id: str, name: str, erasures: dict[str, str]
) -> list[dict[str, Any]]:
    """Rows of the dataset's current versions that the erasures' predicates still match;
    every part is read once, whatever the number of erasures."""
    service = DatasetService(store, _project_name(store, project_id))
    checked = {check_predicate(predicate): where for predicate, where in erasures.items()}
    matchers = [(Matcher(predicate), where) for predicate, where in checked.items()]
    problems = []
    try:
        for version in service.versions(name):
            if version.kind != "table":
                continue
            rows = [0] * len(matchers)
            for entry in service.manifest(version).entries:
                with store.objects.open(entry.digest) as fh:
                    table = read_parquet(fh)
                for i, (matcher, _) in enumerate(matchers):
                    rows[i] += len(matcher.rows(table, where=version.ref))
            for count, (_, where) in zip(rows, matchers, strict=True):
                if count:
                    detail = (
                        f"{count:,} rows match the predicate of {where} "
                        "(logged or restored since?); erase them again"
                    )
                    problems.append(_problem("rows still match", version.ref, detail))
    finally:
        for matcher, _ in matchers:
            matcher.close()
    return problems


def _matching_copies(
    store: Store, project_id: str, erasures: dict[str, str], copies: Sequence[CopySource]
) -> list[dict[str, Any]]:
    """Copies of rows kept outside the dataset (a model's input example, say) that hold rows
    an erasure's predicate matches. A copy without the predicate's columns cannot hold them."""
    problems = []
    for source in copies:
        for copy in source(store, project_id):
            for predicate, where in erasures.items():
                with Matcher(check_predicate(predicate)) as matcher:
                    try:
                        count = len(matcher.rows(copy.table, where=copy.ref))
                    except KeelError:
                        continue  # the copy lacks the predicate's columns
                if count:
                    detail = (
                        f"the {copy.what} holds {count} rows the predicate of {where} "
                        f"matches; {copy.remedy}"
                    )
                    problems.append(_problem(f"{copy.what} holds erased rows", copy.ref, detail))
    return problems


def _problem(problem: str, obj: str, detail: str) -> dict[str, Any]:
    return {"check": "erasure", "problem": problem, "object": obj, "detail": detail}


def _project_name(store: Store, project_id: str) -> str:
    with store.read() as conn:
        return conn.execute(
            sa.select(t.projects.c.name).where(t.projects.c.id == project_id)
        ).scalar_one()
