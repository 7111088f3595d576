"""DuckDB views over the Parquet objects of the store, created for what a query names."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.data import DatasetService
from keel.errors import InvalidInput, NotFound
from keel.store import schema as t

__all__ = ["connect", "query", "view_names"]

PREDICTIONS_VIEW = "run_predictions"


def view_names(service: DatasetService) -> list[str]:
    """Every name a query can use: datasets (latest), ``name:vN`` versions, platform tables."""
    names = [PREDICTIONS_VIEW]
    for entry in service.list():
        if entry["latest"]["kind"] != "table":
            continue
        names.append(entry["name"])
        names += [f"{entry['name']}:v{n}" for n in range(1, entry["latest"]["version"] + 1)]
    return names


def connect(sql: str, service: DatasetService | None = None):
    """A DuckDB connection with a view for every lake table ``sql`` mentions.

    The Parquet parts behind each view are verified against their digests first.
    """
    import duckdb

    service = service or _default_service()
    try:
        names = duckdb.get_table_names(sql)
    except duckdb.Error as exc:
        raise InvalidInput(f"Cannot parse the lake query: {exc}") from exc
    con = duckdb.connect()
    for name in sorted(names):
        if name == PREDICTIONS_VIEW:
            _predictions_view(con, service)
            continue
        try:
            version = service.resolve(name)
        except (NotFound, InvalidInput):
            continue  # DuckDB itself will say the table does not exist, with suggestions
        if version.kind != "table":
            raise InvalidInput(f"{name} is a set of files, not a table; it cannot be queried.")
        _register(con, service, name, version)
    return con


def query(sql: str, *, format: str = "pandas", service: DatasetService | None = None) -> Any:
    """Run SQL over the lake; a pandas DataFrame (or ``format="arrow"``)."""
    import duckdb

    if format not in ("pandas", "arrow"):
        raise InvalidInput(f"format must be 'pandas' or 'arrow'. Got {format!r}.")
    con = connect(sql, service)
    try:
        result = con.execute(sql)
        return result.df() if format == "pandas" else result.arrow()
    except duckdb.Error as exc:
        raise InvalidInput(f"The lake query failed: {exc}") from exc
    finally:
        con.close()


def _register(con, service: DatasetService, name: str, version) -> None:
    paths = service.local_paths(version)
    quoted = '"' + name.replace('"', '""') + '"'
    if paths is not None:
        files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
        con.execute(f"CREATE VIEW {quoted} AS SELECT * FROM read_parquet([{files}])")
    else:
        con.register(name, service.load(version, format="arrow"))


def _predictions_view(con, service: DatasetService) -> None:
    """Every run's holdout predictions in one view, with run_id and artifact columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    a = t.run_artifacts
    with service.store.read() as conn:
        rows = conn.execute(
            sa.select(a.c.run_id, a.c.name, a.c.digest)
            .where(a.c.kind == "predictions")
            .order_by(a.c.run_id)
        ).all()
    tables = []
    for run_id, artifact, digest in rows:
        with service.store.objects.open(digest) as fh:
            table = pq.read_table(fh)
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


def _default_service() -> DatasetService:
    from keel.data import dataset_service

    return dataset_service()
