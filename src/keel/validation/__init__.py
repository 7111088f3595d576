"""Data validation: schemas inferred from data, checks, reports, PII scanning.

Example::

    import keel

    schema = keel.infer_schema("credit:v1")        # a proposal: edit it, keep it in git
    schema.save("schemas/credit.yaml")
    report = keel.validate("credit:v2", "schemas/credit.yaml")
    report.passed, report.errors
"""

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
