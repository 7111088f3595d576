"""Datasets in a store: log versions, resolve references, read them back."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from keel.errors import IntegrityError, NotFound, did_you_mean
from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.deletion import highest_deleted
from keel.store.lineage import record_edges
from keel.store.names import check_name_free
from keel.store.rows import lock_row, named_id

from ._materialise import as_format, check_format, polars_module, read_arrow, write_files
from ._prepare import PreparedVersion, prepare_version
from ._versions import (
    DatasetVersion,
    Manifest,
    check_name,
    check_tag,
    parse_ref,
)

if TYPE_CHECKING:
    from ._erase import ErasureResult

__all__ = ["DatasetService"]

log = logging.getLogger("keel.data")


class DatasetService:
    """Versioned datasets in one project of a store.

    Example::

        >>> import tempfile, pandas as pd
        >>> from keel.store import init_project
        >>> data = DatasetService(init_project(tempfile.mkdtemp()))
        >>> data.log(pd.DataFrame({"x": [1, 2]}), "toy").ref
        'toy:v1'
    """

    def __init__(self, store: Store, project: str | None = None) -> None:
        self.store = store
        self.project = project or store.config.project

    # -- writing --------------------------------------------------------------------------

    def log(
        self,
        obj: Any,
        name: str,
        *,
        description: str | None = None,
        tags: Iterable[str] = (),
        parents: Iterable[DatasetVersion | str] = (),
        producer: tuple[str, str] | None = None,
        source: dict[str, Any] | None = None,
    ) -> DatasetVersion:
        """Store ``obj`` as the next version of dataset ``name``.

        Bytes go to the object store first; the version becomes visible in one
        transaction at the end, so a crash leaves no half version. If the content equals
        the latest version's, that version is returned and nothing new is recorded.

        Args:
            obj: a DataFrame, Arrow table, table file, folder or file.
            name: the dataset's name.
            description: what this version is.
            tags: names to point at this version (``name@tag``); ``latest`` is implicit.
            parents: versions this one was derived from (references or objects).
            producer: (kind, id) of the run or step run that made it.
            source: where the data came from (ingestion records it).
        """
        check_name(name)
        tags = [check_tag(tag) for tag in tags]
        parents = [self.resolve(p) for p in parents]  # an unknown parent fails before any upload
        self.check_name_free(name)
        prepared = prepare_version(obj, self.store.objects)
        return self.record(
            name,
            prepared,
            description=description,
            tags=tags,
            parents=parents,
            producer=producer or _producer_now(),
            source=source,
        )

    def record(
        self,
        name: str,
        prepared: PreparedVersion,
        *,
        description: str | None = None,
        tags: Iterable[str] = (),
        parents: Iterable[DatasetVersion | str] = (),
        producer: tuple[str, str] | None = None,
        source: dict[str, Any] | None = None,
    ) -> DatasetVersion:
        """Record a version whose objects are already stored (:func:`prepare_version`).

        If its manifest equals the latest version's (and it names no parents), that
        version is returned, with ``tags`` pointed at it, and nothing new is recorded.
        """
        check_name(name)
        tags = [check_tag(tag) for tag in tags]
        parent_ids = [self.resolve(p).id for p in parents]
        self.check_name_free(name)
        latest = self._latest(name)
        if (
            latest is not None
            and latest.manifest_digest == prepared.manifest_digest
            and not parent_ids
        ):
            if tags:
                self._set_tags(latest, tags)
            return self._get(latest.id)
        return self._record(
            name,
            prepared.manifest,
            prepared.manifest_digest,
            prepared.profile_digest,
            description,
            tags,
            parent_ids,
            producer,
            source,
        )

    def _record(
        self,
        name: str,
        manifest: Manifest,
        manifest_digest: str,
        profile_digest: str | None,
        description: str | None,
        tags: list[str],
        parent_ids: list[str],
        producer: tuple[str, str] | None,
        source: dict[str, Any] | None,
    ) -> DatasetVersion:
        project_id = self.store.project_id(self.project)
        version_id = new_id()
        with self.store.write() as conn:
            for entry in manifest.entries:
                self.store.record_object(entry.digest, conn=conn)
            self.store.record_object(manifest_digest, conn=conn, media_type="application/json")
            if profile_digest:
                self.store.record_object(profile_digest, conn=conn, media_type="application/json")
            dataset_id = self._dataset_id(conn, project_id, name, create=True)
            lock_row(conn, t.datasets, dataset_id)  # concurrent writers number in turn
            number = 1 + max(
                conn.execute(
                    sa.select(sa.func.max(t.dataset_versions.c.version)).where(
                        t.dataset_versions.c.dataset_id == dataset_id
                    )
                ).scalar()
                or 0,
                highest_deleted(conn, "dataset", dataset_id),  # numbers are never reused
            )
            conn.execute(
                t.dataset_versions.insert().values(
                    id=version_id,
                    dataset_id=dataset_id,
                    version=number,
                    manifest_digest=manifest_digest,
                    kind=manifest.kind,
                    row_count=manifest.row_count,
                    size=manifest.size,
                    schema=manifest.schema,
                    profile_digest=profile_digest,
                    source=source,
                    description=description,
                    created_at=now_ms(),
                )
            )
            edges = [
                ("dataset_version", p, "derived_into", "dataset_version", version_id)
                for p in parent_ids
            ]
            if producer is not None:
                edges.append((producer[0], producer[1], "produced", "dataset_version", version_id))
            record_edges(self.store, edges, conn=conn)
            self._write_tags(conn, dataset_id, version_id, tags)
        return self._get(version_id)

    def tag(self, ref: str | DatasetVersion, tag: str, *, actor: Any = None) -> DatasetVersion:
        """Point ``name@tag`` at a version (moving it if it pointed elsewhere), recorded as
        an audit event under ``actor`` (a writer; the OS user by default)."""
        from keel.store.actors import Actor
        from keel.store.audit import record_event

        actor = actor or Actor.local()
        actor.require("writer", "tag a dataset version")
        version = self.resolve(ref)
        check_tag(tag)
        dt, dv = t.dataset_tags, t.dataset_versions
        with self.store.write() as conn:
            dataset_id, project_id = conn.execute(
                sa.select(dv.c.dataset_id, t.datasets.c.project_id)
                .join(t.datasets, t.datasets.c.id == dv.c.dataset_id)
                .where(dv.c.id == version.id)
            ).one()
            previous = conn.execute(
                sa.select(dv.c.version)
                .join(dt, dt.c.version_id == dv.c.id)
                .where(dt.c.dataset_id == dataset_id, dt.c.tag == tag)
            ).scalar_one_or_none()
            self._write_tags(conn, dataset_id, version.id, [tag])
            record_event(
                conn,
                project_id=project_id,
                actor=actor.name,
                action="tag",
                object_kind="dataset",
                object_id=dataset_id,
                details={
                    "tag": tag,
                    "ref": version.ref,
                    "moved_from": None if previous is None else f"{version.dataset}:v{previous}",
                },
            )
        return self._get(version.id)

    def erase(
        self, dataset: str | DatasetVersion, where: str, *, actor: Any = None, dry_run: bool = False
    ) -> ErasureResult:
        """Remove the rows matching ``where`` from every version: see :func:`keel.data.erase`."""
        from ._erase import erase

        return erase(self, dataset, where, actor=actor, dry_run=dry_run)

    holders: tuple = ()
    """What other concepts hold of a version (see keel.store.deletion); the client sets it."""

    def delete(self, ref: str | DatasetVersion, *, force: bool = False, actor: Any = None) -> Any:
        """Delete one version (``name:vN``) that nothing protected holds: see
        :func:`keel.data.delete_version`. Returns a :class:`keel.store.deletion.Deletion`."""
        from ._delete import delete_version

        return delete_version(self, ref, force=force, actor=actor, holders=self.holders)

    def _set_tags(self, version: DatasetVersion, tags: list[str]) -> None:
        with self.store.write() as conn:
            dataset_id = conn.execute(
                sa.select(t.dataset_versions.c.dataset_id).where(
                    t.dataset_versions.c.id == version.id
                )
            ).scalar_one()
            self._write_tags(conn, dataset_id, version.id, tags)

    def _write_tags(
        self, conn: sa.Connection, dataset_id: str, version_id: str, tags: list[str]
    ) -> None:
        dt = t.dataset_tags
        for tag in tags:
            conn.execute(sa.delete(dt).where(dt.c.dataset_id == dataset_id, dt.c.tag == tag))
            conn.execute(
                dt.insert().values(
                    dataset_id=dataset_id, tag=tag, version_id=version_id, created_at=now_ms()
                )
            )

    # -- reading --------------------------------------------------------------------------

    def resolve(self, ref: str | DatasetVersion) -> DatasetVersion:
        """The version a reference names: ``name``, ``name:vN``, ``name@tag``, a digest."""
        if isinstance(ref, DatasetVersion):
            return ref
        parsed = parse_ref(ref)
        dv, d = t.dataset_versions, t.datasets
        project_id = self.store.read_project_id(self.project)
        select = (
            sa.select(dv.c.id)
            .join(d, d.c.id == dv.c.dataset_id)
            .where(d.c.project_id == project_id)
        )
        with self.store.read() as conn:
            if parsed.digest:
                ids = (
                    conn.execute(
                        select.where(
                            dv.c.manifest_digest.startswith(parsed.digest, autoescape=True)
                        ).limit(2)
                    )
                    .scalars()
                    .all()
                )
                if len(ids) != 1:
                    raise NotFound(
                        f"No single dataset version has a manifest digest starting "
                        f"{parsed.digest!r} ({'several do' if ids else 'none does'}). "
                        "Give more characters or a name:vN."
                    )
                return self._get(ids[0])
            dataset_id = self._dataset_id(conn, project_id, parsed.name, create=False)
            select = select.where(dv.c.dataset_id == dataset_id)
            if parsed.version is not None:
                found = conn.execute(select.where(dv.c.version == parsed.version)).scalar()
                if found is None:
                    latest = conn.execute(
                        sa.select(sa.func.max(dv.c.version)).where(dv.c.dataset_id == dataset_id)
                    ).scalar()
                    raise NotFound(
                        f"Dataset {parsed.name!r} has no version v{parsed.version}; "
                        f"its latest is v{latest}."
                    )
            elif parsed.tag is not None:
                found = conn.execute(
                    sa.select(t.dataset_tags.c.version_id).where(
                        t.dataset_tags.c.dataset_id == dataset_id,
                        t.dataset_tags.c.tag == parsed.tag,
                    )
                ).scalar()
                if found is None:
                    tags = list(
                        conn.execute(
                            sa.select(t.dataset_tags.c.tag).where(
                                t.dataset_tags.c.dataset_id == dataset_id
                            )
                        ).scalars()
                    )
                    raise NotFound(
                        f"Dataset {parsed.name!r} has no tag {parsed.tag!r}."
                        f"{did_you_mean(parsed.tag, tags)} Tags: {', '.join(['latest', *tags])}."
                    )
            else:
                found = conn.execute(select.order_by(dv.c.version.desc()).limit(1)).scalar()
            if found is None:
                raise NotFound(
                    f"Dataset {parsed.name!r} has no versions left (they were deleted). "
                    "Log a new one with 'keel data add' or keel.log_dataset()."
                )
        return self._get(found)

    def manifest(self, ref: str | DatasetVersion) -> Manifest:
        """The files of a version (verified on read)."""
        return Manifest.from_bytes(self.store.objects.read_bytes(self.resolve(ref).manifest_digest))

    def profile(self, ref: str | DatasetVersion) -> dict[str, Any] | None:
        """The stored profile of a table version, as a dict (None for file datasets)."""
        import orjson

        version = self.resolve(ref)
        if version.profile_digest is None:
            return None
        return orjson.loads(self.store.objects.read_bytes(version.profile_digest))

    def list(self) -> list[dict[str, Any]]:
        """Every dataset with its latest version and number of versions."""
        dv, d = t.dataset_versions, t.datasets
        project_id = self.store.read_project_id(self.project)
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(
                    d.c.name, sa.func.max(dv.c.version), sa.func.count(dv.c.id), d.c.description
                )
                .join(dv, dv.c.dataset_id == d.c.id)
                .where(d.c.project_id == project_id)
                .group_by(d.c.id, d.c.name, d.c.description)
                .order_by(d.c.name)
            ).all()
        out = []
        for name, latest, count, description in rows:
            version = self.resolve(f"{name}:v{latest}")
            out.append(
                {
                    "name": name,
                    "versions": count,
                    "latest": version.to_dict(),
                    "description": description,
                }
            )
        return out

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        dv = t.dataset_versions
        project_id = self.store.read_project_id(self.project)
        with self.store.read() as conn:
            dataset_id = self._dataset_id(conn, project_id, check_name(name), create=False)
            ids = (
                conn.execute(
                    sa.select(dv.c.id).where(dv.c.dataset_id == dataset_id).order_by(dv.c.version)
                )
                .scalars()
                .all()
            )
        return [self._get(i) for i in ids]

    def local_paths(self, ref: str | DatasetVersion) -> list[Path] | None:
        """Paths of a table version's verified Parquet parts, when objects are local."""
        manifest = self.manifest(ref)
        path_of = getattr(self.store.objects, "path", None)
        if (
            manifest.kind != "table"
            or path_of is None
            or not isinstance(path_of(manifest.entries[0].digest), Path)
        ):
            return None
        for entry in manifest.entries:
            if not self.store.objects.verify(entry.digest):
                raise IntegrityError(
                    f"Object {entry.digest} ({entry.path} of {self.resolve(ref).ref}) is corrupt. "
                    "Run 'keel fsck' to list everything affected."
                )
        return [path_of(e.digest) for e in manifest.entries]

    def load(self, ref: str | DatasetVersion, *, format: str = "pandas") -> Any:
        """Read a table version as ``pandas``, ``arrow``, ``polars`` or a ``duckdb``
        relation."""
        version = self.resolve(ref)
        check_format(version, format)
        if format == "polars":
            polars_module("load a dataset as polars")  # before reading anything
        if format == "duckdb":
            import duckdb

            paths = self.local_paths(version)
            if paths is not None:
                return duckdb.read_parquet([str(p) for p in paths])
        table = read_arrow(self.manifest(version), self.store.objects)
        return as_format(table, format)

    def get(self, ref: str | DatasetVersion, to: str | Path) -> list[Path]:
        """Write a version's files under folder ``to``: all of them, verified, or none
        (see :func:`keel.data._materialise.write_files`); nothing outside ``to``."""
        return write_files(self.manifest(ref), self.store.objects, to)

    # -- helpers --------------------------------------------------------------------------

    def _latest(self, name: str) -> DatasetVersion | None:
        try:
            return self.resolve(name)
        except NotFound:
            return None

    def _get(self, version_id: str) -> DatasetVersion:
        dv, d, dt = t.dataset_versions, t.datasets, t.dataset_tags
        with self.store.read() as conn:
            row = (
                conn.execute(
                    sa.select(dv, d.c.name.label("dataset"))
                    .join(d, d.c.id == dv.c.dataset_id)
                    .where(dv.c.id == version_id)
                )
                .mappings()
                .one()
            )
            tags = tuple(
                sorted(
                    conn.execute(sa.select(dt.c.tag).where(dt.c.version_id == version_id)).scalars()
                )
            )
        return DatasetVersion(
            id=row["id"],
            dataset=row["dataset"],
            version=row["version"],
            kind=row["kind"],
            size=row["size"],
            manifest_digest=row["manifest_digest"],
            created_at=row["created_at"],
            row_count=row["row_count"],
            schema=row["schema"],
            profile_digest=row["profile_digest"],
            description=row["description"],
            source=row["source"],
            tags=tags,
        )

    def _dataset_id(self, conn: sa.Connection, project_id: str, name: str, *, create: bool) -> str:
        return named_id(
            conn, t.datasets, project_id, name, kind="dataset", project=self.project, create=create
        )

    def check_name_free(self, name: str) -> None:
        """Raise :class:`AlreadyExists` if a model of this project is called ``name``."""
        project_id = self.store.find_project_id(self.project)
        if project_id is None:
            return
        with self.store.read() as conn:
            check_name_free(conn, project_id, name, "dataset")


def _producer_now() -> tuple[str, str] | None:
    """What is making a version logged without a named producer: the active run, else the
    pipeline step running in this context (so a step's own datasets are in its lineage)."""
    from keel._context import active_run, active_step

    run = active_run()
    if run is not None:
        return ("run", run.id)
    step_run = getattr(active_step(), "step_run_id", None)
    return ("step_run", step_run) if step_run else None
