"""Ingestion: read data where it lives and register it as the next dataset version.

A version is the dataset as of now. Without a watermark each ingestion reads the whole
source and the result replaces the table (the same content gives back the same version).
With a watermark column, only rows past the previous version's high-water mark are
fetched, and the new version is the previous table with those rows appended, derived
from it (a lineage edge). Unchanged leading Parquet parts are stored once, by digest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from keel.errors import InvalidInput, did_you_mean

from ._ingest_sources import (
    FORMATS,
    READERS,
    Fetched,
    Request,
    check_identifier,
    redact,
    source_kind,
)
from ._versions import DatasetVersion, check_name

if TYPE_CHECKING:
    from ._service import DatasetService

__all__ = ["IngestResult", "ingest"]


@dataclass(frozen=True)
class IngestResult:
    """What an ingestion registered.

    Attributes:
        version: the dataset version now current (the previous one if nothing was new).
        new_rows: rows this ingestion added; 0 when the version is unchanged.
        source: what was recorded as the version's source: ``type``, ``uri`` (password
            redacted), ``query``, ``watermark`` (``column``, ``value``, ``type``), ``rows``
            read from the source, ``fetched_at`` (ms), plus ``files`` or ``pages``.
    """

    version: DatasetVersion
    new_rows: int
    source: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version.to_dict(), "new_rows": self.new_rows, "source": self.source}


def ingest(
    source: str,
    name: str,
    *,
    query: str | None = None,
    format: str | None = None,
    watermark: str | None = None,
    records_path: str | None = None,
    next_path: str | None = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    max_pages: int = 1000,
    description: str | None = None,
    service: DatasetService | Callable[[], DatasetService] | None = None,
) -> IngestResult:
    """Read ``source`` and register what it holds as the next version of dataset ``name``.

    Sources:

    - a file path or fsspec URL (``data.csv``, ``s3://bucket/x.parquet``, ``data/*.csv``:
      every match, stacked), read as ``format`` or by suffix (csv, tsv, parquet, jsonl;
      ``.json`` holds JSON lines or one array of records; ``.gz`` and friends are inflated);
    - a SQLAlchemy URL with ``query`` (``postgresql+psycopg://...``, ``sqlite:///x.db``),
      streamed in chunks; ``params`` are bound to ``:name`` placeholders in the query;
    - an ``http(s)://`` URL serving JSON: a list of records, or an object with the records
      at ``records_path``; following ``next_path`` in the body, or the ``Link: <...>;
      rel="next"`` header, for at most ``max_pages`` pages. ``params`` go in the first
      request's query string, where ``{watermark}`` in a value becomes the previous
      high-water mark (and the parameter is left out on the first ingestion).

    With ``watermark``, the column's largest value is recorded; the next ingestion reads only
    rows above it (SQL: ``WHERE "col" > :watermark`` around the query; files and HTTP: rows
    are filtered after reading) and appends them to the previous version's table.

    Example::

        result = keel.ingest("postgresql+psycopg://etl@db/shop", "orders",
                             query="SELECT * FROM orders", watermark="updated_at")
        result.version.ref, result.new_rows   # ('orders:v4', 120)

    Args:
        source: where the data lives (see above).
        name: the dataset to version.
        query: SQL selecting the rows, for database URLs.
        format: ``csv``, ``parquet`` or ``jsonl``, when the suffix does not tell.
        watermark: a column that grows with new rows (an id, an ``updated_at``).
        records_path: dotted path to the records in each JSON page (``data.items``).
        next_path: dotted path to the next page's URL in each JSON page (``links.next``).
        params: SQL bind parameters, or the HTTP query string.
        headers: HTTP request headers (authorization); never recorded.
        max_pages: the most HTTP pages to read.
        description: what this version is.
        service: the dataset service to version into, or a function returning it (called
            once the request is checked, so a bad request never opens a store).

    Raises:
        InvalidInput: a bad argument, an unknown scheme, unreadable content, a failed query,
            JSON without records, or a watermark column the data does not have.
        NotFound: no such file, or the server answered 404.
        StoreUnavailable: the database or server cannot be reached, or failed.
    """
    from keel.store import now_ms

    check_name(name)
    _check_arguments(format, watermark, max_pages, params)
    kind = source_kind(source, query)
    _check_applies(
        kind,
        source,
        {
            "format": format,
            "params": params,
            "records_path": records_path,
            "next_path": next_path,
            "headers": headers,
        },
    )
    if kind == "sql" and watermark is not None:
        check_identifier(watermark)
    if service is None:
        raise InvalidInput(
            "ingest() needs the dataset service to version into: call keel.ingest(...) for "
            "the configured project, or pass service=keel.Client(...).datasets."
        )
    if callable(service):
        service = service()  # opened only once the request is known to be sound
    previous = _latest(service, name)
    after = _previous_mark(service, previous, watermark) if watermark else None
    request = Request(
        source=source,
        query=query,
        format=format,
        watermark=watermark,
        after=after,
        records_path=records_path,
        next_path=next_path,
        params=_http_params(params, after) if kind == "http" else params,
        headers=headers,
        max_pages=max_pages,
    )
    fetched = READERS[kind](request)
    record: dict[str, Any] = {
        "type": kind,
        "uri": _recorded_uri(source, kind),
        "query": query,
        "watermark": None,
        "rows": fetched.table.num_rows,
        "fetched_at": now_ms(),
        **fetched.details,
    }
    return _register(service, name, previous, fetched, record, after, watermark, description)


def _register(
    service: DatasetService,
    name: str,
    previous: DatasetVersion | None,
    fetched: Fetched,
    record: dict[str, Any],
    after: Any,
    watermark: str | None,
    description: str | None,
) -> IngestResult:
    """Log what was fetched: appended to ``previous`` past a mark, or as the whole table."""
    table, uri = fetched.table, record["uri"]
    if table.num_columns == 0:  # an API that returned no records at all
        if previous is not None:
            return IngestResult(previous, 0, record)
        raise InvalidInput(
            f"{uri} returned no records, so there is no table to register as {name!r}. "
            "Check the URL, records_path and params."
        )
    new = table
    if watermark is not None:
        _check_column(table, watermark, uri)
        if after is not None and not fetched.bounded:
            new = _rows_after(table, watermark, after, uri)
        high = _max(new[watermark], watermark, uri) if new.num_rows else None
        record["watermark"] = _mark(watermark, after if high is None else high, uri)
    run = _active_run()
    producer = ("run", run.id) if run is not None else None
    if previous is not None and after is not None:
        if new.num_rows == 0:
            return IngestResult(previous, 0, record)
        version = service.log(
            _append(service.load(previous, format="arrow"), new, previous, uri),
            name,
            description=description,
            parents=[previous],
            producer=producer,
            source=record,
        )
        return IngestResult(version, new.num_rows, record)
    version = service.log(table, name, description=description, producer=producer, source=record)
    unchanged = previous is not None and version.id == previous.id
    return IngestResult(version, 0 if unchanged else table.num_rows, record)


def _recorded_uri(source: str, kind: str) -> str:
    """The source as recorded: password redacted; a local path made absolute."""
    import os

    if kind == "file" and "://" not in source and "::" not in source:
        return os.path.abspath(os.path.expanduser(source))
    return redact(source)


def _check_arguments(
    format: str | None, watermark: str | None, max_pages: int, params: dict[str, Any] | None
) -> None:
    if format is not None and format not in FORMATS:
        raise InvalidInput(
            f"format must be one of {', '.join(FORMATS)}. Got {format!r}."
            f"{did_you_mean(str(format), FORMATS)}"
        )
    if watermark is not None and (not isinstance(watermark, str) or not watermark):
        raise InvalidInput(f"watermark must name a column. Got {watermark!r}.")
    if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
        raise InvalidInput(f"max_pages must be a positive integer. Got {max_pages!r}.")
    if params is not None and not isinstance(params, dict):
        raise InvalidInput(f"params must be a dict. Got {type(params).__name__}.")


_APPLIES = {
    "format": ("file", "http"),
    "params": ("sql", "http"),
    "records_path": ("http",),
    "next_path": ("http",),
    "headers": ("http",),
}
"""The kinds of source each option means something for."""


def _check_applies(kind: str, source: str, options: dict[str, Any]) -> None:
    """Refuse options the source would silently ignore."""
    for option, value in options.items():
        if value is not None and kind not in _APPLIES[option]:
            raise InvalidInput(
                f"{option}= is for {' and '.join(_APPLIES[option])} sources, but "
                f"{redact(source)} is a {kind} source. Drop {option}=, or check the source."
            )


def _latest(service: DatasetService, name: str) -> DatasetVersion | None:
    from keel.errors import NotFound

    try:
        return service.resolve(name)
    except NotFound:
        return None


def _active_run() -> Any:
    from keel._context import active_run

    return active_run()


def _http_params(params: dict[str, Any] | None, after: Any) -> dict[str, Any] | None:
    """Fill ``{watermark}`` placeholders; leave those parameters out when there is no mark."""
    if params is None:
        return None
    mark = None if after is None else _encode(after)[0]
    out = {}
    for key, value in params.items():
        if isinstance(value, str) and "{watermark}" in value:
            if mark is None:
                continue
            value = value.replace("{watermark}", str(mark))
        out[key] = value
    return out


# -- watermarks ------------------------------------------------------------------------------


def _previous_mark(service: DatasetService, previous: DatasetVersion | None, column: str) -> Any:
    """The value to read past: the previous version's recorded mark for ``column``, or
    else the largest value of that column in the previous table (None: read everything)."""
    if previous is None:
        return None
    recorded = (previous.source or {}).get("watermark") or {}
    if recorded.get("column") == column:
        return _decode(recorded)
    columns = [f["name"] for f in previous.schema or []]
    if previous.kind != "table" or column not in columns:
        raise InvalidInput(
            f"Cannot ingest into {previous.dataset!r} by watermark {column!r}: its latest "
            f"version {previous.ref} has no such column.{did_you_mean(column, columns)} "
            "Use a column the dataset has, or ingest under a new name."
        )
    table = service.load(previous, format="arrow")
    return _max(table[column], column, previous.ref) if table.num_rows else None


def _check_column(table: pa.Table, column: str, uri: str) -> None:
    if column not in table.column_names:
        raise InvalidInput(
            f"The watermark column {column!r} is not in the data read from {uri}."
            f"{did_you_mean(column, table.column_names)} "
            f"Columns: {', '.join(table.column_names)}."
        )


def _rows_after(table: pa.Table, column: str, after: Any, uri: str) -> pa.Table:
    import pyarrow.compute as pc

    values = table[column]
    try:
        try:
            bound = pa.scalar(after).cast(values.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            bound = pa.scalar(after)
        return table.filter(pc.greater(values, bound))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InvalidInput(
            f"Cannot compare the watermark column {column!r} ({values.type}) of {uri} with "
            f"the previous mark {after!r}: {exc}. Keep the column's type stable."
        ) from exc


def _max(values: Any, column: str, where: str) -> Any:
    import pyarrow.compute as pc

    try:
        return pc.max(values).as_py()
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InvalidInput(
            f"The column {column!r} of {where} ({values.type}) cannot be a watermark: it has "
            "no order. Use a number, string, date or timestamp column."
        ) from exc


def _mark(column: str, value: Any, uri: str) -> dict[str, Any]:
    if value is None:
        return {"column": column, "value": None, "type": None}
    encoded, kind = _encode(value, column, uri)
    return {"column": column, "value": encoded, "type": kind}


def _encode(value: Any, column: str = "", uri: str = "") -> tuple[Any, str]:
    """A JSON value and a type name from which :func:`_decode` restores ``value``."""
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, types):
            return value, kind
    for kind, types in (("datetime", datetime), ("date", date), ("time", time)):
        if isinstance(value, types):
            return value.isoformat(), kind
    if isinstance(value, Decimal):
        return str(value), "decimal"
    raise InvalidInput(
        f"The watermark column {column!r} of {uri} holds {type(value).__name__} values, "
        "which cannot be recorded as a mark. Use a number, string, date or timestamp column."
    )


_DECODERS = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "decimal": Decimal,
}


def _decode(recorded: dict[str, Any]) -> Any:
    value = recorded.get("value")
    decoder = _DECODERS.get(recorded.get("type") or "")
    return value if value is None or decoder is None else decoder(value)


def _append(old: pa.Table, new: pa.Table, previous: DatasetVersion, uri: str) -> pa.Table:
    try:
        return pa.concat_tables([old, new.select(_ordered(old, new))], promote_options="permissive")
    except pa.ArrowException as exc:
        raise InvalidInput(
            f"The new rows from {uri} do not fit the table of {previous.ref}: {exc}. "
            "Ingest without watermark= to replace the table, or under a new name."
        ) from exc


def _ordered(old: pa.Table, new: pa.Table) -> list[str]:
    """The new table's columns in the old table's order, then any it adds."""
    known = [c for c in old.column_names if c in new.column_names]
    return known + [c for c in new.column_names if c not in old.column_names]
