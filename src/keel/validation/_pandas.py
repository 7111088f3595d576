"""A pandas DataFrame as an Arrow table, without copying where the dtypes allow.

``pa.Table.from_pandas`` does the right thing for every dtype but pays for it on the
common ones: it scans every float64 value for NaN in a slow loop (about 5 ms per million
values, even when there is none), and builds pandas metadata that validation never reads.
:func:`arrow_from_pandas` gives the same columns (same types, same nulls, same values) by
the cheapest road per column:

- NumPy float columns: NaN (pandas' missing value) becomes null. A NumPy ``min`` tells
  whether there is any NaN (it propagates NaN, allocates nothing and runs at memory speed);
  without NaN the array is wrapped as it is (and its minimum kept for the checks, see
  ``_scans``), with NaN a validity bitmap is built from ``isnan`` and the values are still
  not copied.
- NumPy integer and boolean columns: wrapped as they are (booleans are packed to bits).
- NumPy datetime and timedelta columns: like floats, with NaT for NaN (NaT is the smallest
  64-bit integer, so a ``min`` finds it); without NaT their memory becomes the Arrow
  array's buffer as it is.
- Columns backed by Arrow (pandas' ``str`` dtype, ``string[pyarrow]``, any ``ArrowDtype``)
  and extension arrays that convert themselves (nullable ``Int64``, ``boolean``,
  ``Float64``): their own ``__arrow_array__``, the same call ``from_pandas`` makes.
- Everything else (object, categorical, datetime with a time zone, period, ...): the call
  ``from_pandas`` makes for each column, ``pa.array(series, from_pandas=True)``, without
  the pandas metadata it then builds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ._scans import chunk_key

__all__ = ["arrow_from_pandas"]

_NUMPY_KINDS = "fiubMm"  # float, integer, unsigned, boolean, datetime, timedelta
_NAT = np.iinfo(np.int64).min


def arrow_from_pandas(df: Any, learnt: dict[tuple[Any, ...], Any] | None = None) -> pa.Table:
    """``df`` as an Arrow table equal to ``pa.Table.from_pandas(df, preserve_index=False)``
    (schema metadata aside), copying only what must be converted.

    ``learnt``, when given, receives what the conversion found on the way: the minimum of
    each float column without NaN, keyed as :class:`~keel.validation._scans.Scans` knows it.

    Raises what ``pa.Table.from_pandas`` raises for a column it cannot convert
    (``pa.ArrowException``, ``TypeError``, ``ValueError``), naming the column.
    """
    names = list(df.columns)
    if not names or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        # no columns, non-text or repeated names: from_pandas has its own ways with them
        return pa.Table.from_pandas(df, preserve_index=False)
    arrays = []
    for i, name in enumerate(names):
        series = df.iloc[:, i]
        try:
            arrays.append(_column(series, learnt))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise type(exc)(f"column {name!r} ({series.dtype}): {exc}") from exc
    return pa.table(arrays, names=names)


def _column(series: Any, learnt: dict[tuple[Any, ...], Any] | None) -> Any:
    """One column as an Arrow array, the cheapest way its dtype allows."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in _NUMPY_KINDS and dtype.isnative:
        values = series.to_numpy()
        if dtype.kind in "iub" or not len(values):
            return pa.array(values)
        if dtype.kind == "f":
            low = values.min()
            if np.isnan(low):
                return pa.array(values, mask=np.isnan(values))
            array = pa.array(values)
            if learnt is not None:
                learnt[chunk_key("min", array)] = low
            return array
        ticks = values.view(np.int64)
        if ticks.min() == _NAT:
            return pa.array(values, mask=ticks == _NAT)
        if values.flags.c_contiguous:  # pa.array would look for NaT again, value by value
            type_ = pa.from_numpy_dtype(dtype)
            return pa.Array.from_buffers(type_, len(values), [None, pa.py_buffer(values)])
        return pa.array(values)
    if not isinstance(dtype, np.dtype) and hasattr(series.array, "__arrow_array__"):
        return pa.array(series.array)
    return pa.array(series, from_pandas=True)
