"""Preparing a dataset version: its bytes in an object store, before anything is recorded.

Both ways of logging share this: a local :class:`DatasetService` prepares into its own
object store, a client of a keel server into the server's (only the objects it lacks
travel), and the server checks what it is asked to record with :func:`check_prepared`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel._plural import count
from keel.errors import InvalidInput, ObjectNotFound
from keel.store.objects import ObjectStore

from ._versions import Manifest, ManifestEntry

__all__ = ["PreparedVersion", "check_prepared", "prepare_version"]


@dataclass(frozen=True)
class PreparedVersion:
    """A version's objects, all stored: its manifest and (tables) its profile."""

    manifest: Manifest
    manifest_digest: str
    profile_digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """What a keel server needs to record it (besides name, tags, parents, producer)."""
        return {
            "manifest_digest": self.manifest_digest,
            "profile_digest": self.profile_digest,
            "kind": self.manifest.kind,
            "schema": self.manifest.schema,
            "row_count": self.manifest.row_count,
            "size": self.manifest.size,
        }


def prepare_version(obj: Any, objects: ObjectStore) -> PreparedVersion:
    """Store ``obj``'s parts (or files), its manifest and profile in ``objects``."""
    from ._tables import as_source  # pyarrow: not for workspace commands that skip it

    kind, payload = as_source(obj)
    manifest, profile_json = (
        _store_table(payload, objects) if kind == "table" else _store_files(payload, objects)
    )
    manifest.check_paths()  # a file name no folder could take back is refused now, not at get
    manifest_digest = objects.put(manifest.to_bytes())
    profile_digest = objects.put(profile_json) if profile_json else None
    return PreparedVersion(manifest, manifest_digest, profile_digest)


def check_prepared(
    objects: ObjectStore,
    manifest_digest: str,
    profile_digest: str | None,
    claimed: dict[str, Any] | None = None,
) -> PreparedVersion:
    """The prepared version a client asks a server to record, if it holds together.

    The manifest must be stored and intact, list safe paths, and name only objects that
    are stored with the sizes it gives; the profile (if any) must be stored and be JSON;
    what the client ``claimed`` (kind, schema, row_count, size) must match the manifest.

    Raises:
        InvalidInput: any of these does not hold (nothing is recorded).
    """
    import orjson

    manifest = Manifest.from_bytes(_read(objects, manifest_digest, "manifest"))
    manifest.check_paths()
    lacking, sizes = [], {}
    for entry in manifest.entries:
        try:
            sizes[entry.path] = objects.size(entry.digest)
        except ObjectNotFound:
            lacking.append(entry)
    if lacking:
        names = ", ".join(f"{e.path} ({e.digest[:16]})" for e in lacking[:5])
        raise InvalidInput(
            f"The manifest {manifest_digest[:16]} names {count(lacking, 'object')} this server "
            f"does not store: {names}. Push them first (client.objects.put_many), then record "
            "the version again."
        )
    for entry in manifest.entries:
        if sizes[entry.path] != entry.size:
            raise InvalidInput(
                f"The manifest {manifest_digest[:16]} gives {entry.path} a size of {entry.size} "
                f"bytes, but object {entry.digest[:16]} holds {sizes[entry.path]}. Prepare the "
                "version again."
            )
    if profile_digest is not None:
        try:
            profile = orjson.loads(_read(objects, profile_digest, "profile"))
        except orjson.JSONDecodeError:
            profile = None
        if not isinstance(profile, dict):
            raise InvalidInput(
                f"The profile {profile_digest[:16]} is not a JSON object. Prepare the version "
                "again (keel.log_dataset writes the profile)."
            )
    actual = PreparedVersion(manifest, manifest_digest, profile_digest).to_dict()
    for key, value in (claimed or {}).items():
        if key in actual and value != actual[key]:
            raise InvalidInput(
                f"The request gives {key}={str(value)[:60]!r}, but the manifest "
                f"{manifest_digest[:16]} says {str(actual[key])[:60]!r}. Send what the "
                "manifest holds."
            )
    return PreparedVersion(manifest, manifest_digest, profile_digest)


def _read(objects: ObjectStore, digest: str, what: str) -> bytes:
    try:
        return objects.read_bytes(digest)
    except ObjectNotFound:
        raise InvalidInput(
            f"The {what} {digest[:16]} is not stored on this server. Push it first "
            "(client.objects.put), then record the version again."
        ) from None


def _store_table(table, objects: ObjectStore) -> tuple[Manifest, bytes | None]:
    from ._tables import parquet_parts, schema_of

    parts = parquet_parts(table)
    digests = objects.put_many([data for data, _ in parts])
    entries = [
        ManifestEntry(f"part-{i:05d}.parquet", digest, len(data), rows)
        for i, (digest, (data, rows)) in enumerate(zip(digests, parts, strict=True))
    ]
    manifest = Manifest("table", entries, schema_of(table), table.num_rows)
    return manifest, _profile_json(table)


def _store_files(files: list[tuple[str, Path]], objects: ObjectStore) -> tuple[Manifest, None]:
    digests = objects.put_many([path for _, path in files])
    entries = [
        ManifestEntry(rel, digest, path.stat().st_size)
        for (rel, path), digest in zip(files, digests, strict=True)
    ]
    return Manifest("files", entries), None


def _profile_json(table) -> bytes | None:
    """The table's profile as JSON, computed part by part and merged."""
    try:
        from ._profile import merge_profiles, profile_table
    except ImportError:  # profiles arrive with the profiling module
        return None
    from ._tables import PART_ROWS

    profile = None
    for start in range(0, max(table.num_rows, 1), PART_ROWS):
        chunk = table.slice(start, PART_ROWS)
        part = profile_table(chunk, edges=profile.edges() if profile is not None else None)
        profile = part if profile is None else merge_profiles(profile, part)
    return profile.to_json() if profile is not None else None
