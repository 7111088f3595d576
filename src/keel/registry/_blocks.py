"""Model inputs as one NumPy block, without pandas: what a native scorer is fed.

A model whose signature is all numbers of one dtype (``float64`` say) takes a 2-D NumPy
array, a dict of columns, one row as a dict, or a pyarrow table as a block of that dtype
when every value converts exactly (the conversions the signature's enforcement makes
without a check: an integer column to a float column, a narrower integer to a wider one).
Anything else returns None, and the caller goes through pandas and the signature's checks,
which cast what they can and name what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["BlockPlan"]

_NUMBER = (int, float, np.integer, np.floating)


class BlockPlan:
    """The signature's column names and its single numeric dtype, pandas-free.

    Attributes:
        names: the input columns, in order.
        dtype: the dtype of every column (None when the signature mixes dtypes or holds
            anything but integers and floats of 32 or 64 bits: no block then).
    """

    def __init__(self, inputs: Sequence[Mapping[str, Any]]) -> None:
        self.names = tuple(str(c["name"]) for c in inputs)
        self.name_set = frozenset(self.names)
        dtypes = {str(c["dtype"]) for c in inputs}
        self.dtype = None
        if len(dtypes) == 1:
            (name,) = dtypes
            if name in ("float64", "float32") or name.startswith(("int", "uint")):
                try:
                    self.dtype = np.dtype(name)
                except TypeError:
                    self.dtype = None

    def block(self, data: Any, *, extra: str = "error") -> np.ndarray | None:
        """``data`` as a 2-D array of the signature's dtype, its columns in order; None
        when it is not a case this plan converts exactly (the caller takes pandas)."""
        if self.dtype is None:
            return None
        if isinstance(data, np.ndarray):
            return self._array(data)
        if isinstance(data, Mapping):
            return self._mapping(data, extra)
        if type(data).__module__.startswith("pyarrow") and hasattr(data, "column_names"):
            return self._arrow(data, extra)
        return None

    def _fits(self, dtype: np.dtype) -> bool:
        return dtype.kind in "iuf" and np.can_cast(dtype, self.dtype, casting="safe")

    def _array(self, data: np.ndarray) -> np.ndarray | None:
        array = data.reshape(1, -1) if data.ndim == 1 else data
        if array.ndim != 2 or array.shape[1] != len(self.names) or not self._fits(array.dtype):
            return None
        return array if array.dtype == self.dtype else array.astype(self.dtype)

    def _mapping(self, data: Mapping[Any, Any], extra: str) -> np.ndarray | None:
        if extra == "ignore":
            data = {k: v for k, v in data.items() if k in self.name_set}
        if data.keys() != self.name_set:
            return None
        values = [data[n] for n in self.names]
        if all(_plain_number(v, self.dtype.kind) for v in values):  # type: ignore[union-attr]
            try:
                return np.array([values], dtype=self.dtype)
            except (OverflowError, ValueError):
                return None  # out of range: the checks name the column
        columns = []
        for value in values:
            if not isinstance(value, np.ndarray | list | tuple):
                return None
            column = np.asarray(value)
            if column.ndim != 1 or not self._fits(column.dtype):
                return None
            columns.append(column)
        return self._stack(columns)

    def _arrow(self, table: Any, extra: str) -> np.ndarray | None:
        given = list(table.column_names)
        if extra != "ignore" and len(given) != len(self.names):
            return None
        if not self.name_set <= set(given) or len(set(given)) != len(given):
            return None
        columns = []
        for name in self.names:
            column = table.column(name)
            if column.null_count:
                return None
            values = column.to_numpy()
            if values.ndim != 1 or not self._fits(values.dtype):
                return None
            columns.append(values)
        return self._stack(columns)

    def _stack(self, columns: list[np.ndarray]) -> np.ndarray | None:
        rows = len(columns[0]) if columns else 0
        if any(len(c) != rows for c in columns):
            return None
        block = np.empty((rows, len(columns)), dtype=self.dtype)
        for j, column in enumerate(columns):
            block[:, j] = column
        return block


def _plain_number(value: Any, kind: str) -> bool:
    if isinstance(value, bool | np.bool_) or not isinstance(value, _NUMBER):
        return False
    return kind == "f" or isinstance(value, int | np.integer)
