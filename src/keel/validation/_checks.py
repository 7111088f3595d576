"""The checks a schema is made of, each vectorised over whole Arrow columns.

A check looks at one column (``column`` set) or at the whole table. Every check first asks
a cheap aggregate question (``min_max``, ``unique``, ``count_distinct``, a null count) and
only when the answer is "no" builds the row mask that says which rows fail, to count them
and show a few. Nothing loops over rows in Python.

Missing values: a null (or NaN in a float column) fails ``not_null`` and nothing else;
the other checks look at the values that are there, as pandera and Great Expectations do.

A check never raises on data: a missing column, a type it cannot compare or a custom
function that fails all give a failing :class:`Outcome` that says why. Wrong parameters
raise :class:`~keel.errors.SchemaError` when the check is made, before any data is read.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import KeelError, SchemaError, did_you_mean

from ._distance import METRICS, binned_counts, distance
from ._scans import Scans

__all__ = [
    "CHECKS",
    "SEVERITIES",
    "Check",
    "Context",
    "Outcome",
    "make_check",
]

SEVERITIES = ("error", "warn")
_TYPE_FAMILIES = {
    "integer": pa.types.is_integer,
    "float": pa.types.is_floating,
    "number": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "boolean": pa.types.is_boolean,
    "timestamp": pa.types.is_timestamp,
    "date": pa.types.is_date,
    "decimal": pa.types.is_decimal,
    "binary": lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t),
    "categorical": pa.types.is_dictionary,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class Outcome:
    """What a check found.

    Attributes:
        passed: whether the data meets the check.
        failing: rows that fail, when the check is about rows; ``None`` otherwise.
        observed: what was measured (``{"min": 3, "max": 140}``, ``{"psi": 0.31}``).
        message: one sentence for people, when the check fails.
        mask: ``True`` where a row fails (only built on failure), to pick examples.
    """

    passed: bool
    failing: int | None = None
    observed: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    mask: Any = None


class Context:
    """What checks need beyond the table: the time, and reference data loaded once."""

    def __init__(
        self, now: datetime | None = None, store: Any = None, *, scans: Scans | None = None
    ) -> None:
        self.now = now or datetime.now(UTC)
        self.store = store
        self.scans = scans or Scans()  # passes over number columns, shared by the checks
        self._values: dict[tuple[str, str], pa.Array] = {}
        self._profiles: dict[str, Any] = {}

    def reference_values(self, dataset: str, column: str) -> pa.Array:
        """The distinct values of ``column`` in a dataset version or table file."""
        key = (dataset, column)
        if key not in self._values:
            from ._data import load_table

            table = load_table(dataset, purpose="references", store=self.store).table
            if column not in table.column_names:
                raise SchemaError(
                    f"references: {dataset} has no column {column!r}."
                    f"{did_you_mean(column, table.column_names)} Its columns are "
                    f"{', '.join(table.column_names)}."
                )
            self._values[key] = _decoded(pc.unique(table.column(column))).drop_null()
        return self._values[key]

    def reference_profile(self, reference: Any) -> Any:
        """A :class:`~keel.data.Profile`: given, stored with a dataset version, or computed."""
        from keel.data._profile import Profile, profile_table

        if isinstance(reference, Profile):
            return reference
        key = str(reference)
        if key not in self._profiles:
            from ._data import load_table, stored_profile

            stored = stored_profile(reference, store=self.store)  # without reading the data
            if stored is not None:
                self._profiles[key] = Profile.from_dict(stored)
            else:
                table = load_table(reference, purpose="distribution", store=self.store).table
                self._profiles[key] = profile_table(table)
        return self._profiles[key]


@dataclass(kw_only=True)
class Check:
    """A rule about a column (``column`` set) or the table (``column=None``).

    Subclasses declare their parameters as dataclass fields, a ``kind`` (the name used in
    YAML), and :meth:`check`. ``severity`` is ``"error"`` (fails the report) or ``"warn"``.
    """

    kind: ClassVar[str] = ""
    scope: ClassVar[str] = "column"  # column | table | either
    shorthand: ClassVar[str | None] = None  # the parameter a bare YAML value sets
    in_table: ClassVar[bool] = False  # YAML lists it under 'table:', naming its column

    column: str | None = None
    severity: str = "error"

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise SchemaError(
                f"{self.kind}: severity must be 'error' or 'warn', not {self.severity!r}."
            )
        if self.scope == "column" and not self.column:
            raise SchemaError(f"{self.kind} checks a column: give it one (column=...).")
        if self.scope == "table" and self.column:
            raise SchemaError(f"{self.kind} checks the whole table; it takes no column.")
        self.validate()

    def validate(self) -> None:
        """Raise :class:`SchemaError` if the parameters are wrong (called on creation)."""

    @property
    def name(self) -> str:
        """``kind(column)`` or ``kind``: how reports name the check."""
        return f"{self.kind}({self.column})" if self.column else self.kind

    def params(self) -> dict[str, Any]:
        """The parameters as written in YAML (without ``column`` and default ``severity``)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name in ("column", "severity"):
                continue
            value = getattr(self, f.name)
            if value is None or (callable(value) and f.name == "fn"):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        if self.severity != "error":
            out["severity"] = self.severity
        return out

    def describe(self) -> str:
        """One line for people: ``in_range(age): min 18, max 100``."""
        params = {k: v for k, v in self.params().items() if k != "severity"}
        shown = ", ".join(f"{k} {_short(v)}" for k, v in params.items())
        return f"{self.name}: {shown}" if shown else self.name

    def run(self, table: pa.Table, ctx: Context) -> Outcome:
        """Evaluate on ``table``; never raises for anything about the data."""
        column = None
        if self.column is not None:
            if self.column not in table.column_names:
                return Outcome(
                    False,
                    message=f"Column {self.column!r} is missing."
                    f"{did_you_mean(self.column, table.column_names)}",
                )
            column = table.column(self.column)
        try:
            return self.check(table, column, ctx)
        except KeelError as exc:
            return Outcome(False, message=exc.message)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            where = f"column {self.column!r} ({column.type})" if column is not None else "table"
            return Outcome(False, message=f"Cannot run {self.kind} on {where}: {exc}")

    def check(self, table: pa.Table, column: pa.ChunkedArray | None, ctx: Context) -> Outcome:
        raise NotImplementedError


CHECKS: dict[str, type[Check]] = {}


def _register(cls: type[Check]) -> type[Check]:
    CHECKS[cls.kind] = cls
    return cls


def make_check(kind: str, value: Any, *, column: str | None = None) -> Check | None:
    """A check from its YAML form: ``kind: value`` under a column or the table.

    ``value`` is a mapping of parameters (``severity`` included), a bare value for the
    check's shorthand parameter (``in_set: [a, b]``, ``dtype: int64``), or ``true`` /
    ``false`` for checks without parameters (``false`` gives ``None``: no check).

    Raises:
        SchemaError: an unknown kind, or parameters the check does not take.
    """
    cls = CHECKS.get(kind)
    if cls is None:
        raise SchemaError(
            f"Unknown check {kind!r}.{did_you_mean(kind, list(CHECKS))} The checks are "
            f"{', '.join(sorted(CHECKS))}."
        )
    if isinstance(value, bool) and cls.shorthand is None:
        if not value:
            return None
        value = {}
    if not isinstance(value, dict):
        if cls.shorthand is None:
            raise SchemaError(f"{kind} takes a mapping of parameters, not {value!r}.")
        value = {cls.shorthand: value}
    if cls.scope == "either" and column is None and "column" in value:
        value = dict(value)  # under 'table:', a check that can look at a column names it
        column = value.pop("column")
    names = {f.name for f in dataclasses.fields(cls)} - {"column", "fn"}
    unknown = sorted(set(value) - names)
    if unknown:
        allowed = [*sorted(names - {"severity"}), "severity"]
        raise SchemaError(
            f"{kind} has no parameter {unknown[0]!r}.{did_you_mean(unknown[0], allowed)} "
            f"It takes {', '.join(allowed)}."
        )
    if cls.scope == "table" and column is not None:
        raise SchemaError(f"{kind} checks the whole table: put it under 'table:', not a column.")
    if cls.scope == "column" and column is None:
        raise SchemaError(f"{kind} checks a column: put it under 'columns: <name>:'.")
    try:
        return cls(column=column, **value)
    except TypeError as exc:
        raise SchemaError(f"{kind}: {exc}.") from exc


# -- helpers -----------------------------------------------------------------------------


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(kind: str, name: str, value: Any, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise SchemaError(f"{kind}: {name} must be a number, not {value!r}.")


def _bounds(kind: str, low: Any, high: Any, *, numbers: bool = True) -> None:
    if low is None and high is None:
        raise SchemaError(f"{kind}: give min, max or both.")
    if numbers:
        _number(kind, "min", low)
        _number(kind, "max", high)
        if low is not None and high is not None and low > high:
            raise SchemaError(f"{kind}: min ({low}) is above max ({high}).")


def _decoded(array: Any) -> Any:
    if pa.types.is_dictionary(array.type):
        return array.cast(array.type.value_type)
    return array


def _missing_mask(column: pa.ChunkedArray) -> Any:
    return pc.is_null(column, nan_is_null=True)


def _not_in(column: pa.ChunkedArray, values: pa.Array) -> Any:
    """True where a value is present and not among ``values``; missing values are
    ``not_null``'s business (``is_in`` alone says False for them)."""
    return pc.invert(pc.or_(pc.is_in(column, value_set=values), _missing_mask(column)))


def _not_among(column: pa.ChunkedArray, allowed: pa.Array, what: str) -> Outcome:
    """Rows whose value is present and not in ``allowed`` (one hash look-up per row, or per
    dictionary entry for a category column), with up to 10 of the values not allowed."""
    if pa.types.is_dictionary(column.type):
        mask = _dictionary_not_in(column, allowed.cast(column.type.value_type))
        if mask is None:
            return Outcome(True, 0)
        column = _decoded(column)
    else:
        mask = _not_in(column, allowed.cast(column.type))
    outcome = _fail_rows(mask, what, len(column))
    if not outcome.passed:
        unexpected = pc.unique(column.filter(outcome.mask))
        outcome.observed = {"unexpected": [_plain(v) for v in unexpected[:10].to_pylist()]}
    return outcome


def _dictionary_not_in(column: pa.ChunkedArray, allowed: pa.Array) -> Any:
    """For a dictionary column: True where a row's value is not in ``allowed``, found by
    checking each chunk's dictionary (a handful of entries) and mapping back through the
    indices; ``None`` when no dictionary holds a value outside ``allowed``."""
    masks, outside = [], False
    for chunk in column.chunks:
        bad = pc.fill_null(pc.invert(pc.is_in(chunk.dictionary, value_set=allowed)), False)
        if len(bad) and pc.any(bad).as_py():
            outside = True
            masks.append(pc.fill_null(pc.take(bad, chunk.indices), False))
        else:
            masks.append(pa.array(np.zeros(len(chunk), dtype=bool)))
    return pa.chunked_array(masks, pa.bool_()) if outside else None


def _values(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column without nulls and NaN."""
    if pa.types.is_floating(column.type):
        return pc.drop_null(pc.if_else(pc.is_nan(column), None, column))
    return pc.drop_null(column)


def _count(mask: Any) -> int:
    return int(pc.sum(mask).as_py() or 0)


def _fail_rows(mask: Any, what: str, total: int) -> Outcome:
    """An outcome from a row mask; ``what`` starts the message: "Missing", "Outside 1..9"."""
    mask = pc.fill_null(mask, False)
    failing = _count(mask)
    share = failing / total if total else 0.0
    return Outcome(
        failing == 0,
        failing,
        message="" if failing == 0 else f"{what} in {failing:,} of {total:,} rows ({share:.2%}).",
        mask=mask if failing else None,
    )


def _min_max(column: pa.ChunkedArray, scans: Scans) -> tuple[pa.Scalar, pa.Scalar]:
    """Smallest and largest value (nulls and NaN aside), as scalars of the column's type.

    Numbers without nulls go through NumPy on each chunk without copying (several times
    faster than Arrow's ``min_max`` kernel), each pass shared with other checks through
    ``scans``; anything else through Arrow.
    """
    type_ = column.type
    if not (pa.types.is_integer(type_) or pa.types.is_floating(type_)) or column.null_count:
        stats = pc.min_max(column)
        return stats["min"], stats["max"]
    lows, highs = [], []
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        low = scans.minimum(chunk)
        if isinstance(low, np.floating) and np.isnan(low):  # NaN aside, the slower way
            values = chunk.to_numpy(zero_copy_only=True)
            low, high = np.fmin.reduce(values), np.fmax.reduce(values)
            if np.isnan(low):  # only NaN in this chunk
                continue
        else:
            high = scans.maximum(chunk)
        lows.append(low)
        highs.append(high)
    if not lows:
        return pa.scalar(None, type_), pa.scalar(None, type_)
    return pa.scalar(min(lows), type_), pa.scalar(max(highs), type_)


def _within(value: float | None, low: float | None, high: float | None) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def _span(low: Any, high: Any) -> str:
    return f"{'' if low is None else low}..{'' if high is None else high}"


def _band(low: Any, high: Any) -> str:
    if low is None:
        return f"at most {high}"
    if high is None:
        return f"at least {low}"
    return f"between {low} and {high}"


def _scalar_for(value: Any, type_: pa.DataType) -> pa.Scalar:
    """A bound in the column's own type (numbers, or ISO text for temporal columns)."""
    if pa.types.is_timestamp(type_) or pa.types.is_date(type_):
        import pandas as pd

        stamp = pd.Timestamp(value)
        if pa.types.is_timestamp(type_) and type_.tz is not None and stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        if pa.types.is_timestamp(type_) and type_.tz is None and stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return pa.scalar(stamp.to_pydatetime()).cast(type_)
    return pa.scalar(value)


def parse_duration(text: Any) -> timedelta:
    """``"36h"``, ``"2d"``, ``"90m"``, ``"1w"``, ``"30s"`` or a number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool) and text > 0:
        return timedelta(seconds=text)
    match = _DURATION.match(str(text))
    if not match:
        raise SchemaError(
            f"max_age must be a duration such as '36h', '2d', '90m', '1w' or seconds; got {text!r}."
        )
    return timedelta(seconds=float(match[1]) * _DURATION_UNITS[match[2]])


# -- the checks ----------------------------------------------------------------------------


@_register
@dataclass(kw_only=True)
class NotNull(Check):
    """No missing values (null, or NaN in a float column)."""

    kind: ClassVar[str] = "not_null"

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        if column.null_count == 0 and not ctx.scans.has_nan(column):
            return Outcome(True, 0)
        return _fail_rows(_missing_mask(column), "Missing", len(column))


@_register
@dataclass(kw_only=True)
class Dtype(Check):
    """The column's type: a family (``integer``, ``float``, ``number``, ``string``,
    ``boolean``, ``timestamp``, ``date``, ``decimal``, ``binary``, ``categorical``) or an
    exact Arrow type (``int32``, ``double``, ``timestamp[ms]``)."""

    kind: ClassVar[str] = "dtype"
    shorthand: ClassVar[str | None] = "dtype"
    dtype: str = ""

    def validate(self) -> None:
        if self.dtype in _TYPE_FAMILIES:
            return
        try:
            pa.type_for_alias(str(self.dtype))
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaError(
                f"dtype: {self.dtype!r} is neither a type family ({', '.join(_TYPE_FAMILIES)}) "
                "nor an Arrow type name such as int64, double or timestamp[us]."
            ) from exc

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        actual = column.type
        family = _TYPE_FAMILIES.get(self.dtype)
        value_type = actual.value_type if pa.types.is_dictionary(actual) else actual
        if family is not None:
            ok = family(actual) or (self.dtype != "categorical" and family(value_type))
        else:
            ok = actual == pa.type_for_alias(self.dtype) or value_type == pa.type_for_alias(
                self.dtype
            )
        message = "" if ok else f"Column {self.column!r} is {actual}, expected {self.dtype}."
        return Outcome(ok, None, {"dtype": str(actual)}, message)


@_register
@dataclass(kw_only=True)
class InRange(Check):
    """Values between ``min`` and ``max`` (inclusive; either may be left out)."""

    kind: ClassVar[str] = "in_range"
    min: Any = None
    max: Any = None

    def validate(self) -> None:
        times = [b for b in (self.min, self.max) if isinstance(b, str)]
        for bound in times:
            try:
                datetime.fromisoformat(bound)
            except ValueError as exc:
                raise SchemaError(
                    f"in_range: min and max must be numbers, or ISO dates/times for a time "
                    f"column; {bound!r} is neither."
                ) from exc
        _bounds(self.kind, self.min, self.max, numbers=not times)

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        low = None if self.min is None else _scalar_for(self.min, column.type)
        high = None if self.max is None else _scalar_for(self.max, column.type)
        seen_min, seen_max = _min_max(column, ctx.scans)
        observed = {"min": _plain(seen_min.as_py()), "max": _plain(seen_max.as_py())}
        below = low is not None and seen_min.is_valid and pc.less(seen_min, low).as_py()
        above = high is not None and seen_max.is_valid and pc.greater(seen_max, high).as_py()
        if not below and not above:
            return Outcome(True, 0, observed)
        mask = pa.chunked_array([], pa.bool_()) if len(column) == 0 else None
        if low is not None:
            mask = pc.less(column, low)
        if high is not None:
            over = pc.greater(column, high)
            mask = over if mask is None else pc.or_kleene(mask, over)
        outcome = _fail_rows(mask, f"Outside {_span(self.min, self.max)}", len(column))
        outcome.observed = observed
        return outcome


@_register
@dataclass(kw_only=True)
class InSet(Check):
    """Values among the allowed ones (``values``)."""

    kind: ClassVar[str] = "in_set"
    shorthand: ClassVar[str | None] = "values"
    values: list[Any] = field(default_factory=list)

    def validate(self) -> None:
        if not isinstance(self.values, list | tuple | set) or not self.values:
            raise SchemaError(f"in_set: values must be a non-empty list, not {self.values!r}.")
        self.values = list(self.values)

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        return _not_among(column, pa.array(self.values), "Values not allowed")


@_register
@dataclass(kw_only=True)
class Unique(Check):
    """No value appears twice (missing values aside)."""

    kind: ClassVar[str] = "unique"

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        column = _decoded(column)
        present = len(column) - column.null_count
        if pc.count_distinct(column, mode="only_valid").as_py() == present:
            return Outcome(True, 0)
        counts = pc.value_counts(column.drop_null())
        repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
        outcome = _fail_rows(
            pc.is_in(column, value_set=repeated),
            "Repeated values",
            len(column),
        )
        outcome.observed = {"duplicated_values": len(repeated)}
        return outcome


@_register
@dataclass(kw_only=True)
class Matches(Check):
    """Text values match a regular expression (RE2 syntax) in full."""

    kind: ClassVar[str] = "matches"
    shorthand: ClassVar[str | None] = "pattern"
    pattern: str = ""

    def validate(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern:
            raise SchemaError(
                f"matches: pattern must be a regular expression, not {self.pattern!r}."
            )
        try:
            pc.match_substring_regex(pa.array([""]), self._anchored)
        except pa.ArrowInvalid as exc:
            raise SchemaError(
                f"matches: {self.pattern!r} is not a valid regular expression: {exc}."
            ) from exc

    @property
    def _anchored(self) -> str:
        return f"^(?:{self.pattern})$"

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        column = _decoded(column)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            return Outcome(False, message=f"Column {self.column!r} is {column.type}, not text.")
        fits = pc.match_substring_regex(column, self._anchored)
        return _fail_rows(pc.invert(fits), f"Not matching {self.pattern!r}", len(column))


@_register
@dataclass(kw_only=True)
class Hashed(Check):
    """Values look like digests (hex or base64 digests, bcrypt/argon2 hashes, tagged
    ``sha256:...`` values; see :func:`keel.validation._pii.looks_hashed`), not raw
    identifiers: the ``require_hashed`` policy."""

    kind: ClassVar[str] = "hashed"

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        from ._pii import unhashed

        value_type = _decoded(column).type
        if not any(
            test(value_type)
            for test in (
                pa.types.is_string,
                pa.types.is_large_string,
                pa.types.is_binary,
                pa.types.is_large_binary,
                pa.types.is_fixed_size_binary,
            )
        ):
            return Outcome(
                False,
                len(column) - column.null_count,
                message=f"Column {self.column!r} is {column.type}; hashed values are text.",
            )
        return _fail_rows(pa.array(unhashed(column)), "Values not hashed", len(column))


@_register
@dataclass(kw_only=True)
class RowCount(Check):
    """The table has between ``min`` and ``max`` rows."""

    kind: ClassVar[str] = "row_count"
    scope: ClassVar[str] = "table"
    min: int | None = None
    max: int | None = None

    def validate(self) -> None:
        _bounds(self.kind, self.min, self.max)

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        rows = table.num_rows
        ok = _within(rows, self.min, self.max)
        message = (
            "" if ok else f"The table has {rows:,} rows, expected {_band(self.min, self.max)}."
        )
        return Outcome(ok, None, {"rows": rows}, message)


@_register
@dataclass(kw_only=True)
class NoExtraColumns(Check):
    """Every column of the table is one the schema names (``allowed``)."""

    kind: ClassVar[str] = "no_extra_columns"
    scope: ClassVar[str] = "table"
    allowed: list[str] = field(default_factory=list)

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        extra = [c for c in table.column_names if c not in set(self.allowed)]
        message = f"Columns the schema does not name: {', '.join(extra)}." if extra else ""
        return Outcome(not extra, None, {"extra": extra}, message)


@_register
@dataclass(kw_only=True)
class Freshness(Check):
    """The newest value of a timestamp or date ``column`` is at most ``max_age`` old."""

    kind: ClassVar[str] = "freshness"
    scope: ClassVar[str] = "either"
    shorthand: ClassVar[str | None] = "max_age"
    in_table: ClassVar[bool] = True
    max_age: Any = None

    def validate(self) -> None:
        parse_duration(self.max_age)
        if not self.column:
            raise SchemaError("freshness needs the timestamp column to look at (column: ...).")

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        if not (pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)):
            return Outcome(False, message=f"Column {self.column!r} is {column.type}, not a time.")
        latest = pc.max(column).as_py()
        if latest is None:
            return Outcome(False, message=f"Column {self.column!r} has no values.")
        if not isinstance(latest, datetime):  # a date
            latest = datetime(latest.year, latest.month, latest.day)
        if latest.tzinfo is None:
            latest = latest.replace(tzinfo=UTC)
        age = ctx.now - latest
        ok = age <= parse_duration(self.max_age)
        observed = {"latest": latest.isoformat(), "age_hours": round(age.total_seconds() / 3600, 2)}
        message = "" if ok else f"The newest {self.column} is {age} old, more than {self.max_age}."
        return Outcome(ok, None, observed, message)


@_register
@dataclass(kw_only=True)
class References(Check):
    """Every value exists in column ``key`` (by default, the same name) of another dataset
    version or table file: a foreign key."""

    kind: ClassVar[str] = "references"
    dataset: str = ""
    key: str | None = None

    def validate(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise SchemaError("references: give the dataset (a reference such as customers:v2).")

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        target = self.key or self.column or ""
        known = ctx.reference_values(self.dataset, target)
        return _not_among(column, known, f"Values not in {self.dataset}.{target}")


@dataclass(kw_only=True)
class _Statistic(Check):
    min: float | None = None
    max: float | None = None

    def validate(self) -> None:
        _bounds(self.kind, self.min, self.max)

    def statistic(self, values: pa.ChunkedArray) -> float | None:
        raise NotImplementedError

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        value = self.statistic(_values(column))
        ok = _within(value, self.min, self.max)
        label = self.kind if not hasattr(self, "q") else f"quantile {self.q}"
        message = (
            ""
            if ok
            else f"The {label} of {self.column} is {value}, expected {_band(self.min, self.max)}."
        )
        return Outcome(ok, None, {self.kind: value}, message)


@_register
@dataclass(kw_only=True)
class Mean(_Statistic):
    """The mean of the values is within ``min``..``max``."""

    kind: ClassVar[str] = "mean"

    def statistic(self, values: pa.ChunkedArray) -> float | None:
        return pc.mean(values).as_py()


@_register
@dataclass(kw_only=True)
class Std(_Statistic):
    """The sample standard deviation of the values is within ``min``..``max``."""

    kind: ClassVar[str] = "std"

    def statistic(self, values: pa.ChunkedArray) -> float | None:
        return pc.stddev(values, ddof=1).as_py()


@_register
@dataclass(kw_only=True)
class Quantile(_Statistic):
    """The ``q`` quantile of the values (exact, linear interpolation) is within the band."""

    kind: ClassVar[str] = "quantile"
    q: float = 0.5

    def validate(self) -> None:
        super().validate()
        _number(self.kind, "q", self.q, optional=False)
        if not 0 <= self.q <= 1:
            raise SchemaError(f"quantile: q must be between 0 and 1, not {self.q}.")

    def statistic(self, values: pa.ChunkedArray) -> float | None:
        found = pc.quantile(values, q=self.q)
        return found[0].as_py() if len(found) else None


@_register
@dataclass(kw_only=True)
class Distribution(Check):
    """The distance between the column's distribution and a reference profile's (a dataset
    version, a table file, or a :class:`~keel.data.Profile`) is at most ``max``."""

    kind: ClassVar[str] = "distribution"
    reference: Any = None
    metric: str = "psi"
    max: float = 0.2

    def validate(self) -> None:
        if self.reference is None or self.reference == "":
            raise SchemaError(
                "distribution: give the reference (a dataset version such as credit:v1)."
            )
        if self.metric not in METRICS:
            raise SchemaError(
                f"distribution: metric must be one of {', '.join(METRICS)}, not {self.metric!r}."
            )
        _number(self.kind, "max", self.max, optional=False)

    def params(self) -> dict[str, Any]:
        out = super().params()
        if not isinstance(self.reference, str):
            out["reference"] = "<profile>"
        return out

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        profile = ctx.reference_profile(self.reference)
        if self.column not in profile.columns:
            return Outcome(False, message=f"The reference has no column {self.column!r}.")
        expected, current = binned_counts(profile.columns[self.column], column)
        value = distance(expected, current, self.metric)
        ok = value <= self.max
        message = "" if ok else f"{self.metric} of {self.column} is {value:.3f}, above {self.max}."
        return Outcome(ok, None, {self.metric: round(value, 6)}, message)


@_register
@dataclass(kw_only=True)
class Pii(Check):
    """No personal data of the given ``kinds`` (all kinds when left out) in the column, or
    in any column when checked on the table: the ``forbid`` policy."""

    kind: ClassVar[str] = "pii"
    scope: ClassVar[str] = "either"
    shorthand: ClassVar[str | None] = "kinds"
    kinds: list[str] | None = None
    max_share: float = 0.0

    def validate(self) -> None:
        from ._pii import KINDS

        if self.kinds is not None:
            if isinstance(self.kinds, str):
                self.kinds = [self.kinds]
            unknown = [k for k in self.kinds if k not in KINDS]
            if unknown:
                raise SchemaError(
                    f"pii: unknown kind {unknown[0]!r}.{did_you_mean(unknown[0], list(KINDS))} "
                    f"The kinds are {', '.join(KINDS)}."
                )
        _number(self.kind, "max_share", self.max_share, optional=False)

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        from ._pii import scan_pii

        scanned = table.select([self.column]) if self.column else table
        findings = [
            f
            for f in scan_pii(scanned, min_share=0.0)
            if (self.kinds is None or f.kind in self.kinds)
            and f.evidence == "values"
            and (f.share or 0.0) > self.max_share
        ]
        observed = {"found": [f"{f.column}: {f.kind} ({(f.share or 0):.1%})" for f in findings]}
        message = "Personal data found: " + "; ".join(observed["found"]) + "." if findings else ""
        failing = sum(f.matched for f in findings) if findings else 0
        return Outcome(not findings, failing, observed, message)


@_register
@dataclass(kw_only=True)
class Custom(Check):
    """A Python function over a column (a pandas Series) or the table (a DataFrame) that
    returns ``True``/``False`` or one boolean per row (``True`` where the row is valid).

    In YAML, ``function`` names it as ``module:attribute``; in Python pass ``fn``.
    """

    kind: ClassVar[str] = "custom"
    scope: ClassVar[str] = "either"
    shorthand: ClassVar[str | None] = "function"
    function: str | None = None
    fn: Callable[[Any], Any] | None = None
    label: str | None = None

    def validate(self) -> None:
        if self.fn is None:
            if not isinstance(self.function, str) or ":" not in self.function:
                raise SchemaError(
                    "custom: give function as 'module:attribute' (e.g. 'checks:positive'), "
                    "or pass fn=... in Python."
                )
            module, _, attribute = self.function.partition(":")
            try:
                self.fn = getattr(importlib.import_module(module), attribute)
            except (ImportError, AttributeError) as exc:
                raise SchemaError(f"custom: cannot import {self.function}: {exc}.") from exc
        if not callable(self.fn):
            raise SchemaError(f"custom: {self.function or self.fn!r} is not callable.")
        if self.label is None:
            self.label = self.function or getattr(self.fn, "__name__", "custom")

    @property
    def name(self) -> str:
        base = f"custom:{self.label}"
        return f"{base}({self.column})" if self.column else base

    def check(self, table: pa.Table, column: Any, ctx: Context) -> Outcome:
        data = column.to_pandas() if column is not None else table.to_pandas()
        try:
            result = self.fn(data)  # type: ignore[misc]
        except Exception as exc:  # the user's function: report it, don't crash
            return Outcome(False, message=f"{self.label} raised {type(exc).__name__}: {exc}")
        if isinstance(result, bool | np.bool_):
            return Outcome(
                bool(result), None, {}, "" if result else f"{self.label} returned False."
            )
        valid = np.asarray(result)
        if valid.dtype != np.bool_ or valid.shape != (table.num_rows,):
            return Outcome(
                False,
                message=f"{self.label} must return a bool or one bool per row; it returned "
                f"{type(result).__name__} of shape {valid.shape} and dtype {valid.dtype}.",
            )
        return _fail_rows(pa.array(~valid), f"Failing {self.label}", table.num_rows)


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes as ISO text, NumPy scalars as Python ones."""
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value
