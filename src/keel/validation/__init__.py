"""Data validation: schemas inferred from data, checks, reports, PII scanning.

Example::

    import keel

    schema = keel.infer_schema("credit:v1")        # a proposal: edit it, keep it in git
    schema.save("schemas/credit.yaml")
    report = keel.validate("credit:v2", "schemas/credit.yaml")
    report.passed, report.errors

Names load on first use: the checks pull in NumPy and pyarrow, which a server listing
reports never needs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from keel._lazy import lazy_names

if TYPE_CHECKING:
    from . import checks
    from ._checks import CHECKS, Check, Context, Outcome
    from ._data import Subject, load_table
    from ._distance import binned_counts, distance
    from ._infer import infer_schema
    from ._records import ReportRecords, get_report, list_reports
    from ._report import CheckResult, ValidationReport
    from ._schema import Policy, Schema
    from ._skew import check_skew
    from ._validate import as_schema, validate

_LAZY = {
    "CHECKS": "._checks",
    "Check": "._checks",
    "Context": "._checks",
    "Outcome": "._checks",
    "Subject": "._data",
    "load_table": "._data",
    "binned_counts": "._distance",
    "distance": "._distance",
    "infer_schema": "._infer",
    "ReportRecords": "._records",
    "get_report": "._records",
    "list_reports": "._records",
    "CheckResult": "._report",
    "ValidationReport": "._report",
    "Policy": "._schema",
    "Schema": "._schema",
    "check_skew": "._skew",
    "as_schema": "._validate",
    "validate": "._validate",
}

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "Context",
    "Outcome",
    "Policy",
    "ReportRecords",
    "Schema",
    "Subject",
    "ValidationReport",
    "as_schema",
    "binned_counts",
    "check_skew",
    "checks",
    "distance",
    "get_report",
    "infer_schema",
    "list_reports",
    "load_table",
    "validate",
]


_names = lazy_names(__name__, _LAZY)


def __getattr__(name: str) -> Any:
    if name == "checks":  # the module of check builders
        return import_module(".checks", __name__)
    return _names(name)


def __dir__() -> list[str]:
    return sorted(__all__)
