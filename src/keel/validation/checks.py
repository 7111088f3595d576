"""Checks to build a :class:`~keel.validation.Schema` in Python; each mirrors a YAML kind.

Example::

    from keel.validation import Schema, checks

    schema = Schema([
        checks.dtype("age", "integer"),
        checks.not_null("age"),
        checks.in_range("age", 18, 100),
        checks.in_set("state", ["CA", "NY", "TX"], severity="warn"),
        checks.custom(lambda income: income >= 0, column="income", name="non_negative"),
        checks.row_count(min=100),
    ])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._checks import (
    Check,
    Custom,
    Distribution,
    Dtype,
    Freshness,
    Hashed,
    InRange,
    InSet,
    Matches,
    Mean,
    NotNull,
    Pii,
    Quantile,
    References,
    RowCount,
    Std,
    Unique,
)

__all__ = [
    "custom",
    "distribution",
    "dtype",
    "freshness",
    "hashed",
    "in_range",
    "in_set",
    "matches",
    "mean",
    "not_null",
    "pii",
    "quantile",
    "references",
    "row_count",
    "std",
    "unique",
]


def not_null(column: str, *, severity: str = "error") -> Check:
    """No missing values (null or NaN)."""
    return NotNull(column=column, severity=severity)


def dtype(column: str, dtype: str, *, severity: str = "error") -> Check:
    """The column's type: a family (``integer``, ``string``...) or an Arrow type name."""
    return Dtype(column=column, dtype=dtype, severity=severity)


def in_range(column: str, min: Any = None, max: Any = None, *, severity: str = "error") -> Check:
    """Values between ``min`` and ``max``, inclusive (numbers, or ISO text for times)."""
    return InRange(column=column, min=min, max=max, severity=severity)


def in_set(column: str, values: Iterable[Any], *, severity: str = "error") -> Check:
    """Values among ``values``."""
    return InSet(column=column, values=list(values), severity=severity)


def unique(column: str, *, severity: str = "error") -> Check:
    """No value appears twice."""
    return Unique(column=column, severity=severity)


def matches(column: str, pattern: str, *, severity: str = "error") -> Check:
    """Text values match ``pattern`` (RE2 syntax) in full."""
    return Matches(column=column, pattern=pattern, severity=severity)


def hashed(column: str, *, severity: str = "error") -> Check:
    """Values look like digests rather than raw identifiers."""
    return Hashed(column=column, severity=severity)


def row_count(min: int | None = None, max: int | None = None, *, severity: str = "error") -> Check:
    """The table has between ``min`` and ``max`` rows."""
    return RowCount(min=min, max=max, severity=severity)


def freshness(column: str, max_age: str | float, *, severity: str = "error") -> Check:
    """The newest value of ``column`` is at most ``max_age`` old (``"36h"``, ``"2d"``)."""
    return Freshness(column=column, max_age=max_age, severity=severity)


def references(
    column: str, dataset: str, key: str | None = None, *, severity: str = "error"
) -> Check:
    """Every value exists in column ``key`` (default: the same name) of ``dataset``."""
    return References(column=column, dataset=dataset, key=key, severity=severity)


def mean(
    column: str, min: float | None = None, max: float | None = None, *, severity: str = "error"
) -> Check:
    """The mean is within ``min``..``max``."""
    return Mean(column=column, min=min, max=max, severity=severity)


def std(
    column: str, min: float | None = None, max: float | None = None, *, severity: str = "error"
) -> Check:
    """The sample standard deviation is within ``min``..``max``."""
    return Std(column=column, min=min, max=max, severity=severity)


def quantile(
    column: str,
    q: float,
    min: float | None = None,
    max: float | None = None,
    *,
    severity: str = "error",
) -> Check:
    """The ``q`` quantile is within ``min``..``max``."""
    return Quantile(column=column, q=q, min=min, max=max, severity=severity)


def distribution(
    column: str,
    reference: Any,
    *,
    metric: str = "psi",
    max: float = 0.2,
    severity: str = "error",
) -> Check:
    """The distance (``psi`` or ``js``) to the reference's distribution is at most ``max``.

    ``reference`` is a dataset version (its stored profile), a table file, or a Profile.
    """
    return Distribution(
        column=column, reference=reference, metric=metric, max=max, severity=severity
    )


def pii(
    column: str | None = None,
    kinds: Iterable[str] | None = None,
    *,
    max_share: float = 0.0,
    severity: str = "error",
) -> Check:
    """No personal data of ``kinds`` (all by default) in ``column`` (every column if None)."""
    return Pii(
        column=column,
        kinds=None if kinds is None else list(kinds),
        max_share=max_share,
        severity=severity,
    )


def custom(
    fn: Callable[[Any], Any],
    *,
    column: str | None = None,
    name: str | None = None,
    severity: str = "error",
) -> Check:
    """``fn(series)`` (or ``fn(dataframe)`` without a column) returns a bool or one bool
    per row, ``True`` where valid."""
    return Custom(column=column, fn=fn, label=name, severity=severity)
