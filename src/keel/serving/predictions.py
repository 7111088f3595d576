"""Prediction logs and feedback kept as Parquet parts: ``client.predictions`` on a local store.

Every flushed buffer of a :class:`~keel.serving.PredictionLogger` is one Parquet file,
stored as a content-addressed object (so it works with a local folder, S3, or through a
keel server's object API), plus one ``prediction_parts`` row naming the project,
deployment, kind (``predictions`` or ``feedback``), digest, row count and the time span of
its rows. Reads pick parts by time span first, so looking up one request (its id starts
with the milliseconds it was made at) opens the few parts around that moment.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from keel._parquet import read_parquet
from keel.errors import IntegrityError, InvalidInput, NotFound
from keel.store import new_id, now_ms
from keel.store import schema as t

if TYPE_CHECKING:
    import pyarrow as pa

    from keel.store import Store

__all__ = ["KINDS", "PredictionStore", "check_part"]

KINDS = ("predictions", "feedback")
REQUIRED = {
    "predictions": ("request_id", "at", "deployment", "model_version", "prediction"),
    "feedback": ("label", "at", "deployment"),
}
HASHED_META = b"keel.hashed"
"""Parquet schema metadata: JSON list of the columns (and ``key``) whose values are hashed."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_KEEL_ID = re.compile(r"^[0-9a-f]{32}$")
REQUEST_WINDOW_MS = 10 * 60 * 1000
"""How far from the moment a keel request id names its rows are looked for."""


def check_kind(kind: object) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"kind must be 'predictions' or 'feedback'. Got {str(kind)[:40]!r}.")
    return kind  # type: ignore[return-value]


def check_deployment(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"The deployment name {str(name)[:60]!r} is not valid: letters, digits, '.', '_' "
            "and '-', at most 200 characters."
        )
    return name


def check_part(kind: str, table: pa.Table) -> tuple[int, int, int]:
    """(rows, first_at, last_at) of a part's table; refuses one that is not a log part."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(table, pa.Table):
        raise InvalidInput(f"A prediction part is a pyarrow Table. Got {type(table).__name__}.")
    missing = [c for c in REQUIRED[kind] if c not in table.column_names]
    if missing:
        raise InvalidInput(
            f"The {kind} part lacks column {missing[0]!r}; it needs "
            f"{', '.join(REQUIRED[kind])} (as PredictionLogger writes them)."
        )
    if table.num_rows == 0:
        raise InvalidInput(f"The {kind} part has no rows; write parts with at least one.")
    at = table.column("at")
    if not pa.types.is_timestamp(at.type) or at.null_count:
        raise InvalidInput(f"The {kind} part's 'at' column must be timestamps without nulls.")
    span = pc.min_max(at.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()))
    return table.num_rows, span["min"].as_py(), span["max"].as_py()


def to_parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


class PredictionStore:
    """The prediction logs and feedback of one project in a local store.

    Args:
        store: the metadata and object store.
        project: the project the parts belong to.
    """

    def __init__(self, store: Store, *, project: str) -> None:
        self.store = store
        self.project = project
        self.config = store.config

    def __repr__(self) -> str:
        return f"PredictionStore({self.store!r}, project={self.project!r})"

    def hash_key(self) -> bytes:
        """The project's key for hashed columns (see :mod:`keel.serving._hashing`)."""
        from ._hashing import project_key

        return project_key(self.config, self.project)

    # -- writing ------------------------------------------------------------------------

    def write(self, kind: str, deployment: str, table: pa.Table) -> str:
        """Store ``table`` as one Parquet part of ``deployment``'s ``kind``; its part id."""
        check_kind(kind)
        check_deployment(deployment)
        rows, first, last = check_part(kind, table)
        digest = self.store.objects.put(to_parquet(table))
        # checked in memory: the bytes just written need no second read (the object store
        # hashed them on the way in)
        return self._record(kind, deployment, digest, rows, first, last)

    def record(self, kind: str, deployment: str, digest: str) -> str:
        """Record a Parquet part already in the object store (read and checked first)."""
        check_kind(kind)
        check_deployment(deployment)
        table = self._read_part(digest, what=f"the {kind} part {digest[:12]}")
        rows, first, last = check_part(kind, table)
        return self._record(kind, deployment, digest, rows, first, last)

    def _record(
        self, kind: str, deployment: str, digest: str, rows: int, first: int, last: int
    ) -> str:
        part_id = new_id()
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            self.store.record_object(digest, conn=conn, media_type="application/vnd.apache.parquet")
            conn.execute(
                t.prediction_parts.insert().values(
                    id=part_id,
                    project_id=project_id,
                    deployment=deployment,
                    kind=kind,
                    digest=digest,
                    rows=rows,
                    first_at=first,
                    last_at=last,
                    created_at=now_ms(),
                )
            )
        return part_id

    def _read_part(self, digest: str, *, what: str, columns: list[str] | None = None) -> pa.Table:
        import pyarrow as pa

        try:
            with self.store.objects.open(digest) as fh:
                data = fh.read()
        except NotFound:
            raise NotFound(f"No object {digest[:64]!r}: push {what} first.") from None
        try:
            return read_parquet(data, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInput(f"{what} is not a readable Parquet file: {exc}") from exc

    # -- reading ------------------------------------------------------------------------

    def parts(
        self,
        kind: str,
        *,
        deployment: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        """Parts of ``kind`` whose rows fall in ``[since_ms, until_ms)``, oldest first."""
        check_kind(kind)
        p = t.prediction_parts
        project_id = self.store.find_project_id(self.project)
        if project_id is None:
            return []
        query = sa.select(p).where(p.c.project_id == project_id, p.c.kind == kind)
        if deployment is not None:
            query = query.where(p.c.deployment == check_deployment(deployment))
        if since_ms is not None:
            query = query.where(p.c.last_at >= _ms("since_ms", since_ms))
        if until_ms is not None:
            query = query.where(p.c.first_at < _ms("until_ms", until_ms))
        with self.store.read() as conn:
            rows = conn.execute(query.order_by(p.c.first_at, p.c.id)).mappings().all()
        return [{str(k): v for k, v in r.items() if k != "project_id"} for r in rows]

    def read(
        self,
        kind: str,
        *,
        deployment: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """The rows of ``kind`` in ``[since_ms, until_ms)`` as one Arrow table."""
        import pyarrow as pa
        import pyarrow.compute as pc

        parts = self.parts(kind, deployment=deployment, since_ms=since_ms, until_ms=until_ms)
        tables = [self._read_part(p["digest"], what=f"part {p['id']}") for p in parts]
        table = pa.concat_tables(tables, promote_options="permissive") if tables else _empty(kind)
        at = table.column("at").cast(pa.int64())
        keep = None
        if since_ms is not None:
            keep = pc.greater_equal(at, since_ms)
        if until_ms is not None:
            below = pc.less(at, until_ms)
            keep = below if keep is None else pc.and_(keep, below)
        if keep is not None:
            table = table.filter(keep)
        if columns is not None:
            unknown = [c for c in columns if c not in table.column_names]
            if unknown:
                raise InvalidInput(
                    f"The {kind} log has no column {unknown[0]!r}; its columns are "
                    f"{', '.join(table.column_names)}."
                )
            table = table.select(columns)
        return table

    def paths(self, kind: str) -> list[Path] | None:
        """Local paths of every verified part of ``kind`` (for DuckDB), or None when the
        objects are not local files."""
        parts = self.parts(kind)
        path_of = getattr(self.store.objects, "path", None)
        if not parts or path_of is None or not isinstance(path_of(parts[0]["digest"]), Path):
            return None
        for part in parts:
            if not self.store.objects.verify(part["digest"]):
                raise IntegrityError(
                    f"Object {part['digest']} ({kind} part {part['id']} of deployment "
                    f"{part['deployment']}) is corrupt. Run 'keel fsck' to list what is affected."
                )
        return [path_of(p["digest"]) for p in parts]

    def find_request(self, request_id: str) -> dict[str, Any] | None:
        """Every logged row of one request and the feedback on it, or None if not logged.

        A keel request id starts with the milliseconds it was made at, so only parts within
        :data:`REQUEST_WINDOW_MS` of that moment are read; other ids read every part.
        """
        import pyarrow.compute as pc

        if not isinstance(request_id, str) or not 0 < len(request_id) <= 200:
            raise InvalidInput(f"A request id is 1-200 characters. Got {str(request_id)[:60]!r}.")
        since = until = None
        if _KEEL_ID.match(request_id):
            made = int(request_id[:12], 16)
            since, until = made - REQUEST_WINDOW_MS, made + REQUEST_WINDOW_MS
        rows = None
        for part in self.parts("predictions", since_ms=since, until_ms=until):
            table = self._read_part(part["digest"], what=f"part {part['id']}")
            found = table.filter(pc.equal(table.column("request_id"), request_id))
            if found.num_rows:
                rows = found if rows is None else _concat([rows, found])
        if rows is None:
            return None
        records = rows.to_pylist()
        first = records[0]
        at_ms = round(first["at"].timestamp() * 1000)
        feedback = []
        for part in self.parts("feedback", since_ms=at_ms):
            table = self._read_part(part["digest"], what=f"part {part['id']}")
            match = pc.equal(table.column("request_id"), request_id)
            feedback += table.filter(match).to_pylist()
        return {
            "request_id": request_id,
            "at_ms": at_ms,
            "deployment": first["deployment"],
            "model_version": first["model_version"],
            "route": first.get("route"),
            "key": first.get("key"),
            "latency_ms": first.get("latency_ms"),
            "inputs": [_inputs(r.get("input")) for r in records],
            "predictions": [r["prediction"] for r in records],
            **(
                {"probabilities": [r["probabilities"] for r in records]}
                if "probabilities" in rows.column_names
                else {}
            ),
            "feedback": [
                {"label": f["label"], "at_ms": round(f["at"].timestamp() * 1000)} for f in feedback
            ],
        }

    # -- erasure ------------------------------------------------------------------------

    def erase(self, *, column: str, values: list, actor: str | None = None) -> int:
        """Rewrite every part of the project without the rows whose ``column`` (a log
        column such as ``key`` or ``request_id``, or an input feature) holds one of
        ``values``; hashed columns match the values' hashes. The rows removed.

        The parts are switched in one transaction with an ``erase`` audit event (column,
        how many values, rows per part, the objects taken out of use), then the old
        objects are deleted. Raises :class:`InvalidInput` for a bad column or values.
        """
        from ._erase import erase_rows

        return erase_rows(self, column=column, values=values, actor=actor)


def _ms(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{name} must be epoch milliseconds (an integer). Got {value!r}.")
    return value


def _concat(tables: list[pa.Table]) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="permissive")


def _inputs(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k != "_"}


def _empty(kind: str) -> pa.Table:
    import pyarrow as pa

    from ._logtables import TIME

    if kind == "feedback":
        fields = [("request_id", pa.string()), ("key", pa.string()), ("label", pa.string())]
        fields += [("at", TIME), ("deployment", pa.string())]
    else:
        fields = [
            ("request_id", pa.string()),
            ("at", TIME),
            ("deployment", pa.string()),
            ("model_version", pa.string()),
            ("route", pa.string()),
            ("key", pa.string()),
            ("latency_ms", pa.float64()),
            ("row", pa.int32()),
            ("prediction", pa.float64()),
        ]
    return pa.schema(fields).empty_table()


def hashed_columns(table: pa.Table) -> set[str]:
    """The columns a part says are hashed (its ``keel.hashed`` schema metadata)."""
    raw = (table.schema.metadata or {}).get(HASHED_META)
    try:
        return set(json.loads(raw)) if raw else set()
    except ValueError:
        return set()
