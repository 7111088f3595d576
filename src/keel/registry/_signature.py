"""Model signatures: the input columns and output a model takes, inferred and enforced.

A signature is inferred once, from the example a model is registered with, and enforced on
every prediction. Enforcement is built for serving: the per-signature work (column order,
target dtypes) is compiled once, and a DataFrame whose columns and dtypes already match costs
only an O(columns) check; anything else is validated column by column and cast where the
cast is safe.

Casting rules (anything else is an error naming the column):

- integers of any width to a float column; integers to a wider integer column, or to a
  narrower one when every value fits;
- floats to an integer column only when every value is a whole number (JSON and pandas
  turn integers into floats easily), never when a value is missing or fractional;
- strings to a numeric or datetime column only when every value parses;
- strings and categoricals to a string column; any values to a category column;
- datetimes of another unit to the expected unit (time zones must agree);
- never booleans to numbers, nor numbers to booleans or strings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput, did_you_mean

__all__ = [
    "ColumnSpec",
    "Signature",
    "dtype_name",
    "enforce",
    "infer_signature",
    "pandas_if_polars",
    "to_frame",
]

MAX_LISTED = 20
"""Expected columns listed in an error message; longer signatures are cut short."""


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its name and normalised dtype (``int64``, ``string``, ...)."""

    name: str
    dtype: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True)
class Signature:
    """The input columns a model takes, in order, and the shape of what it returns.

    ``output`` is ``{"dtype": "int64", "shape": [None]}`` for one value per row,
    ``"shape": [None, k]`` for k values per row, plus ``"columns"`` (name and dtype of
    each) when the model returns a DataFrame.

    Example::

        >>> import numpy as np, pandas as pd
        >>> sig = infer_signature(pd.DataFrame({"age": [31]}), np.array([0.5]))
        >>> sig.inputs
        (ColumnSpec(name='age', dtype='int64'),)
        >>> sig.output
        {'dtype': 'float64', 'shape': [None]}
    """

    inputs: tuple[ColumnSpec, ...]
    output: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The input column names, in order."""
        return tuple(c.name for c in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [c.to_dict() for c in self.inputs], "output": dict(self.output)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Read a signature written by :meth:`to_dict`."""
        try:
            inputs = tuple(ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data["inputs"])
            output = dict(data.get("output") or {})
        except (KeyError, TypeError) as exc:
            raise InvalidInput(
                f"{data!r} is not a model signature. Expected "
                "{'inputs': [{'name': ..., 'dtype': ...}, ...], 'output': {...}}."
            ) from exc
        names = [c.name for c in inputs]
        if len(set(names)) != len(names):
            raise InvalidInput(f"The signature names a column twice: {names}.")
        return cls(inputs, output)

    @cached_property
    def _plan(self) -> _Plan:
        return _Plan(self.inputs)


def infer_signature(
    input_example: Any, output_example: Any = None, *, columns: Sequence[str] | None = None
) -> Signature:
    """The signature of a model that maps ``input_example`` to ``output_example``.

    Args:
        input_example: a DataFrame, a dict of columns, a list of row dicts, or a 2-D NumPy
            array (its columns are named by ``columns``, else ``x0``, ``x1``, ...).
        output_example: what the model returned for the example: an array, Series or
            DataFrame; None records no output.
        columns: names for the columns of a NumPy example.
    """
    frame = to_frame(input_example, columns=columns)
    if not frame.columns.is_unique:
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise InvalidInput(f"The input example has duplicate columns {dup}. Rename them.")
    inputs = tuple(ColumnSpec(str(name), dtype_name(col.dtype, col)) for name, col in frame.items())
    return Signature(inputs, _output_spec(output_example))


def _output_spec(output: Any) -> dict[str, Any]:
    if output is None:
        return {}
    if isinstance(output, pd.DataFrame):
        cols = [{"name": str(n), "dtype": dtype_name(c.dtype, c)} for n, c in output.items()]
        dtypes = {c["dtype"] for c in cols}
        common = dtypes.pop() if len(dtypes) == 1 else "object"
        return {"dtype": common, "shape": [None, len(cols)], "columns": cols}
    if isinstance(output, pd.Series):
        return {"dtype": dtype_name(output.dtype, output), "shape": [None]}
    if isinstance(output, list | tuple):
        output = np.asarray(output)
    if isinstance(output, np.ndarray):
        shape: list[int | None] = [None, *output.shape[1:]]
        values = output.ravel() if output.dtype == object else None
        return {"dtype": dtype_name(output.dtype, values), "shape": shape}
    return {"dtype": type(output).__name__, "shape": []}


def enforce(signature: Signature, data: Any, *, model: str | None = None) -> pd.DataFrame:
    """``data`` as a DataFrame with exactly the signature's columns, in order and types.

    Args:
        signature: what the model takes.
        data: a DataFrame, one row as a dict, a list of row dicts, a dict of columns, or a
            NumPy array with the signature's columns in order.
        model: how to name the model in error messages (``credit:4``).

    Raises:
        InvalidInput: naming every missing, unexpected and mistyped column at once.
    """
    return signature._plan.frame(data, model or "the model")


# -- dtype names ----------------------------------------------------------------------------


def dtype_name(dtype: Any, values: Any = None) -> str:
    """The normalised name of a dtype: ``int64``, ``float32``, ``bool``, ``string``,
    ``category``, ``datetime64[ns]``, ``datetime64[ns, UTC]``, ``object`` ...

    Object columns are named by what they hold (``values``): strings give ``string``.
    """
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return f"datetime64[{dtype.unit}, {dtype.tz}]"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if isinstance(dtype, pd.BooleanDtype):
        return "bool"
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        if pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype):
            return "string"
        return dtype_name(dtype.numpy_dtype)
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        numpy_dtype = getattr(dtype, "numpy_dtype", None)  # nullable Int64, Float64, ...
        return dtype_name(numpy_dtype) if numpy_dtype is not None else str(dtype)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "US":
        return "string"
    if dtype.kind == "O":
        return _object_name(values)
    return str(dtype)


def _object_name(values: Any) -> str:
    if values is None:
        return "object"
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    return {
        "string": "string",
        "empty": "string",
        "boolean": "bool",
        "integer": "int64",
        "floating": "float64",
        "mixed-integer-float": "float64",
    }.get(inferred, "object")


def _kind(name: str) -> str:
    """The family a dtype name belongs to, which decides the casts it accepts."""
    if name in ("bool", "string", "category", "object"):
        return name
    for prefix, kind in (
        ("datetime64", "datetime"),
        ("timedelta64", "timedelta"),
        ("uint", "int"),
        ("int", "int"),
        ("float", "float"),
        ("complex", "complex"),
    ):
        if name.startswith(prefix):
            return kind
    return "object"  # a dtype this version does not know: accept what comes


def _target(name: str, kind: str) -> Any:
    """The dtype enforcement casts a column to."""
    if kind == "string":
        return _string_dtype()
    if kind == "category":
        return pd.CategoricalDtype()
    if kind == "datetime":
        return pd.api.types.pandas_dtype(name)
    if kind == "object":
        return np.dtype(object)
    return np.dtype(name)


_OBJECT = np.dtype(object)
_STRING_DTYPE: list[Any] = []


def _string_dtype() -> Any:
    """The dtype pandas gives strings by default (``str`` in pandas 3, object before)."""
    if not _STRING_DTYPE:
        _STRING_DTYPE.append(pd.Series(["a"]).dtype)
    return _STRING_DTYPE[0]


# -- turning inputs into frames -------------------------------------------------------------


def pandas_if_polars(data: Any) -> Any:
    """A polars DataFrame or Series as pandas (through Arrow); anything else as it is."""
    if type(data).__module__.startswith("polars") and hasattr(data, "to_pandas"):
        return data.to_pandas()
    return data


def to_frame(data: Any, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A DataFrame from a pandas or polars DataFrame, dict (one row or columns), list of row
    dicts or array."""
    data = pandas_if_polars(data)
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, Mapping):
        if data and all(_is_column(v) for v in data.values()):
            return pd.DataFrame({str(k): v for k, v in data.items()})
        return pd.DataFrame({str(k): [v] for k, v in data.items()})
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        return pd.DataFrame.from_records(data)
    if isinstance(data, np.ndarray | list):
        array = np.asarray(data)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2:
            raise InvalidInput(
                f"Cannot read an array of shape {array.shape} as rows: give a 2-D array "
                "(rows by columns), a DataFrame or a list of row dicts."
            )
        names = list(columns) if columns is not None else [f"x{i}" for i in range(array.shape[1])]
        if len(names) != array.shape[1]:
            raise InvalidInput(
                f"The array has {array.shape[1]} columns but {len(names)} names were given: "
                f"{names}. Give one name per column."
            )
        return pd.DataFrame(array, columns=names)
    raise InvalidInput(
        f"Cannot read model input of type {type(data).__name__}. Give a pandas DataFrame, "
        "a dict (one row), a list of row dicts or a 2-D NumPy array."
    )


def _is_column(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray | pd.Series | pd.Index)


# -- enforcement ----------------------------------------------------------------------------


class _Mismatch(Exception):
    """One column cannot be cast; ``detail`` says why (shown in parentheses)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class _Plan:
    """What enforcing one signature needs, computed once per signature."""

    def __init__(self, inputs: tuple[ColumnSpec, ...]) -> None:
        self.specs = inputs
        self.names = tuple(c.name for c in inputs)
        self.name_set = frozenset(self.names)
        self.index = pd.Index(self.names)
        self.kinds = tuple(_kind(c.dtype) for c in inputs)
        self.targets = tuple(_target(c.dtype, k) for c, k in zip(inputs, self.kinds, strict=True))
        # Columns whose dtype may differ from the target without a cast.
        self.loose = any(k in ("category", "string", "object") for k in self.kinds)
        # When every column has one numeric dtype, a row of numbers becomes one 2-D block.
        numeric = {
            t for t, k in zip(self.targets, self.kinds, strict=True) if k in ("int", "float")
        }
        all_numeric = all(k in ("int", "float") for k in self.kinds)
        self.block = numeric.pop() if all_numeric and len(numeric) == 1 else None
        # The last columns Index seen equal to the signature's names. An Index is immutable,
        # so the same object needs no second comparison (callers often reuse one).
        self._seen: pd.Index | None = None

    def frame(self, data: Any, model: str) -> pd.DataFrame:
        """``data`` enforced: the fast path costs an O(columns) check on a matching frame."""
        if isinstance(data, pd.DataFrame):
            columns = data.columns
            if columns is self._seen or (
                len(columns) == len(self.names) and columns.equals(self.index)
            ):
                self._seen = columns
                dtypes = _dtypes(data)
                if dtypes == self.targets or self._loosely_equal(dtypes):
                    return data
            return self._coerce(data, model)
        if isinstance(data, Mapping) and data and not any(_is_column(v) for v in data.values()):
            return self._row(data, model)
        if isinstance(data, np.ndarray) and data.ndim in (1, 2):
            array = data.reshape(1, -1) if data.ndim == 1 else data
            if array.shape[1] != len(self.names):
                raise InvalidInput(
                    f"Input does not match the signature of {model}: the array has "
                    f"{array.shape[1]} columns, expected {len(self.names)}. "
                    f"Expected columns, in order: {self._expected()}."
                )
            return self.frame(pd.DataFrame(array, columns=self.index, copy=False), model)
        return self._coerce(to_frame(data), model)

    def block_of(self, data: Any) -> np.ndarray | None:
        """``data`` as one C-contiguous 2-D array of the signature's single numeric dtype,
        when it is an array of the signature's width whose values cast exactly; else None
        (the caller then takes :meth:`frame`, which names what is wrong)."""
        if self.block is None or not isinstance(data, np.ndarray) or data.ndim != 2:
            return None
        if data.shape[1] != len(self.names) or data.dtype.kind not in "biuf":
            return None
        if data.dtype == self.block:
            return np.ascontiguousarray(data)
        if np.can_cast(data.dtype, self.block, casting="safe"):
            return np.ascontiguousarray(data, dtype=self.block)
        return None

    def _loosely_equal(self, dtypes: tuple[Any, ...]) -> bool:
        if not self.loose:
            return False
        for i, (actual, target) in enumerate(zip(dtypes, self.targets, strict=True)):
            if actual == target:
                continue
            kind = self.kinds[i]
            if kind == "object":
                continue
            if kind == "category" and isinstance(actual, pd.CategoricalDtype):
                continue
            if kind == "string" and isinstance(actual, pd.StringDtype):
                continue
            return False
        return True

    def _row(self, row: Mapping[str, Any], model: str) -> pd.DataFrame:
        """One row as a dict: numbers go straight into one block when the signature allows."""
        if self.block is not None and row.keys() == self.name_set:
            values = [row[n] for n in self.names]
            if all(_plain_number(v, self.block.kind) for v in values):
                try:
                    array = np.array([values], dtype=self.block)
                except (OverflowError, ValueError):
                    pass  # out of range: the slow path names the column
                else:
                    return pd.DataFrame(array, columns=self.index, copy=False)
        return self._coerce(to_frame(row), model)

    def _coerce(self, data: pd.DataFrame, model: str) -> pd.DataFrame:
        """Validate every column, cast what can be cast safely, report all the rest."""
        given = [str(c) for c in data.columns]
        if given != list(data.columns):
            data = data.set_axis(given, axis=1)
        problems: list[str] = []
        seen = set(given)
        duplicated = sorted(name for name, n in Counter(given).items() if n > 1)
        if duplicated:
            problems.append(f"duplicate column{_s(duplicated)} {_quote(duplicated)}")
        missing = [n for n in self.names if n not in seen]
        unexpected = [g for g in dict.fromkeys(given) if g not in self.name_set]
        if missing:
            problems.append(f"missing column{_s(missing)} {_quote(missing)}")
        if unexpected:
            guesses = missing or list(self.names)
            listed = ", ".join(f"{u!r}{_guess(u, guesses)}" for u in unexpected)
            problems.append(f"unexpected column{_s(unexpected)} {listed}")
        columns: dict[str, Any] = {}
        changed = given != list(self.names)
        for spec, kind, target in zip(self.specs, self.kinds, self.targets, strict=True):
            if spec.name not in seen or spec.name in duplicated:
                continue
            column = data[spec.name]
            try:
                cast = _cast(column, kind, target)
            except _Mismatch as exc:
                actual = dtype_name(column.dtype, column)
                detail = f" ({exc.detail})" if exc.detail else ""
                problems.append(
                    f"column {spec.name!r} has type {actual}, expected {spec.dtype}{detail}"
                )
                continue
            changed = changed or cast is not column
            columns[spec.name] = cast
        if problems:
            raise InvalidInput(
                f"Input does not match the signature of {model}: {'; '.join(problems)}. "
                f"Expected columns: {self._expected()}."
            )
        if not changed:
            return data
        return pd.DataFrame(columns, index=data.index, copy=False)

    def _expected(self) -> str:
        listed = ", ".join(f"{c.name!r} {c.dtype}" for c in self.specs[:MAX_LISTED])
        more = len(self.specs) - MAX_LISTED
        return listed + (f" and {more} more" if more > 0 else "")


def _dtypes(frame: pd.DataFrame) -> tuple[Any, ...]:
    # frame.dtypes builds a Series (tens of microseconds); the block manager's array of
    # dtypes is what it is built from, and costs about a microsecond.
    try:
        return tuple(frame._mgr.get_dtypes())
    except AttributeError:  # pragma: no cover - a pandas without the block manager
        return tuple(frame.dtypes)


def _plain_number(value: Any, kind: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    if kind == "f":
        return isinstance(value, int | float | np.integer | np.floating)
    return isinstance(value, int | np.integer)


def _s(items: Sequence[Any]) -> str:
    return "s" if len(items) > 1 else ""


def _quote(items: Sequence[str]) -> str:
    return ", ".join(repr(i) for i in items)


def _guess(name: str, choices: Sequence[str]) -> str:
    hint = did_you_mean(name, list(choices))  # " Did you mean 'x'?"
    return f" ({hint.strip()[0].lower()}{hint.strip()[1:]})" if hint else ""


# -- casting one column ---------------------------------------------------------------------


def _cast(column: pd.Series, kind: str, target: Any) -> pd.Series:
    """``column`` cast to ``target``, itself when nothing changes; _Mismatch when unsafe."""
    dtype = column.dtype
    if kind == "object":
        return column
    if kind == "category":
        return column if isinstance(dtype, pd.CategoricalDtype) else column.astype("category")
    if kind == "string":
        if isinstance(dtype, pd.StringDtype):
            return column
        if _is_strings(column):
            return column.astype(target)
        raise _Mismatch()
    if kind == "bool":
        if dtype == np.bool_:
            return column
        if isinstance(dtype, pd.BooleanDtype) or (dtype == _OBJECT and _infer(column) == "boolean"):
            if column.isna().any():
                raise _Mismatch("missing values")
            return column.astype(bool)
        raise _Mismatch()
    if kind in ("int", "float", "complex"):
        return _cast_number(column, kind, target)
    if kind == "datetime":
        return _cast_datetime(column, target)
    if kind == "timedelta":
        if pd.api.types.is_timedelta64_dtype(dtype):
            return column if dtype == target else column.astype(target)
        raise _Mismatch()
    return column  # pragma: no cover - every kind is handled above


def _cast_number(column: pd.Series, kind: str, target: np.dtype) -> pd.Series:
    dtype = column.dtype
    if dtype == target:
        return column
    if pd.api.types.is_bool_dtype(dtype):
        raise _Mismatch()
    if _is_strings(column):
        column = _parse_numbers(column)
        dtype = column.dtype
    if not pd.api.types.is_numeric_dtype(dtype):
        raise _Mismatch()
    if kind != "int":
        if column.hasnans and isinstance(dtype, pd.api.extensions.ExtensionDtype):
            return pd.Series(column.to_numpy(dtype=target, na_value=np.nan), index=column.index)
        return column.astype(target)
    if column.hasnans:
        raise _Mismatch("missing values")
    values = column.to_numpy()
    if values.dtype.kind == "f":
        fractional = values[values != np.floor(values)] if len(values) else values
        if len(fractional) or not np.isfinite(values).all():
            bad = fractional[0] if len(fractional) else values[~np.isfinite(values)][0]
            raise _Mismatch(f"value {bad.item()!r} is not a whole number")
    if len(values):
        info = np.iinfo(target)
        low, high = values.min(), values.max()
        if low < info.min or high > info.max:
            raise _Mismatch(f"value {(low if low < info.min else high).item()!r} does not fit")
    return column.astype(target)


def _parse_numbers(column: pd.Series) -> pd.Series:
    parsed = pd.to_numeric(column, errors="coerce")
    failed = parsed.isna() & column.notna()
    if failed.any():
        raise _Mismatch(f"cannot cast {column[failed].iloc[0]!r}")
    return parsed


def _cast_datetime(column: pd.Series, target: Any) -> pd.Series:
    dtype = column.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if dtype == target:
            return column
        if (getattr(dtype, "tz", None) is None) != (getattr(target, "tz", None) is None):
            raise _Mismatch("time zones differ")
        return column.astype(target)
    if _is_strings(column):
        try:
            parsed = pd.to_datetime(column, format="ISO8601")
        except (ValueError, TypeError) as exc:
            bad = next((v for v in column if _unparsable_date(v)), None)
            raise _Mismatch(f"cannot cast {bad!r}" if bad is not None else str(exc)) from exc
        return _cast_datetime(parsed, target)
    raise _Mismatch()


def _unparsable_date(value: Any) -> bool:
    try:
        pd.to_datetime(value, format="ISO8601")
    except (ValueError, TypeError):
        return True
    return False


def _is_strings(column: pd.Series) -> bool:
    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.CategoricalDtype):
        return _infer(column.cat.categories) in ("string", "empty")
    return dtype == _OBJECT and _infer(column) in ("string", "empty")


def _infer(values: Any) -> str:
    return pd.api.types.infer_dtype(values, skipna=True)
