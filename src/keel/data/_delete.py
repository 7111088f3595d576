"""Delete one dataset version that nothing protected refers to (see keel.store.deletion).

What holds a version, as this concept knows it: its tags (``credit@prod``) and the records
lineage says were made from it (runs and model versions trained on it, versions derived
from it). Other concepts' holders (a monitor's reference data, ...) come in ``holders``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput
from keel.store import Store
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import record_event
from keel.store.deletion import Deletion, Holder, check_held, gather
from keel.store.lineage import forget_node

from ._service import DatasetService
from ._versions import DatasetVersion, parse_ref

__all__ = ["delete_version", "lineage_holders", "tag_holders"]


def delete_version(
    service: DatasetService,
    ref: str,
    *,
    force: bool = False,
    actor: Actor | None = None,
    holders: Iterable[Holder] = (),
) -> Deletion:
    """Delete the dataset version ``ref`` (``name:vN``), refusing while something holds it.

    Args:
        service: the datasets of a store and project.
        ref: an explicit version such as ``credit:v2`` (a bare name or a tag is refused:
            a delete names exactly what goes).
        force: delete even if something holds it; the result lists what broke.
        actor: who deletes (needs the writer role); the OS user by default.
        holders: other concepts' holders, asked on top of tags and lineage.

    Raises:
        InvalidInput: ``ref`` is not an explicit ``name:vN``.
        NotFound: no such version.
        VersionHeld: something holds it and ``force`` is False. Nothing is deleted.
    """
    actor = actor or Actor.local()
    actor.require("writer", "delete a dataset version")
    version = service.resolve(_explicit(ref))
    store = service.store
    held = gather([tag_holders, lineage_holders, *holders], store, version)
    check_held(
        "dataset version", version.ref, held, force=force, command=f"keel data delete {version.ref}"
    )
    dv = t.dataset_versions
    with store.write() as conn:
        dataset_id, project_id = conn.execute(
            sa.select(dv.c.dataset_id, t.datasets.c.project_id)
            .join(t.datasets, t.datasets.c.id == dv.c.dataset_id)
            .where(dv.c.id == version.id)
        ).one()
        conn.execute(t.dataset_tags.delete().where(t.dataset_tags.c.version_id == version.id))
        conn.execute(
            t.schemas.update()
            .where(t.schemas.c.inferred_from == version.id)
            .values(inferred_from=None)
        )
        forget_node(conn, "dataset_version", version.id)
        conn.execute(dv.delete().where(dv.c.id == version.id))
        digests = [d for d in (version.manifest_digest, version.profile_digest) if d]
        record_event(
            conn,
            project_id=project_id,
            actor=actor.name,
            action="delete_version",
            object_kind="dataset",
            object_id=dataset_id,
            details={
                "ref": version.ref,
                "version": version.version,
                "forced": bool(force and held),
                "broke": held,
                "manifest": version.manifest_digest,
            },
        )
    return Deletion("dataset_version", version.ref, version.id, bool(force and held), held, digests)


def _explicit(ref: Any) -> str:
    if isinstance(ref, DatasetVersion):
        return ref.ref
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput(f"A dataset version to delete must be a reference. Got {ref!r}.")
    parsed = parse_ref(ref.strip())
    if parsed.name is None or getattr(parsed, "version", None) is None:
        raise InvalidInput(
            f"Deleting needs an explicit version such as 'credit:v2'. Got {ref!r}; a bare "
            "name, a tag or a digest is refused so that a delete names exactly what goes. "
            "List versions with 'keel data versions NAME'."
        )
    return ref.strip()


def tag_holders(store: Store, version: DatasetVersion) -> list[str]:
    """The version's tags: each is a name someone reads it by."""
    return [f"tag {version.dataset}@{tag} points to it" for tag in version.tags]


def lineage_holders(store: Store, version: DatasetVersion) -> list[str]:
    """Records lineage says were made from it: consumers and derived versions."""
    le = t.lineage_edges
    with store.read() as conn:
        rows = conn.execute(
            sa.select(le.c.relation, le.c.dst_kind, le.c.dst_id).where(
                le.c.src_kind == "dataset_version", le.c.src_id == version.id
            )
        ).all()
        said = []
        for relation, kind, dst in rows:
            if kind == "dataset_version":
                said.append(f"dataset version {_dataset_ref(conn, dst)} was derived from it")
            elif kind == "model_version":
                said.append(f"model version {dst} was trained on it ({relation})")
        return said


def _dataset_ref(conn: sa.Connection, version_id: str) -> str:
    dv, d = t.dataset_versions, t.datasets
    row = conn.execute(
        sa.select(d.c.name, dv.c.version)
        .join(d, d.c.id == dv.c.dataset_id)
        .where(dv.c.id == version_id)
    ).first()
    return f"{row[0]}:v{row[1]}" if row else version_id
