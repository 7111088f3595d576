"""The input examples model packages store: rows of training data kept outside any dataset.

``keel fsck`` hands them to the data concept's erasure check, so an erasure that removed a
person from every dataset version also finds them in a model's stored example.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from keel._parquet import read_parquet
from keel.data import StoredCopy
from keel.errors import KeelError
from keel.store import Store
from keel.store import schema as t

from ._package import EXAMPLE_FILE, read_package

__all__ = ["stored_examples"]


def stored_examples(store: Store, project_id: str) -> Iterator[StoredCopy]:
    """The stored input example of every model version of the project that has one.

    A package or example that cannot be read is skipped: fsck's object checks report it.
    """
    mv, m = t.model_versions, t.models
    with store.read() as conn:
        packages = conn.execute(
            sa.select(m.c.name, mv.c.version, mv.c.package_digest)
            .join(m, m.c.id == mv.c.model_id)
            .where(m.c.project_id == project_id)
            .order_by(m.c.name, mv.c.version)
        ).all()
    for name, version, digest in packages:
        try:
            example = read_package(store.objects, digest).files.get(EXAMPLE_FILE)
            if example is None:
                continue
            with store.objects.open(example) as fh:
                table = read_parquet(fh)
        except KeelError:
            continue
        yield StoredCopy(
            ref=f"{name}:{version}",
            table=table,
            what="model input example",
            remedy="register the model again with an example without them",
        )
