"""How far a column's distribution moved from a reference profile.

Both sides are binned the same way, on the reference's terms: numeric columns on the
reference histogram's edges (plus an underflow and an overflow bin), categorical ones on
the reference's top categories (plus one bin for every other value). Validation's
``distribution`` check and drift monitoring use the same functions, so a threshold means
the same thing in both places.

Metrics:

* ``psi``: population stability index, ``sum((q - p) * ln(q / p))``; a common reading is
  below 0.1 stable, 0.1-0.25 some shift, above 0.25 a large shift;
* ``js``: Jensen-Shannon distance (base 2), between 0 (same) and 1 (disjoint).

Empty bins get a small floor (``EPSILON``) so that a bin seen on one side only gives a
large but finite distance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import InvalidInput

if TYPE_CHECKING:
    from keel.data._profile import ColumnProfile

__all__ = ["METRICS", "binned_counts", "distance"]

METRICS = ("psi", "js")
EPSILON = 1e-4


def distance(reference: np.ndarray, current: np.ndarray, metric: str = "psi") -> float:
    """Distance between two sets of counts on the same bins (see the module's metrics)."""
    if metric not in METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(METRICS)}. Got {metric!r}.")
    p = _shares(np.asarray(reference, dtype=np.float64))
    q = _shares(np.asarray(current, dtype=np.float64))
    if metric == "psi":
        return float(np.sum((q - p) * np.log(q / p)))
    m = 0.5 * (p + q)
    divergence = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    return float(np.sqrt(max(divergence, 0.0)))


def binned_counts(reference: ColumnProfile, column: pa.ChunkedArray) -> tuple[np.ndarray, ...]:
    """``(reference_counts, current_counts)`` of a column on the reference's bins.

    Raises:
        InvalidInput: the reference profile has no bins for this column (not numeric or
            categorical, or empty), or the column's values cannot go in them.
    """
    if reference.histogram is not None:
        return _numeric_counts(reference, column)
    if reference.top:
        return _categorical_counts(reference, column)
    raise InvalidInput(
        f"The reference profile of column {reference.name!r} has no histogram and no top "
        f"values (its kind is {reference.kind}), so no distribution can be compared."
    )


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    shares = counts / total if total > 0 else np.full_like(counts, 1.0 / max(len(counts), 1))
    shares = np.maximum(shares, EPSILON)
    return shares / shares.sum()


def _numeric_counts(reference: ColumnProfile, column: pa.ChunkedArray) -> tuple[np.ndarray, ...]:
    histogram = reference.histogram or {}
    edges = np.asarray(histogram["edges"], dtype=np.float64)
    expected = np.concatenate(
        [[histogram.get("underflow", 0)], histogram["counts"], [histogram.get("overflow", 0)]]
    ).astype(np.float64)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise InvalidInput(
            f"Column {reference.name!r} is {column.type}, but its reference is numeric; "
            "a distribution over numbers cannot be compared with it."
        )
    values = pc.drop_null(column).to_numpy().astype(np.float64, copy=False)
    values = values[np.isfinite(values)]
    inner, _ = np.histogram(values, bins=edges)
    under = np.count_nonzero(values < edges[0])
    over = np.count_nonzero(values > edges[-1])
    return expected, np.concatenate([[under], inner, [over]]).astype(np.float64)


def _categorical_counts(
    reference: ColumnProfile, column: pa.ChunkedArray
) -> tuple[np.ndarray, ...]:
    categories = [value for value, _ in reference.top]
    expected = np.array([count for _, count in reference.top] + [0], dtype=np.float64)
    expected[-1] = max(reference.count - expected[:-1].sum(), 0)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    counts = pc.value_counts(pc.drop_null(column))
    seen: dict[Any, int] = dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )
    current = np.array([seen.pop(c, 0) for c in categories] + [0], dtype=np.float64)
    current[-1] = sum(seen.values())
    return expected, current
