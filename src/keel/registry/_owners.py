"""What a model version holds, by object digest: for ``keel fsck`` to name the owner of a
missing or corrupt object (the version and the file, never a table column)."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from keel.errors import KeelError
from keel.store import Store
from keel.store import schema as t

from ._package import read_package

__all__ = ["package_owners"]


def package_owners(store: Store, digests: Collection[str]) -> dict[str, list[str]]:
    """Digest -> ``"model <project>/<name>:N file <name>"`` (or its package manifest) for
    every model version that holds one of ``digests``. A package that cannot be read is
    skipped (it is itself among the bad objects, and named as the version's package)."""
    wanted = set(digests)
    if not wanted:
        return {}
    mv, m, p = t.model_versions, t.models, t.projects
    with store.read() as conn:
        rows = conn.execute(
            sa.select(p.c.name, m.c.name, mv.c.version, mv.c.package_digest)
            .join(m, m.c.id == mv.c.model_id)
            .join(p, p.c.id == m.c.project_id)
            .order_by(p.c.name, m.c.name, mv.c.version)
        ).all()
    owners: dict[str, list[str]] = {}
    for project, name, version, package in rows:
        ref = f"model {project}/{name}:{version}"
        if package in wanted:
            owners.setdefault(package, []).append(f"{ref} package")
            continue
        try:
            files = read_package(store.objects, package).files
        except KeelError:
            continue
        for file_name, digest in sorted(files.items()):
            if digest in wanted:
                owners.setdefault(digest, []).append(f"{ref} file {file_name}")
    return owners
