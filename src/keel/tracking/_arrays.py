"""A whole curve of one metric at once: NumPy, Arrow or pandas arrays (or lists) of values,
steps and timestamps checked per array, not per point, and turned into metric points."""

from __future__ import annotations

import time
from itertools import repeat
from typing import Any

from keel.errors import InvalidInput

from ._records import CheckedPoints
from ._validate import INT64_MAX, INT64_MIN, check_key

__all__ = ["array_points"]


def array_points(
    key: str, values: Any, steps: Any = None, timestamps: Any = None, *, first_step: int = 0
) -> CheckedPoints:
    """The points of metric ``key``: ``values`` (numbers; NaN and infinities kept), at
    ``steps`` (integers from 0; by default ``first_step`` on, one apart) and ``timestamps``
    (integer milliseconds; by default now, for every point).

    Raises:
        InvalidInput: an array that is not one-dimensional, not of numbers (or integers for
            steps and timestamps), out of range, or of another length than ``values``.
    """
    import numpy as np

    check_key("metric", key)
    floats = _array(key, "values", values)
    if floats.dtype.kind not in "fiub":
        try:
            floats = floats.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"The values of metric {key!r} must be numbers; got an array of "
                f"{floats.dtype} that cannot be read as numbers ({exc})."
            ) from exc
    count = len(floats)
    listed = floats.astype(np.float64, copy=False).tolist()
    if steps is None:
        step_list: Any = range(first_step, first_step + count)
    else:
        step_list = _integers(key, "steps", steps, count, 0, INT64_MAX)
    if timestamps is None:
        stamp_list: Any = repeat(time.time_ns() // 1_000_000, count)
    else:
        stamp_list = _integers(key, "timestamps", timestamps, count, INT64_MIN, INT64_MAX)
    return CheckedPoints(zip(repeat(key, count), listed, step_list, stamp_list, strict=False))


def _array(key: str, what: str, data: Any) -> Any:
    """``data`` as a one-dimensional NumPy array (Arrow and pandas convert themselves)."""
    import numpy as np

    if isinstance(data, str | bytes) or data is None:
        raise InvalidInput(
            f"The {what} of metric {key!r} must be an array or list. Got {type(data).__name__}."
        )
    array = np.asarray(data)
    if array.ndim != 1:
        raise InvalidInput(
            f"The {what} of metric {key!r} must be one-dimensional; got shape {array.shape}. "
            "Log one curve per call (flatten it, or one key per column)."
        )
    return array


def _integers(key: str, what: str, data: Any, count: int, low: int, high: int) -> list[int]:
    """``data`` as a list of ``count`` integers from ``low`` to ``high``."""
    array = _array(key, what, data)
    if len(array) != count:
        raise InvalidInput(
            f"Metric {key!r} has {count} values but {len(array)} {what}; give one per value."
        )
    if array.dtype.kind not in "iu" and not (count == 0 and array.dtype.kind == "f"):
        raise InvalidInput(
            f"The {what} of metric {key!r} must be integers; got an array of {array.dtype}."
        )
    listed = array.tolist()
    if listed and (min(listed) < low or max(listed) > high):
        bad = next(v for v in listed if not low <= v <= high)
        raise InvalidInput(
            f"The {what} of metric {key!r} must be integers from {low} to {high}. Got {bad}."
        )
    return listed
