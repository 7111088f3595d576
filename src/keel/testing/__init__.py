"""Test data like code: ``assert_valid`` in any test, and a pytest fixture.

Example (a processing job's test)::

    from keel.testing import assert_valid

    def test_clean_applications(raw_applications):
        out = clean(raw_applications)
        assert_valid(out, "schemas/clean_applications.yaml")

With pytest, the ``assert_valid`` fixture does the same and reads a relative schema path
from the test file's folder, so tests run from anywhere::

    def test_features(assert_valid):
        assert_valid(make_features(sample), "schemas/features.yaml")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["DataValidationError", "assert_valid"]


class DataValidationError(AssertionError):
    """Data failed its schema; ``report`` holds every check's result."""

    def __init__(self, report: Any) -> None:
        super().__init__(str(report))
        self.report = report


def assert_valid(data: Any, schema: Any, *, warnings_fail: bool = False) -> Any:
    """Validate ``data`` against ``schema`` (a Schema, YAML path or dict), without
    recording, and raise :class:`DataValidationError` (an ``AssertionError``, so pytest shows
    it as a failed assertion) listing every failed check with masked example rows.

    Returns the report when the data passes. ``warnings_fail=True`` also fails on checks of
    severity ``warn``.
    """
    from keel.validation import validate

    report = validate(data, schema, record=False)
    if not report.passed or (warnings_fail and report.warnings):
        raise DataValidationError(report)
    return report


def _resolve(schema: Any, folder: Path) -> Any:
    if isinstance(schema, str | Path) and not Path(schema).is_absolute():
        candidate = folder / schema
        if candidate.exists():
            return candidate
    return schema
