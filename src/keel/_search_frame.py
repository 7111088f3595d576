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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from keel.tracking._columns import RunColumns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_frame"]


def run_frame(page: RunColumns) -> pd.DataFrame:
    """The search's DataFrame of ``page`` (the fixed columns alone when it is empty)."""
    import numpy as np
    import pandas as pd

    columns: dict[str, Any] = {
        "run_id": list(page.ids),
        "experiment": list(page.experiments),
        "name": list(page.names),
        "status": list(page.statuses),
        "parent_id": list(page.parent_ids),
        "created_at": _times(page.created_at),
        "ended_at": _times(page.ended_at),
    }
    for name, values in page.ordered_details():
        # a metric column is floats (NaN where missing): one array, no inference; text
        # columns are left to pandas, which infers its str dtype as for row dicts
        metric = name.startswith("metrics.")
        columns[name] = np.array(values, dtype=np.float64) if metric else values
    return pd.DataFrame(columns, copy=False)


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
