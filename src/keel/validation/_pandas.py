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
- Columns backed by Arrow (pandas' ``str`` dtype, ``string[pyarrow]``, any ``ArrowDtype``)
  and extension arrays that convert themselves (nullable ``Int64``, ``boolean``,
  ``Float64``): their own ``__arrow_array__``, the same call ``from_pandas`` makes.
- Everything else (object, categorical, datetime, timedelta, period, ...): the remaining
  columns go through ``pa.Table.from_pandas`` together, exactly as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ._scans import chunk_key

__all__ = ["arrow_from_pandas"]

_NUMPY_KINDS = "fiub"  # float, signed and unsigned integer, boolean


def arrow_from_pandas(df: Any, learnt: dict[tuple[Any, ...], Any] | None = None) -> pa.Table:
    """``df`` as an Arrow table equal to ``pa.Table.from_pandas(df, preserve_index=False)``
    (schema metadata aside), copying only what must be converted.

    ``learnt``, when given, receives what the conversion found on the way: the minimum of
    each float column without NaN, keyed as :class:`~keel.validation._scans.Scans` knows it.

    Raises whatever ``pa.Table.from_pandas`` raises for a column it cannot convert
    (``pa.ArrowException``, ``TypeError``, ``ValueError``).
    """
    names = list(df.columns)
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        # non-text or repeated names: from_pandas names and reports them its own way
        return pa.Table.from_pandas(df, preserve_index=False)
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {}
    for i, name in enumerate(names):
        array = _column(df.iloc[:, i], learnt)
        if array is not None:
            arrays[name] = array
    rest = [n for n in names if n not in arrays]
    if rest:
        converted = pa.Table.from_pandas(df[rest], preserve_index=False)
        arrays.update(zip(rest, converted.columns, strict=True))
    return pa.table([arrays[n] for n in names], names=names)


def _column(series: Any, learnt: dict[tuple[Any, ...], Any] | None) -> Any:
    """One column converted the cheap way, or ``None`` to leave it to ``from_pandas``."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind not in _NUMPY_KINDS or not dtype.isnative:
            return None
        values = series.to_numpy()
        if dtype.kind != "f" or not len(values):
            return pa.array(values)
        low = values.min()
        if np.isnan(low):
            return pa.array(values, mask=np.isnan(values))
        array = pa.array(values)
        if learnt is not None:
            learnt[chunk_key("min", array)] = low
        return array
    values = series.array
    if hasattr(values, "__arrow_array__"):
        return pa.array(values)
    return None
