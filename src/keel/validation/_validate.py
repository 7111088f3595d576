"""``validate(data, schema)``: run every check, build the report, and keep it on record."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import InvalidInput

from ._checks import Check, Context, Dtype, InRange, InSet, Matches, NotNull, Outcome, RowCount
from ._data import Subject, load_table
from ._report import CheckResult, ValidationReport
from ._scans import Scans
from ._schema import Schema

__all__ = ["as_schema", "validate"]

EXAMPLES = 3
# Checks that only read the table through Arrow and NumPy, which release the GIL: on a
# large table they run in threads. The others (user functions, dataset and profile
# look-ups through the store) stay in the calling thread.
_THREADED = (Dtype, InRange, InSet, Matches, NotNull)
_THREADED_ROWS = 100_000  # below this, handing checks to threads costs more than it saves


def as_schema(schema: Schema | str | Path | dict[str, Any]) -> Schema:
    """A :class:`Schema` from a schema, a YAML file path, or the YAML structure as a dict."""
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, str | Path):
        return Schema.load(schema)
    if isinstance(schema, dict):
        return Schema.from_dict(schema)
    raise InvalidInput(
        f"schema must be a Schema, the path of a schema YAML file or a dict; got "
        f"{type(schema).__name__}. Propose one with keel.infer_schema(data)."
    )


def validate(
    data: Any,
    schema: Schema | str | Path | dict[str, Any],
    *,
    record: bool | None = None,
    now: datetime | None = None,
    store: Any = None,
    owner: tuple[str, str] | None = None,
) -> ValidationReport:
    """Check ``data`` against ``schema`` and return a :class:`ValidationReport`.

    ``data`` is a pandas or polars DataFrame, an Arrow table, a dataset reference such as
    ``credit:v3``, or a Parquet/CSV/JSON-lines path. ``schema`` is a :class:`Schema`, a YAML
    path or a dict. Checks of severity ``error`` decide ``report.passed``.

    ``record``: keep the report in the store, linked to what was validated. By default a
    report is recorded when ``data`` is a dataset version (linked to it) or when a run is
    active (linked to the run); a DataFrame outside a run is only checked. ``store``: the
    store that holds referenced datasets and records (the configured project's by default).
    ``owner``: record the report against this ``(kind, id)`` instead, e.g. the pipeline
    step run or deployment that validated the data.

    Example::

        report = keel.validate("credit:v3", "schemas/credit.yaml")
        if not report.passed:
            print(report)
    """
    started = time.perf_counter()
    schema = as_schema(schema)
    subject = load_table(data, purpose="validate", store=store)
    table = subject.table
    ctx = Context(now, store, scans=Scans(subject.learnt))
    checks = schema.all_checks()
    if table.num_rows == 0 and not any(isinstance(c, RowCount) for c in checks):
        checks.insert(0, RowCount(min=1))  # an empty table is a failure unless allowed
    outcomes = _run_checks(checks, table, ctx)
    results = [
        _result(check, outcome, table) for check, outcome in zip(checks, outcomes, strict=True)
    ]
    _mask_personal(results, schema, table)
    report = ValidationReport(
        subject=subject.label,
        rows=table.num_rows,
        columns=table.num_columns,
        results=results,
        schema=schema.name,
        subject_kind=subject.kind,
        subject_id=subject.id,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    if record or (record is None and (owner is not None or _has_owner(subject))):
        from ._records import record_report

        record_report(report, schema, subject, store=store, owner=owner)
    return report


def _run_checks(checks: list[Check], table: pa.Table, ctx: Context) -> list[Outcome]:
    """Every check's outcome, in order; see ``_THREADED``."""
    workers = min(os.cpu_count() or 1, 8)
    if table.num_rows < _THREADED_ROWS or workers < 2:
        return [check.run(table, ctx) for check in checks]
    threaded = [i for i, check in enumerate(checks) if isinstance(check, _THREADED)]
    # the costliest first: the pool runs in submission order, and a hashing check left
    # for last would keep one worker busy while the others idle
    threaded.sort(key=lambda i: -_cost(checks[i], table))
    with ThreadPoolExecutor(workers, thread_name_prefix="keel-validate") as pool:
        futures = {i: pool.submit(checks[i].run, table, ctx) for i in threaded}
        return [
            futures[i].result() if i in futures else check.run(table, ctx)
            for i, check in enumerate(checks)
        ]


def _cost(check: Check, table: pa.Table) -> int:
    """A rough rank of what ``check`` costs per row: hashing or matching text (an allowed
    set or a pattern over a string column) most, a hash of numbers next, one pass over
    numbers (a range) after, reading metadata (dtype, nulls) least."""
    if check.column is None or check.column not in table.column_names:
        return 0
    type_ = table.schema.field(check.column).type
    text = pa.types.is_string(type_) or pa.types.is_large_string(type_)
    if isinstance(check, InSet | Matches):
        return 3 if text else 2
    return 1 if isinstance(check, InRange) else 0


def _has_owner(subject: Subject) -> bool:
    if subject.kind == "dataset_version":
        return True
    from keel._context import active_run

    return active_run() is not None


def _result(check: Check, outcome: Outcome, table: pa.Table) -> CheckResult:
    rows = table.num_rows
    share = None
    if outcome.failing is not None:
        share = outcome.failing / rows if rows else 0.0
    return CheckResult(
        name=check.name,
        kind=check.kind,
        column=check.column,
        severity=check.severity,
        passed=outcome.passed,
        description=check.describe(),
        failing_rows=outcome.failing,
        failing_share=share,
        observed=outcome.observed,
        message=outcome.message,
        examples=_examples(outcome.mask, table),
    )


def _examples(mask: Any, table: pa.Table) -> list[dict[str, Any]]:
    if mask is None:
        return []
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks() if mask.num_chunks != 1 else mask.chunk(0)
    indices = pc.indices_nonzero(mask)[:EXAMPLES].to_pylist() if len(mask) else []
    # one-row slices, not Table.take: take concatenates the chunks of every string column
    rows = [row for i in indices for row in table.slice(i, 1).to_pylist()]
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _mask_personal(results: list[CheckResult], schema: Schema, table: pa.Table) -> None:
    """Mask personal data in example rows and observed values before anyone sees them.

    A column is personal when its name suggests it (``email``, ``date_of_birth``), when the
    schema requires it hashed, or when one of its example values looks like personal data.
    Its values in examples and its observed ``min``, ``max``, ``latest`` and ``unexpected``
    are masked; statistics such as a mean or a count are not values and stay.
    """
    from ._pii import _name_suggests_personal, mask, scan_pii

    # by name alone first: what scan_pii says of the names (1 ms for 25 columns, as a table)
    kinds = {
        name: "name_suggests_personal"
        for name in table.column_names
        if _name_suggests_personal(name)
    }
    rows = [row for r in results for row in r.examples]
    if rows:
        examples = pa.Table.from_pylist([{k: _text(v) for k, v in row.items()} for row in rows])
        kinds.update({f.column: f.kind for f in scan_pii(examples, min_share=0.0)})
    for name in schema.policy.require_hashed:
        kinds.setdefault(name, "name_suggests_personal")
    if not kinds:
        return
    for row in rows:
        for column, kind in kinds.items():
            if row.get(column) is not None:
                row[column] = mask(str(row[column]), kind)
    for r in results:
        kind = kinds.get(r.column or "")
        if kind is None:
            continue
        for key in ("min", "max", "latest"):
            if r.observed.get(key) is not None:
                r.observed[key] = mask(str(r.observed[key]), kind)
        if r.observed.get("unexpected"):
            r.observed["unexpected"] = [mask(str(v), kind) for v in r.observed["unexpected"]]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
