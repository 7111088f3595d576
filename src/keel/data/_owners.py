"""What a dataset version holds, by object digest: for ``keel fsck`` to name the owner of a
missing or corrupt object (the version and the file, never a table column)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from keel.errors import KeelError
from keel.store import Store
from keel.store import schema as t

from ._versions import Manifest

__all__ = ["version_owners"]


def version_owners(store: Store, digests: Collection[str]) -> dict[str, list[str]]:
    """Digest -> ``"dataset <project>/<name>:vN file <path>"`` (or its manifest or profile)
    for every dataset version that holds one of ``digests``.

    Reads the manifests of every version to find the files, so call it with the few
    digests something is wrong with, not every object. A manifest that cannot be read is
    skipped (it is itself among the bad objects, and named as the version's manifest).
    """
    wanted = set(digests)
    if not wanted:
        return {}
    v, d, p = t.dataset_versions, t.datasets, t.projects
    with store.read() as conn:
        rows = conn.execute(
            sa.select(p.c.name, d.c.name, v.c.version, v.c.manifest_digest, v.c.profile_digest)
            .join(d, d.c.id == v.c.dataset_id)
            .join(p, p.c.id == d.c.project_id)
            .order_by(p.c.name, d.c.name, v.c.version)
        ).all()
    owners: dict[str, list[str]] = {}
    for project, name, version, manifest_digest, profile_digest in rows:
        ref = f"dataset {project}/{name}:v{version}"
        if manifest_digest in wanted:
            owners.setdefault(manifest_digest, []).append(f"{ref} manifest")
            continue
        if profile_digest in wanted:
            owners.setdefault(profile_digest, []).append(f"{ref} profile")
        try:
            manifest = Manifest.from_bytes(store.objects.read_bytes(manifest_digest))
        except (KeelError, ValueError, KeyError, TypeError):
            continue
        for entry in manifest.entries:
            if entry.digest in wanted:
                owners.setdefault(entry.digest, []).append(f"{ref} file {entry.path}")
    return owners
