"""What changed between two dataset versions: files, schema, rows, statistics, keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidInput

from ._service import DatasetService
from ._versions import DatasetVersion

__all__ = ["DataDiff", "diff_versions"]

STATS = ("null_count", "min", "max", "mean", "std")


@dataclass
class DataDiff:
    """The differences between version ``a`` and version ``b`` (read: a -> b)."""

    a: str
    b: str
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    types_changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    rows: tuple[int | None, int | None] = (None, None)
    stats: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    """Per column, the statistics whose value differs: {stat: (a, b)}."""
    keys: dict[str, Any] | None = None
    """With a key column: counts and examples of rows added, removed and changed."""

    @property
    def same(self) -> bool:
        return not (
            self.files_added
            or self.files_removed
            or self.files_changed
            or self.columns_added
            or self.columns_removed
            or self.types_changed
            or self.rows[0] != self.rows[1]
            or self.stats
            or (self.keys and any(self.keys[k] for k in ("added", "removed", "changed")))
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "same": self.same,
            "files": {
                "added": self.files_added,
                "removed": self.files_removed,
                "changed": self.files_changed,
            },
            "schema": {
                "added": self.columns_added,
                "removed": self.columns_removed,
                "types_changed": {k: list(v) for k, v in self.types_changed.items()},
            },
            "rows": list(self.rows),
            "stats": {c: {s: list(v) for s, v in d.items()} for c, d in self.stats.items()},
            "keys": self.keys,
        }


def diff_versions(
    service: DatasetService,
    a: str | DatasetVersion,
    b: str | DatasetVersion,
    *,
    key: str | None = None,
) -> DataDiff:
    """Compare two versions. Tables get schema, row-count and statistic shifts; with
    ``key`` also the rows added, removed and changed (computed in DuckDB)."""
    va, vb = service.resolve(a), service.resolve(b)
    result = DataDiff(va.ref, vb.ref)
    ma, mb = service.manifest(va), service.manifest(vb)
    if va.kind != vb.kind:
        raise InvalidInput(
            f"{va.ref} is a {va.kind} dataset and {vb.ref} a {vb.kind} one; compare like with like."
        )
    if va.kind == "files":
        pa_, pb = ma.by_path(), mb.by_path()
        result.files_added = sorted(set(pb) - set(pa_))
        result.files_removed = sorted(set(pa_) - set(pb))
        result.files_changed = sorted(
            p for p in set(pa_) & set(pb) if pa_[p].digest != pb[p].digest
        )
        return result
    types_a = {c["name"]: c["type"] for c in va.schema or []}
    types_b = {c["name"]: c["type"] for c in vb.schema or []}
    result.columns_added = [c for c in types_b if c not in types_a]
    result.columns_removed = [c for c in types_a if c not in types_b]
    result.types_changed = {
        c: (types_a[c], types_b[c]) for c in types_a if c in types_b and types_a[c] != types_b[c]
    }
    result.rows = (va.row_count, vb.row_count)
    common = [c for c in types_a if c in types_b]
    sa_, sb = _column_stats(service, va, common), _column_stats(service, vb, common)
    for column in common:
        shifted = {
            stat: (sa_[column].get(stat), sb[column].get(stat))
            for stat in STATS
            if sa_[column].get(stat) != sb[column].get(stat)
        }
        if shifted:
            result.stats[column] = shifted
    if key is not None:
        result.keys = _key_diff(service, va, vb, key, common)
    return result


def _column_stats(
    service: DatasetService, version: DatasetVersion, columns: list[str]
) -> dict[str, dict]:
    """Per-column statistics: from the stored profile when there is one, else DuckDB."""
    profile = service.profile(version)
    if profile and "columns" in profile:
        return {c: {s: profile["columns"].get(c, {}).get(s) for s in STATS} for c in columns}
    relation = service.load(version, format="duckdb")
    out: dict[str, dict] = {}
    for column in columns:
        q = _quote(column)
        numeric = _is_numeric(relation.types[relation.columns.index(column)])
        parts = [f"count(*) - count({q})", f"min({q})", f"max({q})"]
        parts += [f"avg({q})", f"stddev_samp({q})"] if numeric else ["NULL", "NULL"]
        row = relation.aggregate(", ".join(parts)).fetchall()[0]
        out[column] = {s: _plain(v) for s, v in zip(STATS, row, strict=True)}
    return out


def _key_diff(
    service: DatasetService, va: DatasetVersion, vb: DatasetVersion, key: str, common: list[str]
) -> dict[str, Any]:
    import duckdb

    if key not in common:
        raise InvalidInput(
            f"Key column {key!r} is not in both {va.ref} and {vb.ref}. "
            f"Columns in both: {', '.join(common)}."
        )
    con = duckdb.connect()
    try:
        con.register("a", service.load(va, format="arrow"))
        con.register("b", service.load(vb, format="arrow"))
        k = _quote(key)
        for name in ("a", "b"):
            dupes = con.execute(f"SELECT count(*) - count(DISTINCT {k}) FROM {name}").fetchone()[0]
            if dupes:
                ref = va.ref if name == "a" else vb.ref
                raise InvalidInput(
                    f"Key column {key!r} is not unique in {ref} ({dupes} duplicates)."
                )
        others = [c for c in common if c != key]
        changed = (
            " OR ".join(f"a.{_quote(c)} IS DISTINCT FROM b.{_quote(c)}" for c in others) or "false"
        )
        queries = {
            "added": f"SELECT b.{k} FROM b ANTI JOIN a ON a.{k} = b.{k}",
            "removed": f"SELECT a.{k} FROM a ANTI JOIN b ON a.{k} = b.{k}",
            "changed": f"SELECT a.{k} FROM a JOIN b ON a.{k} = b.{k} WHERE {changed}",
        }
        out: dict[str, Any] = {"key": key}
        for label, sql in queries.items():
            out[label] = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
            examples = con.execute(f"SELECT * FROM ({sql}) ORDER BY 1 LIMIT 5").fetchall()
            out[f"{label}_examples"] = [_plain(r[0]) for r in examples]
        return out
    finally:
        con.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_numeric(duck_type: Any) -> bool:
    text = str(duck_type).upper()
    return any(word in text for word in ("INT", "FLOAT", "DOUBLE", "DECIMAL", "REAL"))


def _plain(value: Any) -> Any:
    """JSON-friendly values out of DuckDB (dates and decimals as text, numbers as numbers)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
