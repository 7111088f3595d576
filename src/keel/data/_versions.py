"""Dataset versions, their manifests, and the references users write for them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from keel.errors import InvalidInput

__all__ = ["DatasetVersion", "Manifest", "ManifestEntry", "Reference", "parse_ref"]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_REF_RE = re.compile(r"^(?P<name>[^:@]+)(?::v(?P<version>\d+)|@(?P<tag>[A-Za-z0-9_.\-]+))?$")
MAX_VERSION = 2**31 - 1
"""Largest version number (the store keeps versions in a 32-bit INTEGER column)."""
_DIGEST_RE = re.compile(r"^[0-9a-f]{16,64}$")


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    digest: str
    size: int
    rows: int | None = None


@dataclass
class Manifest:
    """What a version holds: its files (Parquet parts for tables) and, for tables, the
    schema and row count. Stored as canonical JSON in the object store."""

    kind: str  # "table" | "files"
    entries: list[ManifestEntry]
    schema: list[dict[str, Any]] | None = None
    row_count: int | None = None

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def to_bytes(self) -> bytes:
        data = {
            "format": 1,
            "kind": self.kind,
            "entries": [asdict(e) for e in sorted(self.entries, key=lambda e: e.path)],
            "schema": self.schema,
            "row_count": self.row_count,
        }
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        data = orjson.loads(raw)
        return cls(
            kind=data["kind"],
            entries=[ManifestEntry(**e) for e in data["entries"]],
            schema=data.get("schema"),
            row_count=data.get("row_count"),
        )

    def by_path(self) -> dict[str, ManifestEntry]:
        return {e.path: e for e in self.entries}


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset, such as ``credit:v3``."""

    id: str
    dataset: str
    version: int
    kind: str
    size: int
    manifest_digest: str
    created_at: int
    row_count: int | None = None
    schema: list[dict[str, Any]] | None = None
    profile_digest: str | None = None
    description: str | None = None
    source: dict[str, Any] | None = None
    tags: tuple[str, ...] = field(default=())

    @property
    def ref(self) -> str:
        return f"{self.dataset}:v{self.version}"

    def __str__(self) -> str:
        return self.ref

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ref"] = self.ref
        data["tags"] = list(self.tags)
        return data


@dataclass(frozen=True)
class Reference:
    """A parsed reference: ``name``, ``name:vN``, ``name@tag`` or a manifest digest."""

    name: str | None = None
    version: int | None = None
    tag: str | None = None
    digest: str | None = None


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(
            f"Dataset name {name!r} is not valid: use 1 to 200 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (e.g. 'credit' or 'credit-2024')."
        )
    return name


def parse_ref(ref: object) -> Reference:
    """Parse ``credit``, ``credit:v3``, ``credit@latest``, ``credit@prod`` or a digest."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput(
            f"A dataset reference must be a string such as 'credit:v3', 'credit@latest' or a "
            f"digest. Got {ref!r}."
        )
    ref = ref.strip()
    if _DIGEST_RE.match(ref):  # 16+ hex characters: a manifest digest or a prefix of one
        return Reference(digest=ref)
    match = _REF_RE.match(ref)
    if not match:
        raise InvalidInput(
            f"Cannot read the dataset reference {ref!r}. Write 'name', 'name:vN', 'name@tag' "
            "or a digest (at least 16 hex characters)."
        )
    name = check_name(match["name"])
    version = int(match["version"]) if match["version"] else None
    if version is not None and version > MAX_VERSION:
        # a number no INTEGER column holds: refused here, not by the database driver
        raise InvalidInput(
            f"Dataset reference {ref[:60]!r}: version v{match['version'][:20]} is beyond "
            f"the largest version a dataset can have (v{MAX_VERSION}). Check the number."
        )
    tag = match["tag"]
    return Reference(name=name, version=version, tag=None if tag == "latest" else tag)
