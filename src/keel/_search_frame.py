"""The pandas DataFrame of :func:`keel.search_runs`, built from a page's columns at once.

One row per run: ``run_id``, ``experiment``, ``name``, ``status``, ``parent_id``,
``created_at``, ``ended_at`` (UTC times), then ``params.*``, ``metrics.*`` and ``tags.*``
in order of first appearance (run by run; in a run, params, then metrics, then tags),
NaN where a run lacks one: the frame that a list of one dict per run gives, with the
dtypes pandas infers for it, but made column by column (no dict, Timestamp or record per
run; a metric column is one float array).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from keel.tracking._columns import Details, RunColumns

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_frame"]


def run_frame(page: RunColumns) -> pd.DataFrame:
    """The search's DataFrame of ``page`` (the fixed columns alone when it is empty)."""
    import numpy as np
    import pandas as pd

    n = len(page)
    columns: dict[str, Any] = {
        "run_id": list(page.ids),
        "experiment": list(page.experiments),
        "name": list(page.names),
        "status": list(page.statuses),
        "parent_id": list(page.parent_ids),
        "created_at": _times(page.created_at),
        "ended_at": _times(page.ended_at),
    }
    found: dict[str, tuple[tuple[int, int, int], list[int], list[Any]]] = {}
    groups = (("params.", page.params), ("metrics.", page.metrics), ("tags.", page.tags))
    for rank, (prefix, details) in enumerate(groups):
        _gather(found, prefix, rank, details)
    for name in sorted(found, key=lambda name: found[name][0]):
        _, rows, values = found[name]
        if name.startswith("metrics."):
            column: Any = np.full(n, np.nan)
            column[rows] = values
        else:  # text, NaN where missing: pandas infers its str dtype as for row dicts
            column = [math.nan] * n
            for row, value in zip(rows, values, strict=True):
                column[row] = value
        columns[name] = column
    return pd.DataFrame(columns, copy=False)


def _gather(
    found: dict[str, tuple[tuple[int, int, int], list[int], list[Any]]],
    prefix: str,
    rank: int,
    details: Details,
) -> None:
    """Add ``details`` to ``found``: per column, where it first appears (run, group,
    position), its rows and its values."""
    for position, (row, key, value) in enumerate(details):
        name = prefix + key
        entry = found.get(name)
        if entry is None:
            found[name] = ((row, rank, position), [row], [value])
            continue
        if row < entry[0][0]:  # the page's triples need not come run by run
            found[name] = entry = ((row, rank, position), entry[1], entry[2])
        entry[1].append(row)
        entry[2].append(value)


def _times(ms: Any) -> Any:
    """Milliseconds since the epoch (None: no time) as UTC times, as ``pd.to_datetime``
    makes them."""
    import pandas as pd

    return pd.to_datetime(list(ms), unit="ms", utc=True)
