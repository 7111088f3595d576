"""Delete one model version that nothing protected refers to (see keel.store.deletion).

What holds a version, as the registry knows it: its aliases (``credit@champion``).
Other concepts' holders (a deployment's routes or shadow, ...) come in ``holders``.
Its approvals and evaluations go with it; evaluations of other versions that used it as
their baseline keep their numbers and lose the link.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput
from keel.store import Store
from keel.store import schema as t
from keel.store.audit import record_event
from keel.store.deletion import Deletion, Holder, check_held, gather
from keel.store.lineage import forget_node

from ._records import ModelVersion, parse_model_ref

__all__ = ["alias_holders", "delete_version"]


def delete_version(
    service: Any,
    ref: str,
    *,
    force: bool = False,
    holders: Iterable[Holder] = (),
) -> Deletion:
    """Delete the model version ``ref`` (``name:N``), refusing while something holds it.

    Args:
        service: a :class:`~keel.registry.RegistryService` (its actor needs ``writer``).
        ref: an explicit version such as ``credit:3`` (a bare name or an alias is refused:
            a delete names exactly what goes).
        force: delete even if something holds it; the result lists what broke.
        holders: other concepts' holders, asked on top of the version's aliases.

    Raises:
        InvalidInput: ``ref`` is not an explicit ``name:N``.
        NotFound: no such version.
        VersionHeld: something holds it and ``force`` is False. Nothing is deleted.
    """
    service.actor.require("writer", "delete a model version")
    version = service.get(_explicit(ref))
    store = service.store
    held = gather([alias_holders, *holders], store, version)
    check_held(
        "model version", version.ref, held, force=force, command=f"keel models delete {version.ref}"
    )
    mv, ev = t.model_versions, t.evaluations
    with store.write() as conn:
        model_id, project_id = conn.execute(
            sa.select(mv.c.model_id, t.models.c.project_id)
            .join(t.models, t.models.c.id == mv.c.model_id)
            .where(mv.c.id == version.id)
        ).one()
        conn.execute(t.model_aliases.delete().where(t.model_aliases.c.version_id == version.id))
        conn.execute(t.approvals.delete().where(t.approvals.c.version_id == version.id))
        conn.execute(ev.update().where(ev.c.baseline_id == version.id).values(baseline_id=None))
        conn.execute(ev.delete().where(ev.c.version_id == version.id))
        forget_node(conn, "model_version", version.id)
        conn.execute(mv.delete().where(mv.c.id == version.id))
        record_event(
            conn,
            project_id=project_id,
            actor=service.actor.name,
            action="delete_version",
            object_kind="model",
            object_id=model_id,
            details={
                "ref": version.ref,
                "version": version.version,
                "forced": bool(force and held),
                "broke": held,
                "package": version.package_digest,
            },
        )
    forced = bool(force and held)
    return Deletion(
        "model_version", version.ref, version.id, forced, held, [version.package_digest]
    )


def _explicit(ref: Any) -> str:
    if isinstance(ref, ModelVersion):
        return ref.ref
    parsed = parse_model_ref(ref)
    if parsed.version is None:
        raise InvalidInput(
            f"Deleting needs an explicit version such as 'credit:3'. Got {ref!r}; a bare "
            "name or an alias is refused so that a delete names exactly what goes. List "
            "versions with 'keel models versions NAME'."
        )
    return ref.strip()


def alias_holders(store: Store, version: ModelVersion) -> list[str]:
    """The version's aliases: each is a name someone loads or serves it by."""
    return [f"alias {version.model}@{alias} points to it" for alias in version.aliases]
