"""Turning what users hand to ``log_dataset`` into Arrow tables or file lists."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from keel.errors import InvalidInput, NotFound

__all__ = ["PART_ROWS", "as_source", "parquet_parts", "schema_of"]

PART_ROWS = 1_000_000
"""Rows per Parquet part: parts are stored, deduplicated and profiled one at a time."""

TABLE_SUFFIXES = {".parquet", ".pq", ".csv", ".tsv", ".jsonl", ".ndjson", ".json"}


def as_source(obj: Any) -> tuple[str, Any]:
    """Classify ``obj``: ('table', pyarrow.Table) or ('files', list of (relative path, Path))."""
    if isinstance(obj, pa.Table):
        return "table", obj
    if isinstance(obj, pa.RecordBatch):
        return "table", pa.Table.from_batches([obj])
    module = type(obj).__module__.split(".")[0]
    if module == "pandas" and hasattr(obj, "columns"):
        try:
            return "table", pa.Table.from_pandas(obj, preserve_index=_keeps_index(obj))
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InvalidInput(f"This DataFrame cannot be stored as a table: {exc}") from exc
    if module == "polars" and hasattr(obj, "to_arrow"):
        return "table", obj.to_arrow()
    if isinstance(obj, str | os.PathLike):
        return _from_path(Path(obj))
    raise InvalidInput(
        f"Cannot log a {type(obj).__name__} as a dataset. Give a pandas or polars DataFrame, a "
        "pyarrow Table, a Parquet/CSV/JSON-lines file, or a folder of files."
    )


def _keeps_index(frame: Any) -> bool:
    """Keep a named index (it is data, e.g. 'customer_id'); drop an unnamed one, which is
    an artifact of filtering or concatenation."""
    return any(name is not None for name in frame.index.names)


def _from_path(path: Path) -> tuple[str, Any]:
    if not path.exists():
        raise NotFound(f"Cannot log {path}: no such file or folder.")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        if not files:
            raise InvalidInput(f"The folder {path} holds no files to version.")
        return "files", [(p.relative_to(path).as_posix(), p) for p in files]
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        return "files", [(path.name, path)]
    return "table", read_table_file(path)


def read_table_file(path: Path) -> pa.Table:
    """Read a Parquet, CSV/TSV or JSON-lines file into an Arrow table."""
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pq.read_table(path)
        if suffix in {".csv", ".tsv"}:
            import pyarrow.csv as pcsv

            delimiter = "\t" if suffix == ".tsv" else ","
            return pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=delimiter))
        import pyarrow.json as pjson

        return pjson.read_json(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"Cannot read {path} as a table: {exc}") from exc


def parquet_parts(table: pa.Table) -> list[tuple[bytes, int]]:
    """The table as Parquet files of at most :data:`PART_ROWS` rows: (bytes, rows).

    Writing is deterministic, so the same rows give the same bytes and the same digest.
    """
    parts = []
    for start in range(0, max(table.num_rows, 1), PART_ROWS):
        chunk = table.slice(start, PART_ROWS)
        buffer = io.BytesIO()
        pq.write_table(chunk, buffer, compression="zstd", write_statistics=True)
        parts.append((buffer.getvalue(), chunk.num_rows))
    return parts


def schema_of(table: pa.Table) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema]
