"""The prediction log of one monitor window, as one flat pandas frame.

Inputs (the log's ``input`` struct) become columns of their own; the log's own fields
keep a ``__`` prefix (``__prediction``, ``__p1``, ``__latency_ms``, ``__request_id``,
``__at``, ``__model_version``), so a feature is never mistaken for one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from keel.monitoring.spec import MonitorSpec

__all__ = ["Window", "read_window", "window_bounds"]

LOG = "__"


@dataclass
class Window:
    """One window's rows: ``frame`` (features and ``__`` log fields), its bounds, and
    whether the model gave probabilities (a classifier) and how many classes."""

    start: int
    end: int
    frame: pd.DataFrame
    classes: int | None

    @property
    def features(self) -> list[str]:
        return [c for c in self.frame.columns if not c.startswith(LOG)]

    def __len__(self) -> int:
        return len(self.frame)


def window_bounds(spec: MonitorSpec, end_ms: int) -> tuple[int, int]:
    """``(start, end)`` of a window ending at ``end_ms`` (for ``last: N``, the start is
    where the reading begins; the rows decide)."""
    if spec.window.size_ms is not None:
        return end_ms - spec.window.size_ms, end_ms
    return 0, end_ms


def read_window(predictions: Any, spec: MonitorSpec, start: int, end: int) -> Window:
    """The logged predictions of ``spec.deployment`` in ``[start, end)``; for a ``last: N``
    window the newest N rows before ``end`` (reading only the newest parts)."""
    since: int | None = start
    if spec.window.last is not None:
        since = _since_for_last(predictions, spec, end)
    table = predictions.read(
        "predictions", deployment=spec.deployment, since_ms=since, until_ms=end
    )
    frame = flatten(table)
    if spec.window.last is not None and len(frame):
        frame = frame.sort_values("__at", kind="stable").tail(spec.window.last)
        frame = frame.reset_index(drop=True)
        start = int(frame["__at"].iloc[0])
    classes = None
    if "__probabilities" in frame.columns:
        widths = frame["__probabilities"].map(lambda v: 0 if v is None else len(v))
        classes = int(widths.max()) if len(widths) else None
        if classes == 2:
            frame["__p1"] = frame["__probabilities"].map(
                lambda v: float(v[1]) if v is not None and len(v) == 2 else np.nan
            )
    return Window(start, end, frame, classes)


def _since_for_last(predictions: Any, spec: MonitorSpec, end: int) -> int | None:
    """The earliest time the newest ``last`` rows before ``end`` can start at."""
    parts = predictions.parts("predictions", deployment=spec.deployment, until_ms=end)
    rows, since = 0, None
    for part in reversed(parts):
        rows += int(part["rows"])
        since = int(part["first_at"])
        if rows >= spec.window.last:
            break
    return since


def flatten(table: Any) -> pd.DataFrame:
    """A prediction log table as a frame of features and ``__`` log fields."""
    import pyarrow as pa

    columns: dict[str, Any] = {}
    if "input" in table.column_names and pa.types.is_struct(table.schema.field("input").type):
        struct = table.column("input").combine_chunks()
        for i, field in enumerate(struct.type):
            if field.name != "_":
                columns[field.name] = struct.field(i)
    for name in ("request_id", "model_version", "latency_ms", "prediction", "probabilities"):
        if name in table.column_names:
            columns[LOG + name] = table.column(name)
    columns["__at"] = table.column("at").cast(pa.int64())
    frame = pa.table(columns).to_pandas() if columns else pd.DataFrame()
    return frame
