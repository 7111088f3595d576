"""Training/serving skew: do the inputs a model sees in production look like its training data?

:func:`check_skew` validates a window of served inputs (a DataFrame, or a table of the
prediction log) against the training data's schema, and adds one ``distribution`` check
per column against the training profile. The monitoring service runs the same function on
each window, so a skew found here and a drift alert there mean the same thing.
"""

from __future__ import annotations

from typing import Any

from keel.errors import InvalidInput

from ._checks import Check, Context, Distribution
from ._report import ValidationReport
from ._schema import Schema
from ._validate import as_schema, validate

__all__ = ["check_skew"]


def check_skew(
    served: Any,
    training: Any,
    *,
    schema: Schema | str | dict[str, Any] | None = None,
    metric: str = "psi",
    threshold: float = 0.2,
    columns: list[str] | None = None,
    record: bool | None = False,
) -> ValidationReport:
    """Compare served inputs with training data.

    Args:
        served: the window of served inputs (DataFrame, Arrow table, dataset ref or file).
        training: the training data: a dataset version (its stored profile is used), a
            table file, or a :class:`~keel.data.Profile`.
        schema: the training schema; its checks run on the served window too (types,
            ranges, sets). Without one, only distributions are compared.
        metric: ``psi`` or ``js`` (see :mod:`keel.validation._distance`).
        threshold: a column whose distance is above it fails (severity ``error``).
        columns: the columns to compare; by default every column of the training profile
            that the served window has and that has a histogram or top values, except
            identifiers (columns whose values are nearly all distinct).
        record: keep the report on record (see :func:`validate`).

    Example::

        report = check_skew(todays_requests, "credit:v3", schema="schemas/credit.yaml")
        [r.name for r in report.errors]   # ['distribution(income)']
    """
    from ._data import load_table

    if not isinstance(threshold, int | float) or threshold <= 0:
        raise InvalidInput(f"threshold must be a positive number, not {threshold!r}.")
    base = as_schema(schema) if schema is not None else Schema([], name="skew")
    subject = load_table(served, purpose="check_skew")
    profile = Context().reference_profile(training)
    present = set(subject.table.column_names)
    if columns is None:
        columns = [
            name
            for name, column in profile.columns.items()
            if name in present
            and (column.histogram is not None or column.top)
            and not _identifier(column)
        ]
    unknown = [c for c in columns if c not in profile.columns]
    if unknown:
        raise InvalidInput(
            f"The training data has no column {unknown[0]!r}; it has {', '.join(profile.columns)}."
        )
    drift: list[Check] = [
        Distribution(column=name, reference=profile, metric=metric, max=threshold)
        for name in columns
    ]
    kept = [c for c in base.checks if c.kind not in ("row_count", "freshness", "distribution")]
    combined = Schema(
        kept + drift,
        name=f"{base.name or 'schema'} + skew",
        extra_columns=base.extra_columns,
        policy=base.policy,
        declared=base.declared,
    )
    return validate(subject.table, combined, record=record)


def _identifier(column: Any) -> bool:
    """Whole numbers or text, nearly all distinct: an id or key, whose distribution means
    nothing (continuous measurements are all distinct too, and are compared)."""
    keyish = column.kind == "categorical" or "int" in column.type
    distinct = column.distinct_approx or 0
    return keyish and distinct >= 0.95 * max(column.count, 1)
