"""The reference side of drift tests, summarised once and stored as JSON or bytes.

A :class:`Reference` keeps, for each column, what the tests need and no more: for a
numeric column its exact count, mean, std, extremes and number of distinct values, and a
sorted weighted sample of at most ``max_points`` points (every distinct value with its
count when there are no more than that; else equal-count cells, see
:mod:`keel.monitoring._sides`); for a categorical column its value counts (at most
``max_categories``). Each evaluation then costs work proportional to the current window.

What the summary changes, when a numeric column has more than ``max_points`` distinct
values: the reference CDF is off by at most ``1 / max_points`` (0.02 % at 4,096), so a
Kolmogorov-Smirnov statistic is too; a normalised Wasserstein score is off by at most the
column's ``wasserstein_error / std``, measured when the reference is built and reported in
each result's ``details["max_error"]``; Sturges' bins for Jensen-Shannon and PSI are counted
to within one cell. Chi-square, the Z-test and every test on a column with few distinct
values are exact, and so is everything on references of up to ``max_points`` rows.
"""

from __future__ import annotations

import base64
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from keel.errors import InvalidInput, did_you_mean
from keel.monitoring._columns import (
    Kind,
    TableColumns,
    categorical_counts,
    finite_values,
    infer_kind,
)
from keel.monitoring._sides import CategoricalSide, NumericSide, categorical_side, numeric_side

__all__ = ["Reference", "ReferenceColumn", "read_side", "threads"]

FORMAT = "keel.drift-reference/1"
MAX_POINTS = 4096
MAX_CATEGORIES = 10_000


def threads(n: int) -> int:
    """Threads for ``n`` columns: NumPy sorts and Arrow counts release the GIL."""
    import os

    return max(1, min(4, os.cpu_count() or 1, n))


def read_side(
    column: Any, kind: Kind, max_points: int | None = None, max_categories: int | None = None
) -> NumericSide | CategoricalSide | None:
    """The column read as ``kind`` (None when its values are not of that kind)."""
    if kind == "numeric":
        values = finite_values(column)
        return None if values is None else numeric_side(values, max_points)
    keys, counts = categorical_counts(column)
    return categorical_side(keys, counts, max_categories)


@dataclass(frozen=True)
class ReferenceColumn:
    """One column of a :class:`Reference`: its kind, why, and its summary (None if untested)."""

    name: str
    kind: Kind
    reason: str
    side: NumericSide | CategoricalSide | None


class Reference:
    """Reference distributions of a table's columns, for drift tests against later data.

    Build it once with :meth:`from_data`, store :meth:`to_bytes` (or :meth:`to_json`), and
    pass it to :func:`keel.monitoring.drift` in place of the reference table.
    """

    def __init__(self, columns: list[ReferenceColumn], rows: int, max_points: int | None) -> None:
        self.columns = {c.name: c for c in columns}
        self.rows = rows
        self.max_points = max_points

    def __repr__(self) -> str:
        size = f"<{len(self.columns)} columns>"
        return f"Reference({size}, rows={self.rows}, max_points={self.max_points})"

    @classmethod
    def from_data(
        cls,
        data: Any,
        *,
        columns: list[str] | None = None,
        max_points: int | None = MAX_POINTS,
        max_categories: int = MAX_CATEGORIES,
    ) -> Reference:
        """Summarise a pandas DataFrame or pyarrow Table.

        Args:
            data: the reference table (for example the model's training data).
            columns: the columns to keep (default: all).
            max_points: points kept per numeric column (None keeps every distinct value:
                exact, and as large as the data).
            max_categories: categories kept per categorical column.
        """
        if max_points is not None and max_points < 1000:
            raise InvalidInput(
                f"max_points must be at least 1000 (so samples of up to 1000 rows, tested "
                f"with Kolmogorov-Smirnov, stay exact). Got {max_points} instead."
            )
        table = TableColumns(data, "reference")
        names = _select(table.names, columns, "reference")

        def one(name: str) -> ReferenceColumn:
            column = table.column(name)
            kind, reason = infer_kind(column)
            side = None
            if kind in ("numeric", "categorical"):
                side = read_side(column, kind, max_points, max_categories)
            return ReferenceColumn(name, kind, reason, side)

        with ThreadPoolExecutor(threads(len(names))) as pool:
            summaries = list(pool.map(one, names))
        return cls(summaries, len(table), max_points)

    # Storage

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; numeric samples are base64 little-endian arrays."""
        return {
            "format": FORMAT,
            "rows": self.rows,
            "max_points": self.max_points,
            "columns": [
                {"name": c.name, "kind": c.kind, "reason": c.reason, "side": _side_dict(c.side)}
                for c in self.columns.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        """Read what :meth:`to_dict` wrote."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise InvalidInput(
                f"This is not a keel drift reference: its format is {found!r}, expected "
                f"{FORMAT!r}. Build one with Reference.from_data(table)."
            )
        try:
            columns = [
                ReferenceColumn(c["name"], c["kind"], c["reason"], _side_from(c["side"]))
                for c in data["columns"]
            ]
            return cls(columns, int(data["rows"]), data["max_points"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"The drift reference is damaged ({type(exc).__name__}: {exc}); build it "
                "again with Reference.from_data(table)."
            ) from exc

    def to_json(self) -> str:
        """The reference as JSON text."""
        return orjson.dumps(self.to_dict()).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Reference:
        """Read what :meth:`to_json` wrote."""
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"The drift reference is not valid JSON: {exc}.") from exc
        return cls.from_dict(data)

    def to_bytes(self) -> bytes:
        """The reference as zlib-compressed JSON, to store as an object."""
        return zlib.compress(orjson.dumps(self.to_dict()), 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> Reference:
        """Read what :meth:`to_bytes` wrote."""
        try:
            text = zlib.decompress(data)
        except zlib.error as exc:
            raise InvalidInput(
                f"These bytes are not a stored drift reference ({exc}); store one with "
                "Reference.to_bytes()."
            ) from exc
        return cls.from_json(text)


def _select(names: list[str], columns: list[str] | None, what: str) -> list[str]:
    if columns is None:
        return names
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput(
            f"columns must be a list of column names, e.g. ['age', 'income']. Got {columns!r}."
        )
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise InvalidInput(
            f"Column {unknown[0]!r} is not in the {what} data{did_you_mean(unknown[0], names)}. "
            f"Its columns are {names[:20]}."
        )
    return list(columns)


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _unb64(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text, validate=True), dtype=dtype).copy()


def _plain(key: Any) -> Any:
    return key.item() if isinstance(key, np.generic) else key


def _side_dict(side: NumericSide | CategoricalSide | None) -> dict[str, Any] | None:
    if side is None:
        return None
    if isinstance(side, CategoricalSide):
        return {
            "type": "categorical",
            "keys": [_plain(k) for k in side.keys],
            "counts": side.counts.tolist(),
            "other": side.other,
        }
    return {
        "type": "numeric",
        "values": _b64(side.values, "<f8"),
        "weights": _b64(side.weights, "<i8"),
        "n": side.n,
        "mean": side.mean,
        "std": side.std,
        "minimum": side.minimum,
        "maximum": side.maximum,
        "n_unique": side.n_unique,
        "exact": side.exact,
        "wasserstein_error": side.wasserstein_error,
    }


def _side_from(data: dict[str, Any] | None) -> NumericSide | CategoricalSide | None:
    if data is None:
        return None
    if data["type"] == "categorical":
        counts = np.asarray(data["counts"], dtype=np.int64)
        if len(counts) != len(data["keys"]):
            raise ValueError("categorical keys and counts differ in length")
        return CategoricalSide(list(data["keys"]), counts, int(counts.sum()), int(data["other"]))
    if data["type"] != "numeric":
        raise ValueError(f"unknown side type {data['type']!r}")
    values, weights = _unb64(data["values"], "<f8"), _unb64(data["weights"], "<i8")
    if len(values) != len(weights) or int(weights.sum()) != int(data["n"]):
        raise ValueError("numeric sample sizes do not match")
    return NumericSide(
        values.astype(np.float64),
        weights.astype(np.int64),
        n=int(data["n"]),
        mean=float(data["mean"]),
        std=float(data["std"]),
        minimum=float(data["minimum"]),
        maximum=float(data["maximum"]),
        n_unique=int(data["n_unique"]),
        exact=bool(data["exact"]),
        wasserstein_error=float(data["wasserstein_error"]),
    )
