"""Data drift of a table against a reference: a verdict per column and for the dataset."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

from keel.errors import InvalidInput, did_you_mean
from keel.monitoring._choice import choose_method
from keel.monitoring._columns import TableColumns
from keel.monitoring._reference import Reference, ReferenceColumn, read_side, threads
from keel.monitoring._stattests import METHODS, run_method

__all__ = ["ColumnDrift", "DriftReport", "drift"]

Status = Literal["tested", "missing", "new", "empty", "untested", "type_changed"]


@dataclass(frozen=True)
class ColumnDrift:
    """The drift result of one column.

    ``status`` is ``tested`` when a test ran; otherwise it says why not, as a finding:
    ``missing`` (in the reference, not in the current data), ``new`` (the other way round),
    ``empty`` (no values on one side), ``untested`` (text, dates, other types) or
    ``type_changed`` (numeric in the reference, not in the current data).
    """

    name: str
    kind: str
    status: Status
    method: str | None = None
    score: float | None = None
    threshold: float | None = None
    drifted: bool = False
    reference_size: int | None = None
    current_size: int | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftReport:
    """Drift of every column and the dataset's verdict.

    The dataset has drifted when at least ``share_of_columns`` of the tested columns have
    (Evidently's ``drift_share`` rule). Columns that were not tested are findings in
    :attr:`findings`; they count for neither side of the share.
    """

    columns: list[ColumnDrift]
    share_of_columns: float
    drifted_share: float
    drifted: bool
    reference_rows: int
    current_rows: int

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted."""
        return [c.name for c in self.columns if c.drifted]

    @property
    def findings(self) -> list[ColumnDrift]:
        """Columns that were not tested (missing, new, empty, untested, type changed)."""
        return [c for c in self.columns if c.status != "tested"]

    def __getitem__(self, name: str) -> ColumnDrift:
        for column in self.columns:
            if column.name == name:
                return column
        names = [c.name for c in self.columns]
        raise KeyError(f"No column {name!r} in this drift report{did_you_mean(name, names)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a NaN score becomes None)."""
        data = asdict(self)
        for column in data["columns"]:
            score = column["score"]
            if isinstance(score, float) and not math.isfinite(score):
                column["score"] = None
        data["drifted_columns"] = self.drifted_columns
        return data

    def to_json(self) -> str:
        """The report as JSON text."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY).decode()


def drift(
    reference: Any,
    current: Any,
    *,
    columns: list[str] | None = None,
    method: str | dict[str, str] = "auto",
    threshold: float | dict[str, float] | None = None,
    share_of_columns: float = 0.5,
) -> DriftReport:
    """Test every column of ``current`` for drift from ``reference``.

    Args:
        reference: a :class:`Reference`, or a pandas DataFrame / pyarrow Table, summarised
            as ``Reference.from_data(table)`` does, so a table and its stored reference
            give the same report. For exact tests on a large reference, pass
            ``Reference.from_data(table, max_points=None)``.
        current: the data to test: a pandas DataFrame or pyarrow Table.
        columns: the columns to test (default: every column of the reference).
        method: ``"auto"`` (chosen per column by type and sample size, as Evidently's
            default preset does), a method for every column (``ks``, ``chisquare``, ``z``,
            ``wasserstein``, ``jensenshannon``, ``psi``), or a dict of column -> method
            (other columns automatic).
        threshold: the threshold for every column, a dict of column -> threshold, or None
            for each method's default.
        share_of_columns: share of tested columns that must drift for the dataset to
            count as drifted (Evidently's default 0.5).

    Returns:
        A :class:`DriftReport`. New, missing, empty and untested columns are findings in
        it, not errors.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from keel.monitoring import drift
        >>> rng = np.random.default_rng(0)
        >>> ref = pd.DataFrame({"x": rng.normal(0, 1, 5000)})
        >>> drift(ref, pd.DataFrame({"x": rng.normal(1, 1, 5000)})).drifted_columns
        ['x']
    """
    if (
        isinstance(share_of_columns, bool)
        or not isinstance(share_of_columns, (int, float))
        or not 0 < share_of_columns <= 1
    ):
        raise InvalidInput(
            "share_of_columns must be a number above 0 and at most 1 (the share of tested "
            f"columns that must drift, e.g. 0.5). Got {share_of_columns!r} instead."
        )
    if not isinstance(reference, Reference):
        reference = Reference.from_data(reference, columns=columns)
    table = TableColumns(current, "current")
    names = _columns_to_test(reference, columns)
    methods = {name: _method_for(name, method) for name in names}
    limits = {name: _threshold_for(name, threshold) for name in names}
    for name in names:
        _check_kind(reference.columns[name], methods[name])
    present = set(table.names)

    def one(name: str) -> ColumnDrift:
        ref = reference.columns[name]
        return _column(ref, table, name in present, methods[name], limits[name])

    with ThreadPoolExecutor(threads(len(names))) as pool:
        results = list(pool.map(one, names))
    if columns is None:
        results += [
            ColumnDrift(n, "unknown", "new", message="new column: not in the reference")
            for n in table.names
            if n not in reference.columns
        ]
    tested = [r for r in results if r.status == "tested"]
    share = sum(r.drifted for r in tested) / len(tested) if tested else 0.0
    return DriftReport(
        results,
        float(share_of_columns),
        share,
        bool(tested) and share >= share_of_columns,
        reference.rows,
        len(table),
    )


def _columns_to_test(reference: Reference, columns: list[str] | None) -> list[str]:
    known = list(reference.columns)
    if columns is None:
        return known
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput(
            f"columns must be a list of column names, e.g. ['age', 'income']. Got {columns!r}."
        )
    for name in columns:
        if name not in reference.columns:
            raise InvalidInput(
                f"Column {name!r} is not in the reference{did_you_mean(name, known)}. "
                f"Its columns are {known[:20]}."
            )
    return list(columns)


def _method_for(name: str, method: str | dict[str, str]) -> str:
    chosen = method.get(name, "auto") if isinstance(method, dict) else method
    if chosen != "auto" and chosen not in METHODS:
        options = ["auto", *METHODS]
        raise InvalidInput(
            f"Unknown drift method {chosen!r}{did_you_mean(str(chosen), options)} "
            f"Choose one of {options}."
        )
    return chosen


def _threshold_for(name: str, threshold: float | dict[str, float] | None) -> float | None:
    value = threshold.get(name) if isinstance(threshold, dict) else threshold
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InvalidInput(
            f"The drift threshold for column {name!r} must be a number >= 0 (a p-value for "
            f"ks, chisquare and z; a distance otherwise). Got {value!r} instead."
        )
    return float(value)


def _check_kind(ref: ReferenceColumn, method: str) -> None:
    if method == "auto" or ref.side is None:
        return
    allowed = METHODS[method].kinds
    if ref.kind not in allowed:
        raise InvalidInput(
            f"Method {method!r} tests {' and '.join(allowed)} columns only, and column "
            f"{ref.name!r} is {ref.kind}. Choose a method per column with "
            f"method={{{ref.name!r}: 'jensenshannon'}} (or 'auto')."
        )


def _column(
    ref: ReferenceColumn, table: TableColumns, present: bool, method: str, limit: float | None
) -> ColumnDrift:
    name, kind = ref.name, ref.kind
    if ref.side is None:
        return ColumnDrift(name, kind, "untested", message=f"not tested: {ref.reason}")
    if not present:
        return ColumnDrift(
            name, kind, "missing", reference_size=ref.side.n, message="missing from current data"
        )
    cur = read_side(table.column(name), kind)
    if cur is None:
        return ColumnDrift(
            name,
            kind,
            "type_changed",
            reference_size=ref.side.n,
            message=f"numeric in the reference, {table.column(name).dtype!s} in current data",
        )
    sizes = {"reference_size": ref.side.n, "current_size": cur.n}
    if ref.side.n == 0 or cur.n == 0:
        where = "reference" if ref.side.n == 0 else "current data"
        return ColumnDrift(name, kind, "empty", message=f"no values in the {where}", **sizes)
    chosen = choose_method(ref.side, cur) if method == "auto" else method
    result = run_method(METHODS[chosen], ref.side, cur, limit)
    verdict = "drift" if result.drifted else "no drift"
    return ColumnDrift(
        name,
        kind,
        "tested",
        chosen,
        result.score,
        result.threshold,
        result.drifted,
        message=f"{verdict}: {METHODS[chosen].title} {result.score:.4g} "
        f"(threshold {result.threshold:g})",
        details=result.details,
        **sizes,
    )
