"""One column's distribution on one side of a drift test: numeric or categorical.

A :class:`NumericSide` is a weighted sorted sample: distinct values with their counts when
the column has at most ``max_points`` distinct values (then it *is* the data, exactly), or
else ``max_points`` cells of equal count, each standing for its values by their mean. The
compressed form is what a stored reference keeps: its empirical CDF is off by at most one
cell (``ks_error``, a rank error of ``1 / max_points``), and its Wasserstein distance to
the data it summarises, computed exactly when it is built, bounds how far any Wasserstein
distance measured against it can be from the exact one (the triangle inequality). The
mean, standard deviation, count and number of distinct values are always exact.

A :class:`CategoricalSide` is the value counts of a column (missing values left out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CategoricalSide", "NumericSide", "categorical_side", "numeric_side"]


@dataclass(frozen=True)
class NumericSide:
    """Finite values of a numeric column as a sorted weighted sample.

    Attributes:
        values: sorted float64 points (distinct values, or cell means when compressed).
        weights: how many values each point stands for (int64, sums to ``n``).
        n: number of finite values.
        mean: exact mean. std: exact population standard deviation (``ddof=0``).
        minimum, maximum: exact extremes.
        n_unique: exact number of distinct values.
        exact: True when ``values`` and ``weights`` are the distinct values and their counts.
        wasserstein_error: Wasserstein distance from the data to this summary (0 if exact).
    """

    values: np.ndarray
    weights: np.ndarray
    n: int
    mean: float
    std: float
    minimum: float
    maximum: float
    n_unique: int
    exact: bool
    wasserstein_error: float = 0.0

    @property
    def ks_error(self) -> float:
        """Largest error of this summary's CDF at any point (0 when exact)."""
        return 0.0 if self.exact or self.n == 0 else float(self.weights.max()) / self.n

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """Share of values <= each of ``x`` (right-continuous empirical CDF)."""
        cumulative = np.concatenate([[0], np.cumsum(self.weights)])
        return cumulative[np.searchsorted(self.values, x, side="right")] / self.n

    def expanded(self) -> np.ndarray:
        """The values as a plain sorted array (exact only when :attr:`exact`)."""
        return np.repeat(self.values, self.weights)


def numeric_side(values: np.ndarray, max_points: int | None = None) -> NumericSide:
    """Summarise finite float64 ``values`` (NaN and inf already removed).

    Args:
        values: the column's finite values, in any order.
        max_points: keep at most this many points; None keeps every distinct value.
    """
    data = np.sort(np.asarray(values, dtype=np.float64))
    n = len(data)
    if n == 0:
        empty = np.empty(0)
        return NumericSide(empty, np.empty(0, np.int64), 0, np.nan, np.nan, np.nan, np.nan, 0, True)
    starts = np.concatenate([[0], np.flatnonzero(data[1:] != data[:-1]) + 1])
    common = {
        "n": n,
        "mean": float(data.mean()),
        "std": float(np.std(data)),
        "minimum": float(data[0]),
        "maximum": float(data[-1]),
    }
    if max_points is None or len(starts) <= max_points:
        weights = np.diff(np.concatenate([starts, [n]])).astype(np.int64)
        return NumericSide(data[starts], weights, n_unique=len(starts), exact=True, **common)
    bounds = (np.arange(max_points + 1, dtype=np.int64) * n) // max_points
    weights = np.diff(bounds)
    means = np.add.reduceat(data, bounds[:-1]) / weights
    error = float(np.abs(data - np.repeat(means, weights)).mean())
    return NumericSide(
        means, weights, n_unique=len(starts), exact=False, wasserstein_error=error, **common
    )


@dataclass(frozen=True)
class CategoricalSide:
    """Value counts of a categorical column (missing values left out).

    Attributes:
        keys: the distinct values (str, int, bool, ...), most frequent first.
        counts: their counts (int64).
        n: total of ``counts``.
        other: how many of ``n`` were lumped together when the categories were capped
            (0 when every category is kept; then the counts are exact).
    """

    keys: list[Any]
    counts: np.ndarray
    n: int
    other: int = 0

    @property
    def n_unique(self) -> int:
        """Number of distinct values kept."""
        return len(self.keys)


def categorical_side(
    keys: list[Any], counts: np.ndarray, max_categories: int | None = None
) -> CategoricalSide:
    """Value counts as a side, most frequent first; beyond ``max_categories`` the rest
    is counted in ``other`` and left out of the tests."""
    counts = np.asarray(counts, dtype=np.int64)
    order = np.argsort(-counts, kind="stable")
    n = int(counts.sum())
    if max_categories is not None and len(order) > max_categories:
        kept = order[:max_categories]
        other = n - int(counts[kept].sum())
        return CategoricalSide([keys[i] for i in kept], counts[kept], n - other, other)
    return CategoricalSide([keys[i] for i in order], counts[order], n)
