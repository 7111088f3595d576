"""What can be validated: any table-like input, turned into one Arrow table.

``validate``, ``infer_schema`` and ``scan_pii`` all accept the same things: a pandas or
polars DataFrame, a pyarrow Table or RecordBatch, a dataset version or reference
(``credit:v3``), or a path to a Parquet, CSV or JSON-lines file. :func:`load_table` turns
each into a :class:`Subject`: the table plus what it came from, so that a report can be
linked to the dataset version it describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from keel.errors import InvalidInput, NotFound

__all__ = ["Subject", "dataset_service", "load_table", "stored_profile"]

_FILE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv", ".jsonl", ".ndjson", ".json")


@dataclass
class Subject:
    """A table to check, and what it is: ``kind`` is ``dataset_version``, ``file`` or
    ``table``; ``id`` the dataset version's id or the file's path; ``label`` what a
    person reads (``credit:v3``); ``learnt`` what loading found out about the values on
    the way, for :class:`~keel.validation._scans.Scans`."""

    table: pa.Table
    kind: str
    id: str | None
    label: str
    version: Any = None  # the DatasetVersion, when there is one
    learnt: dict[tuple[Any, ...], Any] = field(default_factory=dict)


def load_table(data: Any, *, purpose: str = "validate", store: Any = None) -> Subject:
    """Turn ``data`` into an Arrow table with its origin; raise ``InvalidInput`` if it
    is none of the accepted kinds.

    ``purpose`` names the calling function in error messages; ``store`` is where dataset
    references are looked up (the configured project's store by default).
    """
    if isinstance(data, pa.Table):
        return Subject(_unique_names(data, purpose), "table", None, "table")
    if isinstance(data, pa.RecordBatch):
        return Subject(
            _unique_names(pa.Table.from_batches([data]), purpose), "table", None, "table"
        )
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and type(data).__name__ == "DataFrame":
        learnt: dict[tuple[Any, ...], Any] = {}
        table = _unique_names(_from_pandas(data, purpose, learnt), purpose)
        return Subject(table, "table", None, "DataFrame", learnt=learnt)
    if module == "polars" and type(data).__name__ == "DataFrame":
        return Subject(_unique_names(data.to_arrow(), purpose), "table", None, "DataFrame")
    from keel.data import DatasetVersion

    if isinstance(data, DatasetVersion):
        return _from_dataset(data, purpose, store)
    if isinstance(data, Path) or (isinstance(data, str) and _looks_like_path(data)):
        return _from_file(Path(data), purpose)
    if isinstance(data, str):
        return _from_dataset(data, purpose, store)
    raise InvalidInput(
        f"{purpose}() cannot read a {type(data).__name__}. Give it a pandas or polars "
        "DataFrame, a pyarrow Table, a dataset reference such as 'credit:v3', or the path "
        "of a Parquet, CSV or JSON-lines file."
    )


def stored_profile(data: Any, *, store: Any = None) -> dict[str, Any] | None:
    """The profile stored with a dataset version named by ``data`` (a reference or a
    DatasetVersion), read without loading the data; ``None`` for anything else, or for a
    version stored without one."""
    from keel.data import DatasetVersion

    if not isinstance(data, DatasetVersion) and not (
        isinstance(data, str) and not _looks_like_path(data)
    ):
        return None
    service = dataset_service(store)
    return service.profile(service.resolve(data))


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith(_FILE_SUFFIXES) or "/" in text or Path(text).exists()


def _from_pandas(df: Any, purpose: str, learnt: dict[tuple[Any, ...], Any]) -> pa.Table:
    """Arrow from pandas, without copying where the dtypes allow (see ``_pandas``)."""
    from ._pandas import arrow_from_pandas

    names = [str(n) for n in df.columns]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(
            f"{purpose}() needs unique column names; {duplicates} appear more than once. "
            "Rename the columns first."
        )
    try:
        return arrow_from_pandas(df, learnt)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise InvalidInput(
            f"{purpose}() could not convert the DataFrame to Arrow: {exc}. Give each column "
            "one type (e.g. df[col].astype(str))."
        ) from exc


def dataset_service(store: Any = None) -> Any:
    """The dataset service on ``store``, or on the configured project's store."""
    if store is None:
        from keel.client import default_client

        return default_client().datasets
    from keel.data import DatasetService

    return DatasetService(store, project=store.config.project)


def _from_dataset(ref: Any, purpose: str, store: Any) -> Subject:
    service = dataset_service(store)
    version = service.resolve(ref)
    if version.kind != "table":
        raise InvalidInput(
            f"{version.ref} is a set of files, not a table; {purpose}() checks tables. "
            "Version the table itself (a DataFrame, Parquet or CSV file) and try again."
        )
    table = service.load(version, format="arrow")
    return Subject(table, "dataset_version", str(version.id), version.ref, version)


def _from_file(path: Path, purpose: str) -> Subject:
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    if not path.exists():
        raise NotFound(
            f"{path} does not exist. Give {purpose}() the path of a Parquet, CSV or "
            "JSON-lines file, or a dataset reference such as 'credit:v3'."
        )
    suffix = path.suffix.lower()
    try:
        if path.is_dir() or suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        elif suffix in (".csv", ".tsv"):
            options = pcsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            table = pcsv.read_csv(path, parse_options=options)
        elif suffix in (".jsonl", ".ndjson", ".json"):
            table = pjson.read_json(path)
        else:
            raise InvalidInput(
                f"{path} is not a table file keel reads (its suffix is {suffix or 'missing'}). "
                f"Use one of {', '.join(_FILE_SUFFIXES)}."
            )
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"Cannot read {path} as a table: {exc}. Check the file.") from exc
    return Subject(_unique_names(table, purpose), "file", str(path.resolve()), str(path))


def _unique_names(table: pa.Table, purpose: str) -> pa.Table:
    names = table.column_names
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(
            f"{purpose}() needs unique column names; {duplicates} appear more than once. "
            "Rename the columns first."
        )
    return table
