"""keel.data.prepare_parts: a table version from Parquet parts already in the object store."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from keel.data import DatasetService, prepare_parts
from keel.errors import InvalidInput
from keel.store import Store


def _part(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def test_parts_become_one_version_in_their_order(store: Store) -> None:
    objects = store.objects
    first = objects.put(_part(pa.table({"id": [3, 4], "y": [0.5, 0.25]})))
    second = objects.put(_part(pa.table({"id": [1], "y": [1.0]})))
    prepared = prepare_parts(objects, [first, second])
    assert [(e.path, e.digest, e.rows) for e in prepared.manifest.entries] == [
        ("part-00000.parquet", first, 2),
        ("part-00001.parquet", second, 1),
    ]
    service = DatasetService(store)
    version = service.record("scores", prepared)
    assert (version.ref, version.row_count) == ("scores:v1", 3)
    pd.testing.assert_frame_equal(
        service.load(version), pd.DataFrame({"id": [3, 4, 1], "y": [0.5, 0.25, 1.0]})
    )
    assert service.profile(version)["columns"]["y"]["count"] == 3


def test_no_parts_other_schemas_and_non_parquet_are_refused(store: Store) -> None:
    objects = store.objects
    with pytest.raises(InvalidInput, match="needs at least one Parquet part"):
        prepare_parts(objects, [])
    ints = objects.put(_part(pa.table({"id": [1]})))
    texts = objects.put(_part(pa.table({"id": ["a"]})))
    with pytest.raises(InvalidInput, match="Part 1 .* has the schema .*Write every part with one"):
        prepare_parts(objects, [ints, texts])
    junk = objects.put(b"not parquet")
    with pytest.raises(InvalidInput, match="is not a Parquet file"):
        prepare_parts(objects, [junk])
