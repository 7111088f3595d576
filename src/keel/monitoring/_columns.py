"""Columns of a pandas DataFrame or pyarrow Table, read as drift tests need them.

The kind of a column follows Evidently's type inference, so that the automatic choice of
test agrees with its default data-drift preset: floats are numeric; integers are
categorical when they hold at most 10 distinct values, numeric otherwise; strings are text
when more than half of the non-missing values are distinct, categorical otherwise; booleans
and pandas categoricals (Arrow dictionaries) are categorical. Dates, times and anything
else are not tested.

A numeric column is read as its finite float64 values (missing values, NaN and +-inf
left out, as Evidently does); a categorical one as value counts, missing values left out.
Nothing loops over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import InvalidInput

__all__ = ["Kind", "TableColumns", "categorical_counts", "finite_values", "infer_kind"]

Kind = Literal["numeric", "categorical", "text", "untested"]
INTEGER_CARDINALITY_LIMIT = 10


class TableColumns:
    """Named columns of a DataFrame or Table, without copying the data."""

    def __init__(self, data: Any, what: str) -> None:
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if not isinstance(data, (pd.DataFrame, pa.Table)):
            raise InvalidInput(
                f"The {what} data must be a pandas DataFrame or a pyarrow Table. "
                f"Got {type(data).__name__} instead; convert it with pandas.DataFrame(...) "
                "or pyarrow.table(...)."
            )
        self.data = data
        self.what = what
        names = [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else None
        self.names: list[str] = names if names is not None else list(data.column_names)
        if len(set(self.names)) != len(self.names):
            repeated = sorted({n for n in self.names if self.names.count(n) > 1})
            raise InvalidInput(
                f"The {what} data has repeated column names {repeated}; give each column "
                "a unique name."
            )

    def __len__(self) -> int:
        return len(self.data)

    def column(self, name: str) -> pd.Series | pa.ChunkedArray:
        """The column called ``name``."""
        if isinstance(self.data, pd.DataFrame):
            return self.data.iloc[:, self.names.index(name)]
        return self.data.column(name)


def _is_str(column: pd.Series | pa.ChunkedArray) -> bool:
    if isinstance(column, pa.ChunkedArray):
        return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    if pd.api.types.is_string_dtype(column.dtype) and column.dtype != object:
        return True
    if column.dtype == object:
        present = column.dropna()
        return len(present) > 0 and all(isinstance(present.iloc[i], str) for i in (0, -1))
    return False


def infer_kind(column: pd.Series | pa.ChunkedArray) -> tuple[Kind, str]:
    """The column's kind and why (a short phrase), by Evidently's rules."""
    if isinstance(column, pa.ChunkedArray):
        t = column.type
        if pa.types.is_floating(t) or pa.types.is_decimal(t):
            return "numeric", "float"
        if pa.types.is_integer(t):
            return _integer_kind(pc.count_distinct(column).as_py())
        if pa.types.is_boolean(t) or pa.types.is_dictionary(t):
            return "categorical", str(t).split("<")[0]
    else:
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
            return "categorical", dtype.name
        if pd.api.types.is_float_dtype(dtype):
            return "numeric", "float"
        if pd.api.types.is_integer_dtype(dtype):
            return _integer_kind(column.nunique())
    if _is_str(column):
        keys, counts = categorical_counts(column)
        if len(keys) > 0.5 * counts.sum():
            return "text", "strings, more than half of them distinct"
        return "categorical", "strings"
    type_name = column.type if isinstance(column, pa.ChunkedArray) else column.dtype
    return "untested", f"type {type_name} is neither numeric nor categorical"


def _integer_kind(distinct: int) -> tuple[Kind, str]:
    if distinct <= INTEGER_CARDINALITY_LIMIT:
        return "categorical", f"integers with {distinct} distinct values (at most 10)"
    return "numeric", "integers"


def finite_values(column: pd.Series | pa.ChunkedArray) -> np.ndarray | None:
    """The finite values as float64, or None when the column is not numeric."""
    if isinstance(column, pa.ChunkedArray):
        t = column.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
            return None
        values = pc.cast(column, pa.float64()).to_numpy()
    else:
        dtype = column.dtype
        if not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
            return None
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return values[np.isfinite(values)]


def categorical_counts(column: pd.Series | pa.ChunkedArray) -> tuple[list[Any], np.ndarray]:
    """Distinct values and their counts, missing values (and NaN) left out."""
    if isinstance(column, pa.ChunkedArray):
        counted = pc.value_counts(column)
        keys = counted.field("values").to_pylist()
        counts = counted.field("counts").to_numpy()
    else:
        counted = column.value_counts(dropna=True, sort=False)
        keys = counted.index.tolist()
        counts = counted.to_numpy()
    keep = [i for i, k in enumerate(keys) if not _missing(k)]
    if len(keep) < len(keys):
        keys = [keys[i] for i in keep]
        counts = counts[keep]
    return keys, np.asarray(counts, dtype=np.int64)


def _missing(key: Any) -> bool:
    return key is None or (isinstance(key, float) and key != key) or key is pd.NA


@dataclass(frozen=True)
class Untested:
    """A column that is not tested, and why."""

    reason: str
