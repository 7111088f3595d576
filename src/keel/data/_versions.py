"""Dataset versions, their manifests, and the references users write for them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from keel.errors import InvalidInput

__all__ = [
    "DatasetVersion",
    "Manifest",
    "ManifestEntry",
    "Reference",
    "check_entry_path",
    "parse_ref",
]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_REF_RE = re.compile(r"^(?P<name>[^:@]+)(?::[vV]?(?P<version>\d+)|@(?P<tag>[A-Za-z0-9_.\-]+))?$")
"""``name``, ``name:vN``, ``name:N`` (the models' form, accepted too) or ``name@tag``."""
MAX_VERSION = 2**31 - 1
"""Largest version number (the store keeps versions in a 32-bit INTEGER column)."""
_DIGEST_RE = re.compile(r"^[0-9a-f]{16,64}$")
_OBJECT_RE = re.compile(r"^[0-9a-f]{64}$")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
MAX_PATH = 1024
"""Longest path a manifest entry may have (characters)."""


def check_entry_path(path: object) -> str:
    """A manifest entry's path, if it stays inside the folder it is written under.

    It must be relative and use ``/`` between parts: no leading ``/``, no ``\\``, no
    drive letter (``C:``), no empty, ``.`` or ``..`` part, no NUL. Checked when a
    version is recorded and again before its files are written anywhere.
    """
    if not isinstance(path, str) or not path or len(path) > MAX_PATH:
        raise InvalidInput(
            f"Manifest path {str(path)[:80]!r} is not valid: it must be a relative path of "
            f"1 to {MAX_PATH} characters."
        )
    parts = path.split("/")
    if (
        path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") or _DRIVE_RE.match(p) for p in parts)
    ):
        raise InvalidInput(
            f"Manifest path {path[:80]!r} could write outside the folder it is fetched into: "
            "a path must be relative, use '/' between parts, and have no empty, '.' or '..' "
            "part, no backslash and no drive letter. Rename the file and log it again."
        )
    return path


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
            # plain dicts: dataclasses.asdict deep-copies each field (most of the time
            # of a 2,000-file manifest); the keys are sorted below either way
            "entries": [
                {"path": e.path, "digest": e.digest, "size": e.size, "rows": e.rows}
                for e in sorted(self.entries, key=lambda e: e.path)
            ],
            "schema": self.schema,
            "row_count": self.row_count,
        }
        import orjson  # here: `keel data status` imports this module and no JSON library

        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        """Parse a stored manifest; :class:`InvalidInput` if it is not one (its paths are
        checked separately, by :meth:`check_paths`)."""
        import orjson

        try:
            data = orjson.loads(raw)
            kind, entries = data["kind"], data["entries"]
            schema, row_count = data.get("schema"), data.get("row_count")
            if (
                kind not in ("table", "files")
                or not isinstance(entries, list)
                or not entries
                or not (schema is None or isinstance(schema, list))
                or not (row_count is None or _is_count(row_count))
            ):
                raise ValueError("bad fields")
            parsed = [ManifestEntry(**e) for e in entries]
            for e in parsed:
                if not (
                    isinstance(e.path, str)
                    and isinstance(e.digest, str)
                    and _OBJECT_RE.match(e.digest)
                    and _is_count(e.size)
                    and (e.rows is None or _is_count(e.rows))
                ):
                    raise ValueError("bad entry")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(
                "This object is not a dataset manifest: expected JSON with 'kind' ('table' or "
                "'files') and a non-empty list of 'entries' (path, 64-hex digest, size, rows). "
                "Log the data with keel.log_dataset, which writes the manifest."
            ) from exc
        return cls(kind=kind, entries=parsed, schema=schema, row_count=row_count)

    def check_paths(self) -> Manifest:
        """Raise :class:`InvalidInput` unless every path is safe (see
        :func:`check_entry_path`) and named once."""
        seen: set[str] = set()
        for entry in self.entries:
            if check_entry_path(entry.path) in seen:
                raise InvalidInput(
                    f"Manifest path {entry.path[:80]!r} appears twice; each file is listed once."
                )
            seen.add(entry.path)
        return self

    def by_path(self) -> dict[str, ManifestEntry]:
        return {e.path: e for e in self.entries}


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


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
    """Parse ``credit``, ``credit:v3`` (or ``credit:3``, as models are written),
    ``credit@latest``, ``credit@prod`` or a digest. A version prints as ``credit:v3``."""
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
            f"Cannot read the dataset reference {ref!r}. Write 'name', 'name:vN' (or "
            "'name:N'), 'name@tag' or a digest (at least 16 hex characters)."
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


def check_tag(tag: object) -> str:
    """A tag users may set (``name@tag``): letters, digits, ``_-.``; not ``latest``."""
    if (
        not isinstance(tag, str)
        or not tag
        or tag == "latest"
        or not all(c.isalnum() or c in "_.-" for c in tag)
    ):
        raise InvalidInput(
            f"Tag {tag!r} is not valid: use letters, digits, '_', '-' or '.'; 'latest' is reserved."
        )
    return tag
