"""Right to erasure: remove the rows a predicate matches from every version of a dataset.

The order of work is what keeps data safe:

1. check everything (dataset, kind, predicate, columns) and find the matching rows,
   writing nothing;
2. write the rewritten Parquet parts, the new manifests and profiles as new objects;
3. switch the versions to the new manifests in one metadata transaction, together with an
   ``erase`` audit event (who, when, which predicate, rows per version, old and new
   digests); version ids, numbers, tags and lineage edges do not change;
4. delete the old objects that nothing references any more (metadata rows first, then
   the bytes).

A crash before step 3 commits leaves the old state and some unreferenced new objects; a
crash after it leaves the new state and old objects that ``keel fsck`` reports against the
erasure record, and that running the same erasure again deletes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from keel._parquet import read_parquet
from keel.errors import IntegrityError, InvalidInput, ObjectNotFound
from keel.store import Store, now_ms
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import audit_events, record_event

from ._predicate import Matcher, check_predicate
from ._service import DatasetService
from ._versions import DatasetVersion, Manifest, ManifestEntry, check_name, parse_ref

__all__ = ["ErasureResult", "VersionErasure", "erase", "object_references_to"]

ACTION = "erase"
"""The audit event action of an erasure (object_kind ``dataset``)."""


@dataclass(frozen=True)
class VersionErasure:
    """What an erasure did (or would do) to one version."""

    ref: str
    version: int
    rows_before: int
    rows_removed: int
    old_manifest: str
    new_manifest: str | None = None
    """The manifest after erasure; None when the version had no matching rows or on a dry run."""


@dataclass
class ErasureResult:
    """The outcome of :func:`erase`: rows removed per version and objects deleted or kept."""

    dataset: str
    predicate: str
    actor: str
    versions: list[VersionErasure]
    dry_run: bool = False
    erased_at: int | None = None
    """Milliseconds since the Unix epoch when the versions were switched (None on a dry run)."""
    objects_deleted: list[str] = field(default_factory=list)
    objects_kept: dict[str, list[str]] = field(default_factory=dict)
    """Old objects still referenced elsewhere (digest -> by what): the rows live on there."""

    @property
    def rows_removed(self) -> int:
        return sum(v.rows_removed for v in self.versions)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows_removed"] = self.rows_removed
        return data


def erase(
    service: DatasetService,
    dataset: str | DatasetVersion,
    where: str,
    *,
    actor: Any = None,
    dry_run: bool = False,
) -> ErasureResult:
    """Remove the rows matching ``where`` from every version of a table dataset.

    Args:
        service: the datasets of a store and project.
        dataset: the dataset's name (a reference such as ``credit:v2`` names its dataset:
            erasure always covers every version).
        where: one SQL condition on the table's columns, e.g. ``"customer_id = 'c-123'"``.
        actor: who erases: a name, or an object with ``name`` (and ``require(role, what)``,
            as :class:`keel.registry.Actor` has, which must allow ``admin``). The OS user
            by default.
        dry_run: only count the rows each version would lose; change nothing.

    Raises:
        InvalidInput: bad predicate, a files dataset, or a predicate that does not fit a
            version's columns. Nothing is changed.
        NotFound: no such dataset. Nothing is changed.
        IntegrityError: the dataset changed while erasing. Nothing is changed; run again.

    Example::

        >>> import tempfile, pandas as pd
        >>> from keel.store import init_project
        >>> data = DatasetService(init_project(tempfile.mkdtemp()))
        >>> _ = data.log(pd.DataFrame({"customer_id": ["c-1", "c-2"]}), "customers")
        >>> erase(data, "customers", "customer_id = 'c-1'").rows_removed
        1
    """
    predicate = check_predicate(where)
    actor_name = _actor_name(actor)
    name, versions = _versions_of(service, dataset)
    store = service.store
    manifests = {v.id: service.manifest(v) for v in versions}

    matches: dict[str, np.ndarray] = {}
    with Matcher(predicate) as matcher:
        for version in versions:
            for entry in manifests[version.id].entries:
                if entry.digest not in matches:
                    table = _read_part(store, entry.digest)
                    matches[entry.digest] = matcher.rows(table, where=f"{version.ref}")
    plan = [
        VersionErasure(
            ref=v.ref,
            version=v.version,
            rows_before=v.row_count or 0,
            rows_removed=sum(len(matches[e.digest]) for e in manifests[v.id].entries),
            old_manifest=v.manifest_digest,
        )
        for v in versions
    ]
    result = ErasureResult(name, predicate, actor_name, plan, dry_run=dry_run)
    if dry_run:
        return result

    # 2. new objects: rewritten parts, then manifests and profiles of the changed versions
    rewritten = {
        digest: _rewrite_part(store, digest, rows) for digest, rows in matches.items() if len(rows)
    }
    changes = []
    for version, item in zip(versions, plan, strict=True):
        if not item.rows_removed:
            continue
        manifest = _erased_manifest(manifests[version.id], rewritten)
        manifest_digest = store.objects.put(manifest.to_bytes())
        profile = _profile(store, manifest) if version.profile_digest else None
        profile_digest = store.objects.put(profile) if profile else None
        changes.append((version, manifest, manifest_digest, profile_digest))

    old = set(rewritten)
    for version, _, _, _ in changes:
        old.add(version.manifest_digest)
        if version.profile_digest:
            old.add(version.profile_digest)
    new = {e.digest for _, m, _, _ in changes for e in m.entries}
    new |= {d for _, _, md, pd in changes for d in (md, pd) if d}
    erased = sorted(old - new)

    # 3. the switch: one transaction
    by_id = {v.id: d for v, _, d, _ in changes}
    result.versions = [
        VersionErasure(**{**asdict(item), "new_manifest": by_id.get(v.id)})
        for v, item in zip(versions, plan, strict=True)
    ]
    result.erased_at = _switch(service, name, versions, changes, result, erased)

    # 4. delete what nothing references any more (and leftovers of earlier erasures)
    candidates = set(erased) | set(_earlier_leftovers(service, name))
    result.objects_deleted, result.objects_kept = delete_unreferenced(store, candidates)
    return result


# -- checking and reading -----------------------------------------------------------------


def _actor_name(actor: Any) -> str:
    if actor is None:
        return Actor.local().name
    if isinstance(actor, str) and actor.strip():
        return actor.strip()
    require = getattr(actor, "require", None)
    if callable(require):
        require("admin", "erase rows from a dataset")
    name = getattr(actor, "name", None)
    if isinstance(name, str) and name:
        return name
    raise InvalidInput(
        f"actor must be a name or an object with a 'name' (such as keel.registry.Actor). "
        f"Got {actor!r}."
    )


def _versions_of(
    service: DatasetService, dataset: str | DatasetVersion
) -> tuple[str, list[DatasetVersion]]:
    if isinstance(dataset, DatasetVersion):
        name = dataset.dataset
    elif isinstance(dataset, str) and parse_ref(dataset).name is None:
        name = service.resolve(dataset).dataset  # a manifest digest
    else:
        name = check_name(parse_ref(dataset).name)
    versions = service.versions(name)
    files = [v.ref for v in versions if v.kind != "table"]
    if files:
        raise InvalidInput(
            f"Dataset {name!r} holds files, not tables ({', '.join(files)}); rows can only be "
            "erased from table versions, and files versions may be pinned by '.keel' pointer "
            "files in git. Remove the data from the files, 'keel data add' them again, and "
            "delete the old objects by hand."
        )
    return name, versions


def _read_part(store: Store, digest: str) -> pa.Table:
    with store.objects.open(digest) as fh:
        return read_parquet(fh)


def _rewrite_part(store: Store, digest: str, rows: np.ndarray) -> ManifestEntry:
    """Store the part without ``rows``; an entry with the new digest, size and row count."""
    table = _read_part(store, digest)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[rows] = False
    kept = table.filter(pa.array(keep))
    buffer = io.BytesIO()
    pq.write_table(kept, buffer, compression="zstd", write_statistics=True)
    data = buffer.getvalue()
    return ManifestEntry("", store.objects.put(data), len(data), kept.num_rows)


def _erased_manifest(manifest: Manifest, rewritten: dict[str, ManifestEntry]) -> Manifest:
    entries = []
    for entry in manifest.entries:
        new = rewritten.get(entry.digest)
        if new is None:
            entries.append(entry)
        else:
            entries.append(ManifestEntry(entry.path, new.digest, new.size, new.rows))
    non_empty = [e for e in entries if e.rows]
    entries = non_empty or entries[:1]  # an empty table keeps one part for its schema
    rows = sum(e.rows or 0 for e in entries)
    return Manifest(manifest.kind, entries, manifest.schema, rows)


def _profile(store: Store, manifest: Manifest) -> bytes | None:
    """The profile of a rewritten version, part by part and merged (as logging does)."""
    try:
        from ._profile import merge_profiles, profile_table
    except ImportError:  # pragma: no cover - profiles arrive with the profiling module
        return None
    profile = None
    for entry in sorted(manifest.entries, key=lambda e: e.path):
        part = profile_table(
            _read_part(store, entry.digest),
            edges=profile.edges() if profile is not None else None,
        )
        profile = part if profile is None else merge_profiles(profile, part)
    return profile.to_json() if profile is not None else None


# -- the switch -----------------------------------------------------------------------------


def _switch(
    service: DatasetService,
    name: str,
    versions: list[DatasetVersion],
    changes: list[tuple[DatasetVersion, Manifest, str, str | None]],
    result: ErasureResult,
    erased: list[str],
) -> int:
    """Point the changed versions at their new manifests and record the erasure, atomically."""
    store = service.store
    dv = t.dataset_versions
    at = now_ms()
    project_id = store.project_id(service.project)
    with store.write() as conn:
        dataset_id = service._dataset_id(conn, project_id, name, create=False)
        now = conn.execute(
            sa.select(dv.c.id, dv.c.manifest_digest).where(dv.c.dataset_id == dataset_id)
        ).all()
        if dict(now) != {v.id: v.manifest_digest for v in versions}:
            raise IntegrityError(
                f"Dataset {name!r} changed while its rows were being erased (a version was "
                "logged or changed). Nothing was erased; run the erasure again."
            )
        for version, manifest, manifest_digest, profile_digest in changes:
            for entry in manifest.entries:
                store.record_object(entry.digest, conn=conn)
            store.record_object(manifest_digest, conn=conn, media_type="application/json")
            if profile_digest:
                store.record_object(profile_digest, conn=conn, media_type="application/json")
            conn.execute(
                dv.update()
                .where(dv.c.id == version.id, dv.c.manifest_digest == version.manifest_digest)
                .values(
                    manifest_digest=manifest_digest,
                    row_count=manifest.row_count,
                    size=manifest.size,
                    profile_digest=profile_digest,
                )
            )
        _record_audit(conn, project_id, dataset_id, result, changes, erased, at)
    return at


def _record_audit(
    conn: sa.Connection,
    project_id: str,
    dataset_id: str,
    result: ErasureResult,
    changes: list[tuple[DatasetVersion, Manifest, str, str | None]],
    erased: list[str],
    at: int,
) -> None:
    profiles = {v.version: (v.profile_digest, new) for v, _, _, new in changes}
    versions = []
    for item in result.versions:
        old_profile, new_profile = profiles.get(item.version, (None, None))
        versions.append(
            {
                "version": item.version,
                "rows_before": item.rows_before,
                "rows_removed": item.rows_removed,
                "old_manifest": item.old_manifest,
                "new_manifest": item.new_manifest,
                "old_profile": old_profile,
                "new_profile": new_profile,
            }
        )
    record_event(
        conn,
        project_id=project_id,
        actor=result.actor,
        action=ACTION,
        object_kind="dataset",
        object_id=dataset_id,
        details={
            "dataset": result.dataset,
            "predicate": result.predicate,
            "rows_removed": result.rows_removed,
            "versions": versions,
            "erased_objects": erased,
        },
        at=at,
    )


# -- deleting what nothing references -------------------------------------------------------


def erasure_events(store: Store, dataset_id: str | None = None) -> list[dict[str, Any]]:
    """Every recorded erasure (oldest first), optionally of one dataset, as dicts."""
    with store.read() as conn:
        return audit_events(conn, object_kind="dataset", object_id=dataset_id, action=ACTION)


def _earlier_leftovers(service: DatasetService, name: str) -> list[str]:
    """Objects earlier erasures of this dataset meant to delete that are still stored."""
    project_id = service.store.project_id(service.project)
    with service.store.read() as conn:
        dataset_id = service._dataset_id(conn, project_id, name, create=False)
    return [
        digest
        for event in erasure_events(service.store, dataset_id)
        for digest in (event["details"] or {}).get("erased_objects", [])
        if service.store.objects.exists(digest)
    ]


def delete_unreferenced(
    store: Store, digests: Iterable[str]
) -> tuple[list[str], dict[str, list[str]]]:
    """Delete those of ``digests`` that nothing refers to; return (deleted, kept -> by what).

    The check and the removal of the metadata rows share one write transaction; the bytes
    go after it commits, so a crash in between leaves unreferenced bytes, never a record of
    a missing object.
    """
    digests = sorted(set(digests))
    if not digests:
        return [], {}
    with store.write() as conn:
        kept = object_references_to(store, digests, conn=conn)
        gone = [d for d in digests if d not in kept]
        for chunk in _chunks(gone):
            conn.execute(sa.delete(t.objects).where(t.objects.c.digest.in_(chunk)))
    if gone:
        store.objects.mark_removal()
    for digest in gone:
        store.objects.delete(digest)
    return gone, kept


def object_references_to(
    store: Store, digests: Iterable[str], *, conn: sa.Connection | None = None
) -> dict[str, list[str]]:
    """What refers to each of ``digests``: digest columns, dataset manifests, model packages.

    Looks across every project of the store. Digests nothing refers to are left out.
    """
    if conn is None:
        with store.read() as own:
            return object_references_to(store, digests, conn=own)
    from keel.store.fsck import object_references

    wanted = set(digests)
    found: dict[str, list[str]] = {}
    for ref in object_references():
        if ref.table == "objects" or (ref.table, ref.column) in _NAMED:
            continue
        column = t.metadata.tables[ref.table].c[ref.column]
        for chunk in _chunks(sorted(wanted)):
            for (digest,) in conn.execute(sa.select(column).where(column.in_(chunk)).distinct()):
                found.setdefault(digest, []).append(f"{ref.table}.{ref.column}")
    for where, holds in versions_holding(store, conn):
        for item in sorted(holds & wanted):
            found.setdefault(item, []).append(where)
    return found


_NAMED = {
    ("dataset_versions", "manifest_digest"),
    ("dataset_versions", "profile_digest"),
    ("model_versions", "package_digest"),
}
"""Digest columns that :func:`versions_holding` reports by version name instead."""


def versions_holding(store: Store, conn: sa.Connection) -> Iterator[tuple[str, set[str]]]:
    """(dataset or model version, every digest it holds) across all projects: its manifest
    or package, its profile, and the parts or files the manifest lists."""
    dv, d, p = t.dataset_versions, t.datasets, t.projects
    rows = conn.execute(
        sa.select(
            sa.literal("dataset"),
            p.c.name,
            d.c.name,
            sa.literal(":v") + sa.cast(dv.c.version, sa.String),
            dv.c.manifest_digest,
            dv.c.profile_digest,
        )
        .join(d, d.c.id == dv.c.dataset_id)
        .join(p, p.c.id == d.c.project_id)
    ).all()
    mv, m = t.model_versions, t.models
    rows += conn.execute(
        sa.select(
            sa.literal("model"),
            p.c.name,
            m.c.name,
            sa.literal(":") + sa.cast(mv.c.version, sa.String),
            mv.c.package_digest,
            sa.null(),
        )
        .join(m, m.c.id == mv.c.model_id)
        .join(p, p.c.id == m.c.project_id)
    ).all()
    listed: dict[str, set[str]] = {}
    for kind, project, name, version, digest, profile in rows:
        if digest not in listed:
            listed[digest] = _listed_digests(store, digest)
        yield f"{kind} {project}/{name}{version}", {digest, profile, *listed[digest]} - {None}


def _listed_digests(store: Store, digest: str) -> set[str]:
    """Digests a dataset manifest (entries) or model package manifest (files) lists."""
    try:
        data = json.loads(store.objects.read_bytes(digest))
    except (ObjectNotFound, IntegrityError, ValueError):
        return set()  # missing or corrupt: 'keel fsck' reports it; it lists nothing readable
    if isinstance(data.get("entries"), list):
        return {e["digest"] for e in data["entries"] if isinstance(e, dict) and "digest" in e}
    if isinstance(data.get("files"), dict):  # a model package's keel-model.json
        return {v for v in data["files"].values() if isinstance(v, str)}
    return set()


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
