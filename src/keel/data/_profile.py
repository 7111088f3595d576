"""Dataset profiles: per-column statistics computed over whole Arrow arrays, and mergeable.

A profile is built batch by batch (a million rows at a time, one column per thread on up
to four CPUs, as NumPy and Arrow release the GIL), and each batch's partial profile is merged
into the running one by the same column merge that :func:`merge_profiles` applies to
partitions: "the profile of appended data is computed from the new part alone" is the code
path every profile takes. Nothing loops over rows in Python.

What is exact and what is estimated:

* exact: ``row_count``, ``count``, ``null_count``, ``inf_count``, ``min``, ``max``, ``mean``
  and ``std`` (merged with Chan et al.'s parallel moments; ``std`` is the sample standard
  deviation, ``ddof=1``, as pandas computes it), and histogram counts on fixed edges;
* estimated: ``quantiles`` (a KLL sketch, rank error below 1 %), ``distinct_approx``
  (HyperLogLog, standard error 0.8 %) and ``top`` counts once a column has more than 512
  distinct values (Misra-Gries: lower bounds, exact below that). See :mod:`._sketches`.

Values that are not ordinary numbers: a NaN in a float column is a missing value (counted
in ``null_count``, as pandas treats it); +-inf is a value (counted in ``count`` and
``inf_count``) but is left out of ``min``, ``max``, ``mean``, ``std``, ``quantiles``, the
histogram and ``distinct_approx``, which describe the finite values.

Histograms have 20 equal-width bins between the column's finite min and max, unless edges
are given; values outside the edges are counted in ``underflow`` and ``overflow``. Two
histograms merge only on identical edges (re-binning cannot be done honestly without the
data), so profile a new part with ``profile_table(part, edges=old.edges())``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from keel.data._sketches import (
    ColumnSketch,
    DistinctSketch,
    FrequentItems,
    QuantileSketch,
    hash_strings,
    hash_uint64,
)
from keel.errors import InvalidInput, did_you_mean

__all__ = ["ColumnProfile", "Profile", "merge_profiles", "profile_table"]

Kind = Literal["numeric", "categorical", "boolean", "temporal", "other"]

QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.5,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
BINS = 20
TOP = 20
BATCH_ROWS = 1_000_000
FORMAT = "keel.profile/1"


@dataclass
class ColumnProfile:
    """Statistics of one column.

    ``min`` and ``max`` are numbers for numeric columns, ``bool`` for boolean ones, strings
    for categorical ones, and Arrow's ISO 8601 text of the value for temporal ones (UTC with
    a ``Z`` for zoned timestamps; it sorts as the values do within one type). Statistics
    that do not apply to a kind are ``None`` (or empty); ``distinct_approx`` is ``None`` for
    kind ``"other"`` (lists, structs, binary, durations), which gets counts only.

    Attributes:
        name: column name.
        type: Arrow type, as text (``"double"``, ``"large_string"``, ``"timestamp[us]"``).
        kind: ``"numeric"``, ``"categorical"``, ``"boolean"``, ``"temporal"`` or ``"other"``.
        count: values that are not missing (includes +-inf).
        null_count: missing values (nulls, and NaN in float columns).
        min: smallest finite value, or ``None`` when there is none.
        max: largest finite value, or ``None``.
        mean: mean of the finite values (fraction of ``True`` for booleans), or ``None``.
        std: sample standard deviation (``ddof=1``) of the finite values; ``None`` with
            fewer than two.
        quantiles: ``p01`` to ``p99`` of the finite values, from a sketch (numeric only).
        histogram: ``{"edges", "counts", "underflow", "overflow"}`` (numeric only).
        distinct_approx: estimated number of distinct values.
        top: the most frequent values with their counts (categorical and boolean, 20 at most).
        inf_count: +-inf values (float columns).
        sketch: merge state, not compared and not shown.
    """

    name: str
    type: str
    kind: Kind
    count: int = 0
    null_count: int = 0
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    histogram: dict[str, Any] | None = None
    distinct_approx: int | None = None
    top: list[tuple[Any, int]] = field(default_factory=list)
    inf_count: int = 0
    sketch: ColumnSketch = field(default_factory=ColumnSketch, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``top`` pairs become lists)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["quantiles"] = dict(self.quantiles)
        if self.histogram is not None:
            data["histogram"] = {k: _copied(v) for k, v in self.histogram.items()}
        data["top"] = [[value, count] for value, count in self.top]
        data["sketch"] = self.sketch.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        """Read what :meth:`to_dict` wrote."""
        fields = dict(data)
        fields["top"] = [(value, int(count)) for value, count in data["top"]]
        fields["sketch"] = ColumnSketch.from_dict(data["sketch"])
        return cls(**fields)


def _copied(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


@dataclass
class Profile:
    """Profile of a table: its row count and one :class:`ColumnProfile` per column.

    Example:
        >>> import pandas as pd
        >>> profile = profile_table(pd.DataFrame({"x": [1.0, 2.0, None]}))
        >>> profile.row_count, profile.columns["x"].null_count, profile.columns["x"].mean
        (3, 1, 1.5)
    """

    row_count: int
    columns: dict[str, ColumnProfile]

    @property
    def schema(self) -> dict[str, str]:
        """Column names and their Arrow types, as text."""
        return {name: column.type for name, column in self.columns.items()}

    def edges(self) -> dict[str, list[float]]:
        """Histogram edges per numeric column, to profile appended data on the same bins."""
        return {
            name: list(column.histogram["edges"])
            for name, column in self.columns.items()
            if column.histogram is not None
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, sketches included (base64), for storing with a dataset version."""
        return {
            "format": FORMAT,
            "row_count": self.row_count,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Read what :meth:`to_dict` wrote.

        Raises:
            InvalidInput: ``data`` is not a profile written by :meth:`to_dict`.
        """
        try:
            if data["format"] != FORMAT:
                raise ValueError(f"format {data['format']!r} is not {FORMAT!r}")
            columns = {name: ColumnProfile.from_dict(c) for name, c in data["columns"].items()}
            return cls(row_count=int(data["row_count"]), columns=columns)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise InvalidInput(
                f"Profile.from_dict() cannot read this profile: {detail}. "
                "Pass a dict made by Profile.to_dict()."
            ) from exc

    def to_json(self) -> bytes:
        """The profile as JSON bytes, as stored next to a dataset version."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str) -> Profile:
        """Read what :meth:`to_json` wrote.

        Raises:
            InvalidInput: ``data`` is not JSON, or not a profile.
        """
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                f"Profile.from_json() got bytes that are not JSON ({exc}). "
                "Pass the bytes made by Profile.to_json()."
            ) from exc
        if not isinstance(decoded, dict):
            raise InvalidInput(
                f"Profile.from_json() expects a JSON object, got {type(decoded).__name__}. "
                "Pass the bytes made by Profile.to_json()."
            )
        return cls.from_dict(decoded)


def profile_table(
    data: pd.DataFrame | pa.Table | pa.RecordBatch,
    *,
    edges: dict[str, list[float]] | None = None,
) -> Profile:
    """Profile a table: row count, schema and statistics of every column.

    Args:
        data: a pandas DataFrame (its index is left out) or a pyarrow Table or RecordBatch.
        edges: histogram edges for some numeric columns, usually ``old_profile.edges()`` so
            that the profile of appended data merges with the old one. Other numeric columns
            get 20 equal-width bins between their finite min and max.

    Returns:
        The profile; see the module docstring for what is exact and what is estimated.

    Raises:
        InvalidInput: ``data`` is not a table, has duplicate column names, or ``edges``
            names an unknown or non-numeric column or is not increasing finite numbers.
    """
    table = _as_table(data)
    kinds = {f.name: _kind(f.type) for f in table.schema}
    fixed = _check_edges(edges or {}, kinds)

    def one(name: str) -> ColumnProfile:
        column = table.column(name)
        col_edges = fixed.get(name)
        if col_edges is None and kinds[name] == "numeric":
            col_edges = _default_edges(column)
        parts = (
            _profile_batch(name, str(column.type), batch, kinds[name], col_edges)
            for batch in _batches(column)
        )
        profile = next(parts)
        for part in parts:
            profile = _merge_columns(profile, part)
        return profile

    workers = min(len(kinds), os.cpu_count() or 1, 4)
    if workers > 1 and table.num_rows > BATCH_ROWS // 10:
        with ThreadPoolExecutor(workers, thread_name_prefix="keel-profile") as pool:
            columns = list(pool.map(one, kinds))
    else:
        columns = [one(name) for name in kinds]
    return Profile(row_count=table.num_rows, columns={c.name: c for c in columns})


def merge_profiles(a: Profile, b: Profile) -> Profile:
    """Combine the profiles of two parts of a table into the profile of the whole.

    Counts, min, max, mean and std are exact; histograms add bin by bin; sketches merge.

    Raises:
        InvalidInput: the two profiles have different columns or column types, or a numeric
            column has histograms on different edges.
    """
    if list(a.columns) != list(b.columns) or a.schema != b.schema:
        raise InvalidInput(
            f"merge_profiles() needs profiles of the same schema; got {a.schema} and "
            f"{b.schema}. Cast the new part to the old schema first, e.g. "
            "table.cast(old_table.schema), then profile it again."
        )
    columns = {name: _merge_columns(a.columns[name], b.columns[name]) for name in a.columns}
    return Profile(row_count=a.row_count + b.row_count, columns=columns)


# --- input checks ---------------------------------------------------------------------------


def _as_table(data: object) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise InvalidInput(
                f"profile_table() could not convert the DataFrame to Arrow: {exc}. "
                "Give each column one type (e.g. df[col].astype(str))."
            ) from exc
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.Table):
        table = data
    else:
        raise InvalidInput(
            "profile_table() expects a pandas DataFrame or a pyarrow Table; got "
            f"{type(data).__name__}. Convert it first, e.g. pandas.DataFrame(data)."
        )
    names = table.column_names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(
            f"profile_table() needs unique column names; {duplicates} appear more than once. "
            "Rename the columns first."
        )
    return table


def _check_edges(edges: dict[str, list[float]], kinds: dict[str, Kind]) -> dict[str, np.ndarray]:
    checked = {}
    for name, values in edges.items():
        if name not in kinds:
            raise InvalidInput(
                f"profile_table() got edges for column {name!r}, which the table does not "
                f"have.{did_you_mean(name, list(kinds))} Its columns are {list(kinds)}."
            )
        if kinds[name] != "numeric":
            raise InvalidInput(
                f"profile_table() got edges for column {name!r}, which is {kinds[name]}; "
                "histograms are for numeric columns only. Leave it out of edges."
            )
        array = np.asarray(values, dtype=np.float64)
        if (
            array.ndim != 1
            or len(array) < 2
            or not np.isfinite(array).all()
            or (np.diff(array) <= 0).any()
        ):
            raise InvalidInput(
                f"The edges for column {name!r} must be at least two finite, strictly "
                f"increasing numbers; got {list(values)}. Use Profile.edges() of an "
                "earlier profile."
            )
        checked[name] = array
    return checked


# --- one batch of one column ------------------------------------------------------------------


def _kind(dtype: pa.DataType) -> Kind:
    if pa.types.is_dictionary(dtype):
        return _kind(dtype.value_type)
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "numeric"
    if (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or (pa.types.is_string_view(dtype))
    ):
        return "categorical"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype) or pa.types.is_time(dtype):
        return "temporal"
    return "other"


def _batches(column: pa.ChunkedArray) -> Iterator[pa.ChunkedArray]:
    """Zero-copy slices of at most BATCH_ROWS rows (dictionaries decoded slice by slice);
    an empty column yields one empty slice."""
    for start in range(0, max(len(column), 1), BATCH_ROWS):
        part = column.slice(start, BATCH_ROWS)
        if pa.types.is_dictionary(part.type):
            part = part.cast(part.type.value_type)
        yield part


def _default_edges(column: pa.ChunkedArray) -> np.ndarray | None:
    """20 equal-width bins over the finite values; a constant column gets a unit-wide range."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_decimal(column.type) or pa.types.is_float16(column.type):
        column = column.cast(pa.float64())
    low, high = (v.as_py() for v in pc.min_max(column).values())
    if (
        pa.types.is_floating(column.type)
        and low is not None
        and not (math.isfinite(low) and math.isfinite(high))
    ):
        finite = column.filter(pc.is_finite(column))
        low, high = (v.as_py() for v in pc.min_max(finite).values())
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return None
    low, high = float(low), float(high)
    if low == high:
        low, high = low - 0.5, high + 0.5
        if low == high:  # so large that 0.5 is below the float spacing
            low, high = float(np.nextafter(low, -np.inf)), float(np.nextafter(high, np.inf))
    # Weighted ends rather than low + step * i: high - low can overflow to inf, and a range
    # narrower than 20 floats apart gives repeated edges, which np.unique drops.
    steps = np.linspace(0.0, 1.0, BINS + 1)
    return np.unique(low * (1.0 - steps) + high * steps)


def _profile_batch(
    name: str, type_name: str, array: pa.ChunkedArray, kind: Kind, edges: np.ndarray | None
) -> ColumnProfile:
    column = ColumnProfile(name=name, type=type_name, kind=kind)
    column.null_count = array.null_count
    column.count = len(array) - array.null_count
    if kind == "numeric":
        _numeric(column, array, edges)
    elif kind == "boolean":
        _boolean(column, array)
    elif kind == "categorical":
        _categorical(column, array)
    elif kind == "temporal":
        _temporal(column, array)
    return _finish(column)


def _numeric(column: ColumnProfile, array: pa.ChunkedArray, edges: np.ndarray | None) -> None:
    values, distinct = _sorted_finite(column, array)
    column.sketch.quantiles = QuantileSketch()
    column.sketch.quantiles.update(values, presorted=True)
    column.sketch.distinct = DistinctSketch()
    if edges is not None:
        column.histogram = _histogram(values, edges)
    if len(values):
        if pa.types.is_integer(array.type):
            low, high = (v.as_py() for v in pc.min_max(array).values())
        else:
            low, high = float(values[0]), float(values[-1])
        column.min, column.max = low, high
        # Hash before the in-place subtraction below: distinct may be values itself.
        column.sketch.distinct.update(hash_uint64(distinct))
        with np.errstate(over="ignore"):  # values near 1e308 overflow to an honest inf
            column.mean = float(values.mean())
            values -= column.mean
            column.sketch.m2 = float(values @ values)


def _sorted_finite(column: ColumnProfile, array: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The finite values, sorted, as float64 in an array of our own, and their distinct values.

    Integers keep their own type for the distinct values, so that large ones that share a
    float64 still hash apart. Counts NaN as missing and +-inf apart on ``column``.
    """
    if pa.types.is_integer(array.type):
        wide = np.uint64 if array.type == pa.uint64() else np.int64
        ints = array.drop_null().to_numpy().astype(wide, copy=False)
        low, high = (int(ints.min()), int(ints.max())) if len(ints) else (0, -1)
        if wide is np.int64 and 0 <= high - low < len(ints):
            # A counting sort: integers in a range no wider than their number need no
            # comparison sort, and their distinct values come with it.
            counts = np.bincount(ints - low)
            present = np.flatnonzero(counts)
            distinct = present + low
            return np.repeat(distinct.astype(np.float64), counts[present]), distinct
        ordered = np.sort(ints)
        return ordered.astype(np.float64), _distinct(ordered)
    if not pa.types.is_floating(array.type):  # decimals
        array = array.cast(pa.float64())
    # Nulls come out as NaN, so one mask finds both kinds of missing value.
    values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    finite = np.isfinite(values)
    if not finite.all():
        nan_count = int(np.count_nonzero(np.isnan(values)))
        column.inf_count = len(values) - int(np.count_nonzero(finite)) - nan_count
        column.null_count = nan_count
        column.count = len(values) - nan_count
        values = values[finite]
    if not values.flags.writeable:  # a zero-copy view of Arrow's buffer
        values = values.copy()
    # Values already in order (batch scoring sorts its outputs as it writes them) are not
    # sorted again: the check is one pass, a sort of sorted floats costs a full sort.
    if len(values) > 1 and not bool(np.all(values[1:] >= values[:-1])):
        values.sort()
    return values, _distinct(values)


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array; a float -0.0 becomes 0.0 so both hash alike."""
    if len(ordered) == 0:
        return ordered
    new = np.empty(len(ordered), dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    unique = ordered if new.all() else ordered[new]
    if unique.dtype.kind == "f":
        zero = int(np.searchsorted(unique, 0.0))
        if zero < len(unique) and unique[zero] == 0.0:
            unique[zero] = 0.0
    return unique


def _histogram(ordered: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    """Counts per bin [e_i, e_i+1), the last bin closed, from sorted values."""
    below = np.searchsorted(ordered, edges, side="left")
    last = int(np.searchsorted(ordered, edges[-1], side="right"))
    counts = np.diff(below)
    counts[-1] += last - below[-1]
    return {
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "underflow": int(below[0]),
        "overflow": len(ordered) - last,
    }


def _boolean(column: ColumnProfile, array: pa.ChunkedArray) -> None:
    true = int(pc.sum(array).as_py() or 0)
    false = column.count - true
    column.sketch.frequent = FrequentItems()
    column.sketch.frequent.update([True, False], np.array([true, false]))
    if column.count:
        column.min, column.max = false == 0, true > 0
        column.mean = true / column.count
        column.sketch.m2 = column.count * column.mean * (1 - column.mean)


def _categorical(column: ColumnProfile, array: pa.ChunkedArray) -> None:
    counted = pc.value_counts(array)
    values, counts = counted.field("values"), counted.field("counts")
    if values.null_count:
        present = values.is_valid()
        values, counts = values.filter(present), counts.filter(present)
    column.sketch.frequent = FrequentItems()
    column.sketch.frequent.update(values, counts.to_numpy())
    column.sketch.distinct = DistinctSketch()
    column.sketch.distinct.update(hash_strings(values.to_numpy(zero_copy_only=False)))
    if len(values):
        column.min, column.max = (v.as_py() for v in pc.min_max(values).values())


def _temporal(column: ColumnProfile, array: pa.ChunkedArray) -> None:
    column.sketch.distinct = DistinctSketch()
    if column.count == 0:
        return
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        # In UTC, so that the text of every value has the same offset and sorts like time.
        array = array.cast(pa.timestamp(array.type.unit, tz="UTC"))
    low, high = pc.min_max(array).values()
    column.min, column.max = low.cast(pa.string()).as_py(), high.cast(pa.string()).as_py()
    physical = array.cast(pa.int64() if array.type.bit_width == 64 else pa.int32())
    ticks = physical.drop_null().to_numpy().astype(np.int64)
    column.sketch.distinct.update(hash_uint64(np.unique(ticks)))


# --- merging ------------------------------------------------------------------------------------


def _merge_columns(a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
    """The profile of a column's two parts; only the sketches' derived values are estimated."""
    sketch = ColumnSketch()
    merged = replace(
        a,
        count=a.count + b.count,
        null_count=a.null_count + b.null_count,
        inf_count=a.inf_count + b.inf_count,
        min=_pick(min, a.min, b.min),
        max=_pick(max, a.max, b.max),
        quantiles=dict(a.quantiles),
        histogram=_merge_histograms(a, b),
        top=list(a.top),
        sketch=sketch,
    )
    # Chan, Golub and LeVeque's pairwise update of the mean and the sum of squares.
    na, nb = a.count - a.inf_count, b.count - b.inf_count
    if a.mean is None or b.mean is None:
        merged.mean = a.mean if b.mean is None else b.mean
        sketch.m2 = a.sketch.m2 if b.mean is None else b.sketch.m2
    else:
        delta = b.mean - a.mean
        merged.mean = a.mean + delta * nb / (na + nb)
        sketch.m2 = a.sketch.m2 + b.sketch.m2 + delta * delta * na * nb / (na + nb)
    for attr in ("quantiles", "distinct", "frequent"):
        mine, theirs = getattr(a.sketch, attr), getattr(b.sketch, attr)
        if mine is not None and theirs is not None:
            mine = mine.copy()
            mine.merge(theirs)
        setattr(sketch, attr, mine if mine is not None else theirs)
    return _finish(merged)


def _pick(choose: Any, x: Any, y: Any) -> Any:
    if x is None or y is None:
        return x if y is None else y
    return choose(x, y)


def _merge_histograms(a: ColumnProfile, b: ColumnProfile) -> dict[str, Any] | None:
    ha, hb = a.histogram, b.histogram
    if ha is None or hb is None:
        return ha if hb is None else hb
    if ha["edges"] != hb["edges"]:
        raise InvalidInput(
            f"Column {a.name!r} has histograms on different edges ({ha['edges'][0]} .. "
            f"{ha['edges'][-1]} and {hb['edges'][0]} .. {hb['edges'][-1]}, "
            f"{len(ha['counts'])} and {len(hb['counts'])} bins), which cannot be added. "
            "Profile the new part with profile_table(part, edges=old_profile.edges())."
        )
    return {
        "edges": ha["edges"],
        "counts": [x + y for x, y in zip(ha["counts"], hb["counts"], strict=True)],
        "underflow": ha["underflow"] + hb["underflow"],
        "overflow": ha["overflow"] + hb["overflow"],
    }


def _finish(column: ColumnProfile) -> ColumnProfile:
    """Fill the values derived from the merge state: std, quantiles, distinct, top."""
    sketch, finite = column.sketch, column.count - column.inf_count
    column.std = (
        math.sqrt(sketch.m2 / (finite - 1)) if column.mean is not None and finite > 1 else None
    )
    if sketch.quantiles is not None:
        ranks = sketch.quantiles.quantiles(list(QUANTILES.values()))
        column.quantiles = dict(zip(QUANTILES, ranks, strict=False))
    if sketch.distinct is not None:
        column.distinct_approx = round(sketch.distinct.estimate())
    if sketch.frequent is not None:
        column.top = [(v, c) for v, c in sketch.frequent.top(TOP) if c > 0]
        if column.kind == "boolean":
            column.distinct_approx = len(column.top)
    return column
