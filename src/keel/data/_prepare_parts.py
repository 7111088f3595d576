"""Preparing a table version from Parquet parts that are already stored, one part at a time.

For writers that stream: batch scoring writes its output in Parquet parts as it goes (on
one machine or on many), puts each part in the object store, and then asks for a version
made of them. Only one part is in memory at a time (to profile it), never the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence

from keel._parquet import read_parquet
from keel.errors import InvalidInput
from keel.store.objects import ObjectStore

from ._prepare import PreparedVersion
from ._versions import Manifest, ManifestEntry

__all__ = ["prepare_parts"]


def prepare_parts(objects: ObjectStore, digests: Sequence[str]) -> PreparedVersion:
    """A table version made of the stored Parquet parts ``digests``, in this order.

    Reads each part once (verified) for its rows, schema and profile, then stores the
    manifest and the merged profile. Record the result with
    :meth:`~keel.data.DatasetService.record`.

    Raises:
        InvalidInput: no parts, a part that is not Parquet, or parts whose schemas differ.
        ObjectNotFound: a part is not in ``objects``.
    """
    import pyarrow as pa

    from ._tables import schema_of

    if not digests:
        raise InvalidInput("A table version needs at least one Parquet part; none was given.")
    entries, schema, profile = [], None, None
    for i, digest in enumerate(digests):
        with objects.open(digest) as fh:
            try:
                table = read_parquet(fh)
            except (pa.ArrowException, OSError) as exc:
                raise InvalidInput(
                    f"Object {digest[:16]} (part {i}) is not a Parquet file: {exc}. "
                    "Store Parquet parts only."
                ) from exc
        if schema is None:
            schema = table.schema
        elif not table.schema.equals(schema):
            raise InvalidInput(
                f"Part {i} ({digest[:16]}) has the schema {table.schema.to_string()!r}, not "
                f"{schema.to_string()!r} like part 0. Write every part with one schema."
            )
        entries.append(
            ManifestEntry(f"part-{i:05d}.parquet", digest, objects.size(digest), table.num_rows)
        )
        profile = _profile(table, profile)
        del table  # one part in memory at a time
    rows = sum(e.rows or 0 for e in entries)
    manifest = Manifest("table", entries, schema_of(schema.empty_table()), rows)
    manifest.check_paths()
    manifest_digest = objects.put(manifest.to_bytes())
    profile_digest = objects.put(profile.to_json()) if profile is not None else None
    return PreparedVersion(manifest, manifest_digest, profile_digest)


def _profile(table, merged):
    """``merged`` with ``table``'s profile added, on the same histogram edges."""
    from ._profile import merge_profiles, profile_table

    part = profile_table(table, edges=merged.edges() if merged is not None else None)
    return part if merged is None else merge_profiles(merged, part)
