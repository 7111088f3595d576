"""Readers for ingestion: flat files (local or fsspec), SQL queries, paginated JSON APIs.

Each reader takes a :class:`Request` and returns a :class:`Fetched` Arrow table, and
translates its library's exceptions into :mod:`keel.errors` exactly once, naming the
source with any password redacted. :func:`source_kind` picks the reader from the
source's scheme.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import pyarrow as pa

from keel._parquet import read_parquet
from keel._plural import plural
from keel.errors import InvalidInput, NotFound, PermissionDenied, StoreUnavailable, did_you_mean

__all__ = [
    "FORMATS",
    "READERS",
    "Fetched",
    "Request",
    "check_identifier",
    "redact",
    "source_kind",
]

log = logging.getLogger("keel.data")

FORMATS = ("csv", "parquet", "jsonl")
"""File formats ingestion reads; inferred from the suffix when not given."""

_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip")
_SCHEME_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://")
_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SQL_CHUNK_ROWS = 50_000
"""Rows fetched from a database cursor at a time (and converted to Arrow per chunk)."""
HTTP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Request:
    """What to read. ``after`` is the watermark value to read past (None: everything)."""

    source: str
    query: str | None = None
    format: str | None = None
    watermark: str | None = None
    after: Any = None
    records_path: str | None = None
    next_path: str | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    max_pages: int = 1000

    @property
    def uri(self) -> str:
        """The source with any password replaced by ``***``."""
        return redact(self.source)


@dataclass
class Fetched:
    """What a reader got: the table, extra facts to record, and whether the reader
    already applied the watermark bound itself (so rows need no filtering after)."""

    table: pa.Table
    details: dict[str, Any] = field(default_factory=dict)
    bounded: bool = False


# -- choosing a reader -----------------------------------------------------------------------


def source_kind(source: str, query: str | None) -> str:
    """``file``, ``sql`` or ``http``, from the source's scheme and whether a query is given.

    Raises:
        InvalidInput: the scheme is unknown, or a database URL came without a query.
    """
    import fsspec

    if not isinstance(source, str) or not source.strip():
        raise InvalidInput(
            f"The ingestion source must be a path, an fsspec URL, a database URL or an "
            f"http(s) URL. Got {source!r}."
        )
    match = _SCHEME_RE.match(source)
    scheme = match["scheme"].lower() if match else None
    if scheme in ("http", "https"):
        if query is not None:
            raise InvalidInput(
                f"query= is for database sources, but {redact(source)} is an HTTP URL. "
                "Drop the query, or give a SQLAlchemy URL such as 'postgresql+psycopg://...'."
            )
        return "http"
    if query is not None:
        return "sql"
    if scheme is None or scheme in fsspec.available_protocols():
        return "file"
    if _sql_dialect_exists(source):
        raise InvalidInput(
            f"{redact(source)} is a database URL: give the rows to read with query= "
            "(--query on the command line), e.g. query='SELECT * FROM events'."
        )
    raise InvalidInput(
        f"Cannot ingest from {redact(source)}: the scheme {scheme!r} is not known. Give a "
        "file path or fsspec URL (file://, s3://, gs://, ...), a SQLAlchemy URL with query= "
        "(postgresql+psycopg://, sqlite:///, ...) or an http(s):// URL serving JSON."
    )


def _sql_dialect_exists(source: str) -> bool:
    import sqlalchemy as sa

    try:
        sa.engine.make_url(source).get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError):
        return False
    return True


def check_identifier(column: str, what: str = "watermark column") -> str:
    """A plain SQL identifier (letters, digits, underscores), or InvalidInput."""
    if not isinstance(column, str) or not _IDENTIFIER_RE.match(column):
        raise InvalidInput(
            f"The {what} {column!r} is not a plain identifier: use letters, digits and "
            "underscores, starting with a letter or underscore (alias the column in the "
            "query if its name is anything else)."
        )
    return column


# -- redaction -------------------------------------------------------------------------------


def redact(uri: str) -> str:
    """``uri`` with its password (SQLAlchemy or ``user:password@host`` form) as ``***``."""
    import fsspec
    import sqlalchemy as sa

    match = _SCHEME_RE.match(uri)
    if not match:
        return uri
    parts = urlsplit(uri)
    scheme = match["scheme"].lower()
    if scheme not in ("http", "https") and scheme not in fsspec.available_protocols():
        try:
            return sa.engine.make_url(uri).render_as_string(hide_password=True)
        except (sa.exc.ArgumentError, ValueError):
            pass
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{parts.username or ''}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _scrub(text: str, source: str) -> str:
    """Remove the source's password from a foreign error message, should it appear."""
    password = urlsplit(source).password if _SCHEME_RE.match(source) else None
    return text.replace(password, "***") if password else text


# -- files -----------------------------------------------------------------------------------


def read_files(request: Request) -> Fetched:
    """One file, or every file a glob matches (concatenated), local or via fsspec."""
    import fsspec

    uri = request.uri
    try:
        files = fsspec.open_files(request.source, mode="rb", compression="infer")
    except ImportError as exc:
        raise InvalidInput(
            f"Reading {uri} needs a package that is not installed: {exc}. Install it "
            "(for s3:// that is s3fs: pip install 'keelml[s3]') and try again."
        ) from exc
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"Cannot list the files of {uri}: {_scrub(str(exc), request.source)}"
        ) from exc
    if not files:
        raise NotFound(f"No file matches {uri}. Check the path or the glob pattern.")
    tables = []
    for file in files:
        fmt = request.format or _format_of(file.path, uri)
        try:
            with file as fh:
                tables.append(_parse(fh, fmt, file.path))
        except FileNotFoundError as exc:
            raise NotFound(f"Cannot ingest {uri}: no such file ({file.path}).") from exc
        except IsADirectoryError as exc:
            raise InvalidInput(
                f"Cannot ingest {uri}: it is a folder. Give a glob such as '{uri}/*.csv'."
            ) from exc
        except PermissionError as exc:
            raise PermissionDenied(f"Cannot read {file.path} ({uri}): permission denied.") from exc
        except OSError as exc:
            raise StoreUnavailable(
                f"Cannot read {file.path} ({uri}): {_scrub(str(exc), request.source)}"
            ) from exc
    return Fetched(_concat(tables, uri), {"files": len(tables)})


def _format_of(path: str, uri: str) -> str:
    name = path.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    for suffix, fmt in _SUFFIX_FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise InvalidInput(
        f"Cannot tell the format of {path} (from {uri}) by its suffix. "
        f"Give format= one of {', '.join(FORMATS)}."
    )


def _parse(fh: Any, fmt: str, path: str) -> pa.Table:
    """Read one file object as a table; malformed content is InvalidInput naming the file."""
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson

    try:
        if fmt == "parquet":
            return read_parquet(fh)
        if fmt == "csv":
            delimiter = "\t" if path.lower().split(".")[-1] == "tsv" else ","
            return pcsv.read_csv(fh, parse_options=pcsv.ParseOptions(delimiter=delimiter))
        head = fh.read(1)
        while head.isspace():
            head = fh.read(1)
        rest = fh.read()
        if head == b"[":  # a JSON array of records rather than JSON lines
            import orjson

            records = orjson.loads(head + rest)
            if not all(isinstance(r, dict) for r in records):
                raise InvalidInput(
                    f"Cannot read {path}: a JSON array must hold objects (records). "
                    f"Got {_describe(records)} instead."
                )
            return _records_table(records)
        return pjson.read_json(io.BytesIO(head + rest))
    except (pa.ArrowException, ValueError) as exc:
        raise InvalidInput(
            f"Cannot read {path} as {fmt}: {exc}. Check the file, or give format=."
        ) from exc


def _concat(tables: list[pa.Table], uri: str) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as exc:
        raise InvalidInput(
            f"The parts read from {uri} do not share a schema, so they cannot be stacked: {exc}."
        ) from exc


# -- SQL -------------------------------------------------------------------------------------


def read_sql(request: Request) -> Fetched:
    """Run ``query`` over a SQLAlchemy URL and stream its rows into Arrow, chunk by chunk.

    With a watermark bound the query is wrapped as ``SELECT * FROM (<query>) AS src WHERE
    "<column>" > :watermark`` with a bound parameter. The connection is never committed.
    """
    import sqlalchemy as sa

    uri = request.uri
    url = _sql_url(request.source, uri)
    query = (request.query or "").strip().rstrip(";").strip()
    if not query:
        raise InvalidInput(f"The query for {uri} is empty. Give the SQL that selects the rows.")
    try:
        engine = sa.create_engine(url)
    except ImportError as exc:
        raise InvalidInput(
            f"Cannot connect to {uri}: its database driver is not installed ({exc}). "
            "Install it (for PostgreSQL: pip install 'keelml[postgres]')."
        ) from exc
    except (sa.exc.ArgumentError, TypeError, ValueError) as exc:
        raise InvalidInput(f"Cannot use the database URL {uri}: {exc}.") from exc
    params = dict(request.params or {})
    bounded = request.watermark is not None and request.after is not None
    if bounded:
        if "watermark" in params:
            raise InvalidInput(
                f"The bind parameter name 'watermark' is taken by incremental ingestion from "
                f"{uri}. Rename :watermark in the query and in params."
            )
        column = engine.dialect.identifier_preparer.quote(check_identifier(request.watermark))
        query = f"SELECT * FROM ({query}) AS src WHERE {column} > :watermark"
        params["watermark"] = request.after
    try:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise StoreUnavailable(
                f"Cannot connect to {uri}: {_scrub(str(exc.orig), request.source).strip()}. "
                "Check that the database is reachable and the URL is right."
            ) from exc
        with conn:
            chunks, names = _stream(conn, sa.text(query), params, request)
    finally:
        engine.dispose()
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(
            f"The query on {uri} returns the {plural(twice, 'column')} {', '.join(twice)} "
            "more than once. "
            "Give each column its own name with AS."
        )
    if not chunks:
        return Fetched(pa.table({n: pa.nulls(0) for n in names}), bounded=bounded)
    return Fetched(_concat(chunks, uri), bounded=bounded)


def _sql_url(source: str, uri: str) -> Any:
    import sqlalchemy as sa

    try:
        url = sa.engine.make_url(source)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput(
            f"query= reads from a database, but {uri} is not a SQLAlchemy URL. Give one such "
            "as 'postgresql+psycopg://user@host/db' or 'sqlite:///path/to/file.db'."
        ) from exc
    try:
        url.get_dialect()
    except sa.exc.NoSuchModuleError as exc:
        raise InvalidInput(
            f"Cannot ingest from {uri}: SQLAlchemy has no dialect {url.drivername!r}. "
            "Use e.g. postgresql+psycopg, sqlite, mysql+pymysql (with its driver installed)."
        ) from exc
    except ImportError as exc:
        raise InvalidInput(
            f"Cannot connect to {uri}: its database driver is not installed ({exc}). "
            "Install it (for PostgreSQL: pip install 'keelml[postgres]')."
        ) from exc
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        from pathlib import Path

        # SQLite would silently create an empty database file where none is
        if not database.startswith("file:") and not Path(database).is_file():
            raise NotFound(f"Cannot ingest from {uri}: there is no SQLite file {database}.")
    return url


def _stream(
    conn: Any, statement: Any, params: dict[str, Any], request: Request
) -> tuple[list[pa.Table], list[str]]:
    import sqlalchemy as sa

    try:
        result = conn.execution_options(stream_results=True, yield_per=SQL_CHUNK_ROWS).execute(
            statement, params
        )
        names = list(result.keys())
        chunks = []
        for rows in result.partitions():
            columns = list(zip(*rows, strict=True)) or [() for _ in names]
            arrays = [_column(list(c), n) for n, c in zip(names, columns, strict=True)]
            chunks.append(pa.Table.from_arrays(arrays, names=names))
        return chunks, names
    except sa.exc.StatementError as exc:
        reason = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", str(exc.orig))
        raise InvalidInput(
            f"The query on {request.uri} failed: "
            f"{_scrub(reason, request.source).strip()}. Query: {request.query}"
        ) from exc


def _column(values: list[Any], name: str) -> pa.Array:
    """Arrow's own inference; values it cannot mix or convert are stored as text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        log.warning("column %r mixes types Arrow cannot store together; stored as text", name)
        return pa.array([None if v is None else _text(v) for v in values], pa.string())


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        import orjson

        return orjson.dumps(value, default=str).decode()
    return str(value)


# -- HTTP ------------------------------------------------------------------------------------


def read_http(request: Request) -> Fetched:
    """A JSON API (list of records, or records at ``records_path``), page after page.

    The next page is the URL at ``next_path`` in the body, or else the ``Link: <...>;
    rel="next"`` header; reading stops when there is none or after ``max_pages`` pages.
    A URL ending in a file suffix (or given ``format=``) is downloaded and read as a file.
    """
    import httpx

    with httpx.Client(
        headers=request.headers, timeout=HTTP_TIMEOUT_S, follow_redirects=True
    ) as client:
        path = urlsplit(request.source).path
        if request.format is not None or _is_file_url(path):
            from fsspec.compression import compr
            from fsspec.utils import infer_compression

            response = _get(client, request.source, request.params, request)
            fmt = request.format or _format_of(path, request.uri)
            compression = infer_compression(path)
            fh = io.BytesIO(response.content)
            if compression:
                fh = compr[compression](fh, mode="rb")
            return Fetched(_parse(fh, fmt, request.uri), {"files": 1})
        records: list[dict[str, Any]] = []
        url: str | None = request.source
        params = request.params
        seen: set[str] = set()
        pages = 0
        while url is not None and pages < request.max_pages:
            response = _get(client, url, params, request)
            params = None  # next links carry their own query string
            seen.add(str(response.url))
            pages += 1
            body = _json(response, request, pages)
            records.extend(_records(body, request, pages))
            url = _next_url(body, response, request)
            if url is not None and url in seen:
                url = None  # a server pointing back at a page it served: stop
    details: dict[str, Any] = {"pages": pages}
    if url is not None:
        log.warning("%s: stopped after max_pages=%d; more pages remain", request.uri, pages)
        details["truncated"] = True
    return Fetched(_records_table(records), details)


def _is_file_url(path: str) -> bool:
    """A URL path naming a table file (an API path ending in .json is an API, not a file)."""
    name = path.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return name.endswith(tuple(s for s in _SUFFIX_FORMATS if s != ".json"))


def _get(client: Any, url: str, params: dict[str, Any] | None, request: Request) -> Any:
    import httpx

    where = redact(url)
    try:
        response = client.get(url, params=params)
    except httpx.HTTPError as exc:
        raise StoreUnavailable(
            f"Cannot fetch {where}: {_scrub(str(exc), request.source)}. "
            "Check that the server is reachable and the URL is right."
        ) from exc
    status = response.status_code
    if status < 400:
        return response
    detail = f"{where} answered HTTP {status} {response.reason_phrase}"
    if status == 404:
        raise NotFound(f"{detail}. Check the URL.")
    if status in (401, 403):
        raise PermissionDenied(f"{detail}. Pass credentials with headers= (--header).")
    if status < 500:
        raise InvalidInput(f"{detail}: {response.text[:200]}")
    raise StoreUnavailable(f"{detail}. The server failed; try again later.")


def _json(response: Any, request: Request, page: int) -> Any:
    import orjson

    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        kind = response.headers.get("content-type", "unknown content type")
        raise InvalidInput(
            f"Page {page} of {request.uri} ({redact(str(response.url))}) is not JSON "
            f"({kind}): {exc}. Give format= if the URL serves a csv, parquet or jsonl file."
        ) from exc


def _dig(body: Any, path: str) -> tuple[bool, Any]:
    """Follow a dotted path (``data.items``; digits index lists): (found, value)."""
    node = body
    for key in path.split("."):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False, None
    return True, node


def _records(body: Any, request: Request, page: int) -> list[dict[str, Any]]:
    where = f"page {page} of {request.uri}"
    if request.records_path:
        found, records = _dig(body, request.records_path)
        if not found:
            keys = list(body) if isinstance(body, dict) else []
            raise InvalidInput(
                f"The JSON body of {where} has nothing at records_path "
                f"{request.records_path!r}.{did_you_mean(request.records_path, keys)} "
                f"Top-level keys: {', '.join(keys) or 'none'}."
            )
        records = [] if records is None else records
    elif isinstance(body, list):
        records = body
    else:
        lists = (
            [k for k, v in body.items() if isinstance(v, list)] if isinstance(body, dict) else []
        )
        hint = f" (lists sit at: {', '.join(lists)})" if lists else ""
        raise InvalidInput(
            f"The JSON body of {where} is a {type(body).__name__}, not a list of records. "
            f"Give records_path= (--records-path), the dotted path to the records{hint}."
        )
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidInput(
            f"The records of {where} must be a list of JSON objects. "
            f"Got {_describe(records)} instead."
        )
    return records


def _describe(value: Any) -> str:
    if isinstance(value, list):
        kinds = sorted({type(v).__name__ for v in value if not isinstance(v, dict)})
        return f"a list holding {', '.join(kinds)}"
    return f"a {type(value).__name__}"


def _next_url(body: Any, response: Any, request: Request) -> str | None:
    if request.next_path:
        _, target = _dig(body, request.next_path)
    else:
        target = response.links.get("next", {}).get("url")
    if not target:
        return None
    if not isinstance(target, str):
        raise InvalidInput(
            f"The next_path {request.next_path!r} of {request.uri} must lead to a URL. "
            f"Got {target!r}."
        )
    return urljoin(str(response.url), target)


def _records_table(records: list[dict[str, Any]]) -> pa.Table:
    """Records as columns; a key missing from a record is null there."""
    names = list(dict.fromkeys(k for r in records for k in r))
    arrays = [_column([r.get(n) for r in records], n) for n in names]
    return pa.Table.from_arrays(arrays, names=names)


READERS: dict[str, Callable[[Request], Fetched]] = {
    "file": read_files,
    "sql": read_sql,
    "http": read_http,
}
"""The reader for each kind of source :func:`source_kind` returns."""
