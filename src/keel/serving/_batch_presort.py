"""The rows of one output part, held for its profile, with float columns sorted as they come.

A profile describes a float column by its sorted values (quantiles, distinct count,
histogram, mean and spread are all computed over them), so the order of the rows does not
change it. Sorting each output batch in the writer thread, while the next batch is being
predicted, and merging the sorted runs when the part closes (a merge of runs, cheaper than
a sort) takes most of the sorting off the end of a batch-scoring job, where nothing else
runs beside it. Other columns are kept as they are: the frequent-item sketch of a string
column does depend on the order of its rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["PartRows"]


class PartRows:
    """The tables written to one part, for :func:`keel.data._profile.profile_table`.

    ``table()`` holds the same values per column as the tables added, in row order for
    every column but the float ones, which come sorted (NaN last; nulls become NaN, which
    the profile counts as missing either way).
    """

    def __init__(self) -> None:
        self._schema: pa.Schema | None = None
        self._columns: list[list[Any]] = []
        self._sorted: list[bool] = []

    def add(self, table: pa.Table) -> None:
        """Keep ``table``'s columns (its schema must be the first table's)."""
        import numpy as np
        import pyarrow as pa

        if self._schema is None:
            self._schema = table.schema
            self._sorted = [
                pa.types.is_float32(f.type) or pa.types.is_float64(f.type) for f in table.schema
            ]
            self._columns = [[] for _ in table.schema]
        for j, column in enumerate(table.columns):
            if self._sorted[j]:
                runs = self._columns[j]
                runs.append(np.sort(column.to_numpy()))
                # Merge while the newest run is as long as the one before (as a merge sort
                # does, bottom up): the work is done as batches come, and at most a
                # logarithmic number of runs, mostly short, is left for the close.
                while len(runs) > 1 and len(runs[-1]) >= len(runs[-2]):
                    last = runs.pop()
                    runs[-1] = np.sort(np.concatenate([runs[-1], last]), kind="stable")
            else:
                self._columns[j].extend(column.chunks)

    def table(self) -> pa.Table:
        """The part's rows (float columns sorted), and forget them."""
        import numpy as np
        import pyarrow as pa

        if self._schema is None:
            raise RuntimeError("PartRows.table() before any table was added")
        arrays = []
        for field, sort, parts in zip(self._schema, self._sorted, self._columns, strict=True):
            if not sort:
                arrays.append(pa.chunked_array(parts, field.type))
                continue
            values = parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts), kind="stable")
            arrays.append(pa.chunked_array([pa.array(values, field.type)]))
        table = pa.Table.from_arrays(arrays, schema=self._schema)
        self._schema, self._columns, self._sorted = None, [], []
        return table
