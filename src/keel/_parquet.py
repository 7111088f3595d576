"""Reading Parquet from a file object or bytes that Python owns.

``pyarrow.parquet.read_table`` on such a source goes through Arrow's dataset layer, whose
worker threads can hold the last reference to the source. When that reference is dropped
while the interpreter shuts down, the worker needs the GIL to free a Python object, the
interpreter ends the thread, and the C++ runtime aborts the whole process ("terminate called
without an active exception", exit 134) after the program's work is done. A
:class:`pyarrow.parquet.ParquetFile` keeps the source on the calling thread and is closed
before this returns, so nothing Python owns outlives the read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_parquet"]


def read_parquet(source: IO[bytes] | bytes, *, columns: Sequence[str] | None = None) -> pa.Table:
    """The table in ``source`` (a binary file object or the file's bytes), all columns or
    only ``columns``.

    Raises:
        pyarrow.ArrowException, OSError: ``source`` is not a readable Parquet file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(source, (bytes, bytearray, memoryview)):
        source = pa.BufferReader(source)
    with pq.ParquetFile(source) as reader:
        return reader.read(columns=list(columns) if columns is not None else None)
