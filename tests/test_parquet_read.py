"""keel._parquet.read_parquet: the one way keel reads Parquet that Python owns."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from keel._parquet import read_parquet


def _parquet_bytes() -> bytes:
    sink = io.BytesIO()
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, None]})
    pq.write_table(table, sink)
    return sink.getvalue()


def test_reads_bytes_and_file_objects_alike() -> None:
    data = _parquet_bytes()
    from_bytes = read_parquet(data)
    from_file = read_parquet(io.BytesIO(data))
    assert from_bytes.equals(from_file)
    assert from_bytes.column("b").to_pylist() == ["x", "y", "z"]
    assert from_bytes.column("c").to_pylist() == [0.5, 1.5, None]


def test_reads_only_the_columns_asked_for() -> None:
    table = read_parquet(_parquet_bytes(), columns=("c", "a"))
    assert table.column_names == ["c", "a"]


def test_bytes_that_are_not_parquet_raise_arrows_error() -> None:
    with pytest.raises((pa.ArrowException, OSError)):
        read_parquet(b"this is not a parquet file at all")
