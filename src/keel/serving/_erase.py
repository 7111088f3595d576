"""Right to erasure in prediction logs and feedback: rewrite parts without matching rows.

The order keeps data safe, as dataset erasure does: read and match everything first, write
the rewritten parts as new objects, switch the part rows to them in one transaction with an
``erase`` audit event, then delete the old objects nothing refers to any more. A crash
before the switch leaves the old state (and unreferenced new objects); after it, old
objects that ``keel fsck`` reports against the erasure and running it again deletes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from keel.errors import IntegrityError, InvalidInput
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import audit_events, record_event

from .predictions import KINDS, check_part, hashed_columns, to_parquet

if TYPE_CHECKING:
    import pyarrow as pa

    from keel.store import Store

    from .predictions import PredictionStore

__all__ = ["ERASE", "check_prediction_erasures", "erase_rows", "prediction_owners"]

ERASE = "erase"
OBJECT_KIND = "prediction_log"
MAX_VALUES = 10_000


def erase_rows(
    predictions: PredictionStore, *, column: str, values: list, actor: str | None = None
) -> int:
    """See :meth:`PredictionStore.erase`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(column, str) or not column or len(column) > 200:
        raise InvalidInput(f"column must name a log column or input feature. Got {column!r}.")
    if (
        isinstance(values, str | bytes)
        or not isinstance(values, Collection)
        or not 0 < len(values) <= MAX_VALUES
    ):
        raise InvalidInput(f"values must be a list of 1 to {MAX_VALUES:,} values to erase.")
    if any(v is None or isinstance(v, dict | list) for v in values):
        raise InvalidInput("values must be numbers or text (no null, list or mapping).")
    plain = sorted({str(v) for v in values})
    hashed: list[str] | None = None
    store = predictions.store
    changes = []
    for kind in KINDS:
        for part in predictions.parts(kind):
            table = predictions._read_part(part["digest"], what=f"part {part['id']}")
            target = _column(table, column)
            if target is None:
                continue
            wanted = plain
            if column in hashed_columns(table):
                if hashed is None:
                    from ._hashing import hash_values

                    hashed = [h for h in hash_values(predictions.hash_key(), plain) if h]
                wanted = hashed
            text = pc.cast(target, pa.string())
            match = pc.fill_null(pc.is_in(text, value_set=pa.array(wanted, pa.string())), False)
            removed = pc.sum(match).as_py() or 0
            if removed:
                kept = table.filter(pc.invert(match))
                changes.append((part, kept, removed))
    if not changes:
        return 0
    new_digests = {}
    for part, kept, _ in changes:
        if kept.num_rows:
            new_digests[part["id"]] = store.objects.put(to_parquet(kept))
    project_id = store.project_id(predictions.project)
    erased = sorted({part["digest"] for part, _, _ in changes} - set(new_digests.values()))
    p = t.prediction_parts
    with store.write() as conn:
        for part, kept, _ in changes:
            where = sa.and_(p.c.id == part["id"], p.c.digest == part["digest"])
            if not kept.num_rows:
                done = conn.execute(p.delete().where(where)).rowcount
            else:
                digest = new_digests[part["id"]]
                rows, first, last = check_part(part["kind"], kept)
                store.record_object(digest, conn=conn, media_type="application/vnd.apache.parquet")
                done = conn.execute(
                    p.update()
                    .where(where)
                    .values(digest=digest, rows=rows, first_at=first, last_at=last)
                ).rowcount
            if done != 1:
                raise IntegrityError(
                    f"Prediction part {part['id']} changed while rows were being erased. "
                    "Nothing was erased; run the erasure again."
                )
        record_event(
            conn,
            project_id=project_id,
            actor=actor or Actor.local().name,
            action=ERASE,
            object_kind=OBJECT_KIND,
            object_id=project_id,
            details={
                "column": column,
                "values": len(plain),
                "rows_removed": sum(n for _, _, n in changes),
                "parts": [
                    {"id": part["id"], "old": part["digest"], "new": new_digests.get(part["id"])}
                    for part, _, _ in changes
                ],
                "erased_objects": erased,
            },
        )
    _delete_unreferenced(store, erased)
    return sum(n for _, _, n in changes)


def _column(table: pa.Table, column: str) -> Any:
    if column in table.column_names and column != "input":
        return table.column(column)
    if "input" in table.column_names:
        inputs = table.column("input")
        names = [inputs.type.field(i).name for i in range(inputs.type.num_fields)]
        if column in names:
            import pyarrow.compute as pc

            return pc.struct_field(inputs, column)
    return None


def _delete_unreferenced(store: Store, digests: list[str]) -> list[str]:
    """Delete those of ``digests`` no metadata column refers to; the deleted ones."""
    from keel.store.fsck import object_references

    if not digests:
        return []
    with store.write() as conn:
        used: set[str] = set()
        for ref in object_references():
            if ref.table == "objects":
                continue
            column = t.metadata.tables[ref.table].c[ref.column]
            used |= set(conn.execute(sa.select(column).where(column.in_(digests))).scalars())
        gone = [d for d in digests if d not in used]
        if gone:
            conn.execute(sa.delete(t.objects).where(t.objects.c.digest.in_(gone)))
    if gone:
        store.objects.mark_removal()
    for digest in gone:
        store.objects.delete(digest)
    return gone


def check_prediction_erasures(store: Store) -> list[dict[str, Any]]:
    """``keel fsck`` check: no object an erasure of prediction logs took out of use is
    still stored or referenced by a part (else its rows live on)."""
    with store.read() as conn:
        events = audit_events(conn, object_kind=OBJECT_KIND, action=ERASE)
        p = t.prediction_parts
        problems = []
        for event in events:
            for digest in (event["details"] or {}).get("erased_objects", []):
                referenced = conn.execute(sa.select(p.c.id).where(p.c.digest == digest)).first()
                if referenced is not None or store.objects.exists(digest):
                    problems.append(
                        {
                            "check": "prediction erasure",
                            "problem": "erased rows still stored",
                            "object": digest,
                            "detail": (
                                f"erasure of {event['details'].get('column')!r} at "
                                f"{event['created_at']} left this part; run the erasure again"
                            ),
                        }
                    )
    return problems


def prediction_owners(store: Store, digests: Collection[str]) -> dict[str, list[str]]:
    """Digest -> ``"prediction log <project>/<deployment> <kind> part <id>"`` (fsck owners)."""
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    p, pr = t.prediction_parts, t.projects
    owners: dict[str, list[str]] = {}
    with store.read() as conn:
        rows = conn.execute(
            sa.select(p.c.digest, pr.c.name, p.c.deployment, p.c.kind, p.c.id, p.c.rows)
            .join(pr, pr.c.id == p.c.project_id)
            .where(p.c.digest.in_(wanted))
        ).all()
    for digest, project, deployment, kind, part_id, count in rows:
        owners.setdefault(digest, []).append(
            f"prediction log {project}/{deployment} {kind} part {part_id} ({count:,} rows)"
        )
    return owners
