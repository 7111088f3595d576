"""DuckDB views over one project's Parquet objects, created for what a query names."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from keel._parquet import read_parquet
from keel.data import DatasetService
from keel.errors import InvalidInput, NotFound
from keel.store import schema as t

from ._guard import lock_down, read_only_tables

__all__ = ["LOG_VIEWS", "PREDICTIONS_VIEW", "connect", "view_names"]

PREDICTIONS_VIEW = "run_predictions"
LOG_VIEWS = ("predictions", "feedback")
"""Served predictions and their feedback (ground truth), from the project's log parts."""


def view_names(service: DatasetService) -> list[str]:
    """Every name a query can use: datasets (latest), ``name:vN`` versions, platform tables."""
    names = [PREDICTIONS_VIEW, *LOG_VIEWS]
    for entry in service.list():
        if entry["latest"]["kind"] != "table":
            continue
        names.append(entry["name"])
        names += [f"{entry['name']}:v{n}" for n in range(1, entry["latest"]["version"] + 1)]
    return names


def connect(sql: str, service: DatasetService | None = None, *, unsafe: bool = False):
    """A DuckDB connection with a view for every lake table ``sql`` mentions.

    The views hold the service's project only. The Parquet parts behind each view are
    verified against their digests first. The connection reads those parts and nothing
    else: no other file or URL, no database to attach, no extension, and its settings are
    locked (see :func:`~keel.lake._guard.lock_down`); ``unsafe=True`` leaves it open.

    Raises:
        InvalidInput: ``sql`` is not one read-only SELECT (unless ``unsafe``), or does not
            parse, or names a dataset of files rather than a table.
    """
    names = _any_tables(sql) if unsafe else read_only_tables(sql)
    con, files = _open(names, service or _default_service())
    if not unsafe:
        try:
            lock_down(con, files)
        except BaseException:
            con.close()
            raise
    return con


def _any_tables(sql: str) -> set[str]:
    """The table names any SQL mentions (unsafe mode), found by DuckDB statement by statement."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except (duckdb.Error, ValueError) as exc:
        raise InvalidInput(f"Cannot parse the lake query: {exc}") from exc
    names: set[str] = set()
    con = duckdb.connect()
    try:
        for statement in statements:
            try:
                names |= con.get_table_names(statement.query)
            except duckdb.Error:
                continue  # e.g. a table an earlier statement creates: DuckDB reports at run time
    finally:
        con.close()
    return names


def _open(names: set[str], service: DatasetService):
    """An open DuckDB connection with the views ``names`` asks for, and the files they read."""
    import duckdb

    con = duckdb.connect()
    files: list[Path] = []
    try:
        for name in sorted(names):
            if name == PREDICTIONS_VIEW:
                _predictions_view(con, service)
                continue
            if name in LOG_VIEWS:
                files += _log_view(con, service, name)
                continue
            try:
                version = service.resolve(name)
            except (NotFound, InvalidInput):
                continue  # DuckDB itself will say the table does not exist, with suggestions
            if version.kind != "table":
                raise InvalidInput(f"{name} is a set of files, not a table; it cannot be queried.")
            files += _register(con, service, name, version)
    except BaseException:
        con.close()
        raise
    return con, files


def _register(con, service: DatasetService, name: str, version) -> list[Path]:
    """Make ``name`` a view of ``version``; the local files it reads (none when in memory)."""
    paths = service.local_paths(version)
    quoted = '"' + name.replace('"', '""') + '"'
    if paths is None:  # objects in S3 or another fsspec store: read here, verified
        con.register(name, service.load(version, format="arrow"))
        return []
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    con.execute(f"CREATE VIEW {quoted} AS SELECT * FROM read_parquet([{files}])")
    return paths


def _predictions_view(con, service: DatasetService) -> None:
    """The holdout predictions of every run of the project, with run_id and artifact columns."""
    import pyarrow as pa

    a, r, e = t.run_artifacts, t.runs, t.experiments
    project_id = service.store.read_project_id(service.project)
    rows = []
    if project_id is not None:  # an unknown project has no runs
        with service.store.read() as conn:
            rows = conn.execute(
                sa.select(a.c.run_id, a.c.name, a.c.digest)
                .join(r, r.c.id == a.c.run_id)
                .join(e, e.c.id == r.c.experiment_id)
                .where(a.c.kind == "predictions", e.c.project_id == project_id)
                .order_by(a.c.run_id, a.c.name)
            ).all()
    tables = []
    for run_id, artifact, digest in rows:
        with service.store.objects.open(digest) as fh:
            table = read_parquet(fh)
        n = table.num_rows
        table = table.append_column("run_id", pa.array([run_id] * n, pa.string()))
        tables.append(table.append_column("artifact", pa.array([artifact] * n, pa.string())))
    if tables:
        combined = pa.concat_tables(tables, promote_options="permissive")
    else:
        combined = pa.table(
            {"run_id": pa.array([], pa.string()), "artifact": pa.array([], pa.string())}
        )
    con.register(PREDICTIONS_VIEW, combined)


def _log_view(con, service: DatasetService, kind: str) -> list[Path]:
    """``predictions`` or ``feedback``: every part of the project, read by DuckDB from the
    verified local files (parts that differ in their input fields unified by name), or
    read here when the objects are elsewhere."""
    from keel.serving import PredictionStore

    logs = PredictionStore(service.store, project=service.project)
    paths = logs.paths(kind)
    if paths is None:
        con.register(kind, logs.read(kind))
        return []
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    con.execute(f"CREATE VIEW {kind} AS SELECT * FROM read_parquet([{files}], union_by_name=true)")
    return paths


def _default_service() -> DatasetService:
    from keel.client import default_client

    return default_client().datasets
