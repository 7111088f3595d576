"""``infer_schema``: propose a schema from data, or from a stored profile.

What is proposed, per column (from the profile, so the data is read once):

* ``dtype``: a family for text, time and categories (``string``, ``timestamp``), the exact
  Arrow type for numbers (``int64``, ``double``), so a float sneaking into an integer column
  is caught but a change of string encoding is not;
* ``not_null`` when the column had no missing value;
* ``in_range`` for numbers: the seen range widened by ``margin`` of its width on each
  side, never below 0 for a column that never went below 0, whole for integers;
* ``in_set`` for text with at most ``max_categories`` distinct values (all of them seen);
* ``unique`` when every value was distinct (counted exactly when the data is at hand);
* ``matches`` when every value fits a well-known format (e-mail, UUID, ISO date, digits,
  a short upper-case code);
* ``distribution`` against the dataset version the schema was inferred from, as a warning.

For the table: ``row_count`` within ``row_margin`` of the rows seen, and for the newest
timestamp column, ``freshness`` of the age the data had when inferred plus a day (warning).
A proposal is a starting point: read it, tighten it, keep it in git.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import InvalidInput

from . import checks
from ._checks import Check
from ._data import load_table
from ._schema import Schema

__all__ = ["infer_schema"]

_FORMATS = {
    "email": r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}",
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "iso_date": r"\d{4}-\d{2}-\d{2}",
    "digits": r"\d+",
    "code": r"[A-Z]{2,4}",
}


def infer_schema(
    data: Any,
    *,
    name: str | None = None,
    margin: float = 0.1,
    row_margin: float = 0.5,
    max_categories: int = 50,
    record: bool | None = None,
    store: Any = None,
) -> Schema:
    """Propose a :class:`Schema` from ``data`` (a DataFrame, Arrow table, dataset reference
    or table file) or from a :class:`~keel.data.Profile`.

    Inferred from a dataset version, the schema names the version in ``inferred_from``,
    adds ``distribution`` warnings against it, and is kept on record with it (``record``,
    default on for dataset versions).

    Example::

        schema = keel.infer_schema("credit:v1")
        schema.save("schemas/credit.yaml")   # then edit it and commit it
    """
    from keel.data._profile import Profile, profile_table

    if not isinstance(margin, int | float) or margin < 0:
        raise InvalidInput(f"margin must be a number >= 0 (0.1 is 10 %), not {margin!r}.")
    if not isinstance(row_margin, int | float) or not 0 <= row_margin < 1:
        raise InvalidInput(f"row_margin must be between 0 and 1 (0.5 is 50 %), not {row_margin!r}.")
    table: pa.Table | None = None
    reference = None
    version = None
    if isinstance(data, Profile):
        profile = data
    else:
        subject = load_table(data, purpose="infer_schema", store=store)
        table, version = subject.table, subject.version
        if table.num_rows == 0:
            raise InvalidInput(
                f"{subject.label} has no rows: there is nothing to infer a schema from. "
                "Give it data that looks like what you expect."
            )
        stored = None
        if version is not None:
            from ._data import dataset_service

            stored = dataset_service(store).profile(version)
            reference = version.ref
        profile = Profile.from_dict(stored) if stored else profile_table(table)
    found: list[Check] = []
    for column in profile.columns.values():
        found += _column_checks(column, table, profile.row_count, margin, max_categories)
        if reference and (column.histogram or (column.kind == "categorical" and column.top)):
            found.append(
                checks.distribution(column.name, reference, metric="psi", max=0.25, severity="warn")
            )
    rows = profile.row_count
    found.append(
        checks.row_count(
            min=math.floor(rows * (1 - row_margin)), max=math.ceil(rows * (1 + row_margin))
        )
    )
    freshness = _freshness(profile)
    if freshness is not None:
        found.append(freshness)
    schema = Schema(
        found,
        name=name or (version.dataset if version is not None else None),
        extra_columns="warn",
        inferred_from=reference,
    )
    if version is not None and record is not False:
        from ._records import record_schema

        record_schema(schema, inferred_from=str(version.id), store=store)
    return schema


def _column_checks(
    column: Any, table: pa.Table | None, rows: int, margin: float, max_categories: int
) -> list[Check]:
    name = column.name
    found: list[Check] = [checks.dtype(name, _dtype(column.type, column.kind))]
    if column.null_count == 0 and rows > 0:
        found.append(checks.not_null(name))
    if column.kind == "numeric" and column.min is not None:
        low, high = _widened(column.min, column.max, margin, column.type)
        found.append(checks.in_range(name, low, high))
    values = table.column(name) if table is not None else None
    if values is not None and pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if column.kind == "categorical":
        exact = sum(count for _, count in column.top) == column.count
        if exact and 0 < len(column.top) <= max_categories and column.count > len(column.top):
            found.append(checks.in_set(name, sorted(v for v, _ in column.top)))
        elif values is not None:
            pattern = _format(values)
            if pattern is not None:
                found.append(checks.matches(name, pattern))
    if column.kind in ("numeric", "categorical") and column.count > 1 and values is not None:
        distinct = pc.count_distinct(values, mode="only_valid").as_py()
        if distinct == column.count and (column.kind == "categorical" or _integer(column.type)):
            found.append(checks.unique(name))
    return found


def _dtype(type_text: str, kind: str) -> str:
    if kind == "categorical":  # plain or dictionary-encoded text alike
        return "string"
    if type_text.startswith("timestamp"):
        return "timestamp"
    if type_text.startswith("date"):
        return "date"
    if type_text.startswith("decimal"):
        return "decimal"
    if type_text == "bool":
        return "boolean"
    return type_text


def _integer(type_text: str) -> bool:
    return "int" in type_text


def _widened(low: float, high: float, margin: float, type_text: str) -> tuple[float, float]:
    width = (high - low) or abs(high) or 1.0
    new_low, new_high = low - margin * width, high + margin * width
    if low >= 0:
        new_low = max(new_low, 0.0)
    if _integer(type_text):
        return math.floor(new_low), math.ceil(new_high)
    return _round(new_low, math.floor), _round(new_high, math.ceil)


def _round(value: float, direction: Any) -> float:
    """Round outward to 3 significant digits, so the YAML reads well."""
    if value == 0:
        return 0.0
    exponent = math.floor(math.log10(abs(value))) - 2
    rounded = direction(value / 10**exponent) * 10**exponent
    return float(round(rounded, max(0, -exponent)))


def _format(values: pa.ChunkedArray) -> str | None:
    present = pc.drop_null(values)
    if pa.types.is_dictionary(present.type):
        present = present.cast(present.type.value_type)
    if len(present) == 0 or not (
        pa.types.is_string(present.type) or pa.types.is_large_string(present.type)
    ):
        return None
    sample = present.slice(0, 10_000)
    for pattern in _FORMATS.values():
        if pc.all(pc.match_substring_regex(sample, f"^(?:{pattern})$")).as_py():
            return pattern
    return None


def _freshness(profile: Any) -> Check | None:
    newest: tuple[datetime, str] | None = None
    for column in profile.columns.values():
        if column.kind != "temporal" or column.max is None:
            continue
        try:
            latest = datetime.fromisoformat(str(column.max).replace("Z", "+00:00"))
        except ValueError:
            continue
        if latest.tzinfo is None:
            latest = latest.replace(tzinfo=UTC)
        if newest is None or latest > newest[0]:
            newest = (latest, column.name)
    if newest is None:
        return None
    age = datetime.now(UTC) - newest[0] + timedelta(days=1)
    days = max(1, math.ceil(age.total_seconds() / 86400))
    return checks.freshness(newest[1], f"{days}d", severity="warn")
