"""Datasets and their versions, manifests and profiles, as the dataset routes answer them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "Dataset",
    "DatasetDiff",
    "DatasetManifest",
    "DatasetProfile",
    "DatasetVersion",
    "FilesDiff",
    "ManifestEntry",
    "SchemaDiff",
]


class DatasetVersion(BaseModel):
    """One immutable version of a dataset, such as ``credit:v3``."""

    id: str
    dataset: str = Field(examples=["credit"])
    version: int = Field(examples=[3])
    ref: str = Field(examples=["credit:v3"])
    kind: str = Field(examples=["table", "files"])
    size: int = Field(description="Bytes, every file together.")
    manifest_digest: str = Field(description="blake3 of the manifest JSON.")
    created_at: int = Field(description="Milliseconds since the epoch.")
    row_count: int | None = Field(description="Rows of a table; null for a set of files.")
    schema_: list[dict[str, Any]] | None = Field(
        alias="schema",
        description="Columns of a table: name, type (Arrow), nullable.",
        examples=[[{"name": "age", "type": "int64", "nullable": True}]],
    )
    profile_digest: str | None
    description: str | None
    source: dict[str, Any] | None = Field(description="Where the data was ingested from.")
    tags: list[str] = Field(examples=[["latest", "prod"]])


class Dataset(BaseModel):
    """A dataset with its newest version."""

    name: str = Field(examples=["credit"])
    versions: int = Field(description="How many versions it has.")
    latest: DatasetVersion
    description: str | None


class ManifestEntry(BaseModel):
    """One file of a version (a Parquet part of a table)."""

    path: str = Field(examples=["part-0000.parquet"])
    digest: str = Field(description="blake3 of the file: fetch it from /api/v1/objects.")
    size: int
    rows: int | None = Field(description="Rows in a table's part.")


class DatasetManifest(BaseModel):
    """What a version holds: its files and, for a table, its schema and row count."""

    kind: str = Field(examples=["table", "files"])
    entries: list[ManifestEntry]
    schema_: list[dict[str, Any]] | None = Field(alias="schema")
    row_count: int | None


class DatasetProfile(BaseModel):
    """A table version's statistics: per column its type, counts, range, quantiles,
    histogram and most frequent values."""

    format: str = Field(examples=["keel.profile/1"])
    row_count: int
    columns: dict[str, dict[str, Any]] = Field(
        description="Column name -> name, type, kind, count, null_count, min, max, mean, std, "
        "quantiles, histogram, distinct_approx, top, inf_count, sketch."
    )


class FilesDiff(BaseModel):
    """Paths added, removed and changed (a set of files; empty lists for tables)."""

    added: list[str]
    removed: list[str]
    changed: list[str]


class SchemaDiff(BaseModel):
    """Columns added and removed, and columns whose type changed: {column: [a, b]}."""

    added: list[str]
    removed: list[str]
    types_changed: dict[str, list[str]] = Field(examples=[{"age": ["int64", "double"]}])


class DatasetDiff(BaseModel):
    """What changed from version ``a`` to version ``b``."""

    a: str = Field(examples=["credit:v2"])
    b: str = Field(examples=["credit:v3"])
    same: bool = Field(description="Nothing below differs.")
    files: FilesDiff
    schema_: SchemaDiff = Field(alias="schema")
    rows: list[int | None] = Field(description="[a's row count, b's row count].")
    stats: dict[str, dict[str, list[Any]]] = Field(
        description="Per column, the statistics that differ: {stat: [a, b]} (null_count, min, "
        "max, mean, std)."
    )
    keys: dict[str, Any] | None = Field(
        description="With a key column: rows added, removed and changed (counts, examples)."
    )
