"""Record the quickstart's dataset in the metadata store.

A stop-gap until the data capability (``keel.log_dataset``) exists; it writes the same
tables that capability will own.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from keel.store import Store, new_id, now_ms
from keel.store import schema as t

__all__ = ["RecordedVersion", "record_dataset"]


@dataclass(frozen=True)
class RecordedVersion:
    number: int
    digest: str
    size: int


def record_dataset(store: Store, name: str, frame: pd.DataFrame, parquet: bytes) -> RecordedVersion:
    project = store.project_id()
    with store.write() as conn:
        digest = store.put_object(parquet, conn=conn, media_type="application/vnd.apache.parquet")
        dataset_id = conn.execute(
            sa.select(t.datasets.c.id).where(
                t.datasets.c.project_id == project, t.datasets.c.name == name
            )
        ).scalar()
        if dataset_id is None:
            dataset_id = new_id()
            conn.execute(
                t.datasets.insert().values(
                    id=dataset_id, project_id=project, name=name, created_at=now_ms()
                )
            )
        number = 1 + (
            conn.execute(
                sa.select(sa.func.max(t.dataset_versions.c.version)).where(
                    t.dataset_versions.c.dataset_id == dataset_id
                )
            ).scalar()
            or 0
        )
        conn.execute(
            t.dataset_versions.insert().values(
                id=new_id(),
                dataset_id=dataset_id,
                version=number,
                manifest_digest=digest,
                kind="table",
                row_count=len(frame),
                size=len(parquet),
                schema={c: str(dtype) for c, dtype in frame.dtypes.items()},
                created_at=now_ms(),
            )
        )
    return RecordedVersion(number, digest, len(parquet))
