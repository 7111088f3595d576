"""The pandas DataFrame of :func:`keel.search_runs`, built from a page's columns at once.

One row per run: ``run_id``, ``experiment``, ``name``, ``status``, ``parent_id``,
``created_at``, ``ended_at`` (UTC times), then ``params.*``, ``metrics.*`` and ``tags.*``
in order of first appearance (run by run; in a run, params, then metrics, then tags),
NaN where a run lacks one: the frame that a list of one dict per run gives, with the
dtypes pandas infers for it, but made column by column (no dict, Timestamp or record per
run; a metric column is one float array).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from keel.tracking._columns import RunColumns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_frame"]


def run_frame(page: RunColumns) -> pd.DataFrame:
    """The search's DataFrame of ``page`` (the fixed columns alone when it is empty)."""
    import numpy as np
    import pandas as pd

    text = _text(len(page))
    columns: dict[str, Any] = {
        "run_id": text(page.ids),
        "experiment": text(page.experiments),
        "name": text(page.names),
        "status": text(page.statuses),
        "parent_id": list(page.parent_ids),  # all None (no parent) is object: inferred
        "created_at": _times(page.created_at),
        "ended_at": _times(page.ended_at),
    }
    for name, values in page.ordered_details():
        # a metric column is floats (NaN where missing), a param or tag column text (NaN
        # where missing): each made in its dtype, no inference
        metric = name.startswith("metrics.")
        columns[name] = np.array(values, dtype=np.float64) if metric else text(values)
    return pd.DataFrame(columns, copy=False)


def _text(rows: int) -> Callable[[Sequence[Any]], Any]:
    """How a column of text (str, NaN where missing) becomes what pandas infers from its
    list: pandas' str array when it infers that (pandas 3), made without inference; else
    (an empty page, older pandas) the list, for pandas to infer from."""
    import pandas as pd

    dtype = _text_dtype()
    if rows == 0 or not isinstance(dtype, pd.StringDtype):
        return list
    return functools.partial(pd.array, dtype=dtype)


@functools.cache
def _text_dtype() -> Any:
    """The dtype pandas infers for text with NaN where a value is missing."""
    import math

    import pandas as pd

    return pd.Series(["text", math.nan]).dtype


def _times(ms: Sequence[int | None]) -> Any:
    """Milliseconds since the epoch (None: no time) as UTC times, as ``pd.to_datetime``
    makes them (in a third of its time: no parsing of the list)."""
    import numpy as np
    import pandas as pd

    if all(value is None for value in ms):  # pandas gives these another unit
        return pd.to_datetime(list(ms), unit="ms", utc=True)
    times = np.array(ms, dtype="datetime64[ms]")  # None is NaT
    return pd.DatetimeIndex(times.astype(f"datetime64[{_unit()}]")).tz_localize("UTC")


@functools.cache
def _unit() -> str:
    """The resolution ``pd.to_datetime`` gives times in milliseconds (us in pandas 3)."""
    import pandas as pd

    return pd.to_datetime([0], unit="ms", utc=True).dtype.unit
