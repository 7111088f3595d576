"""A validation report: per check, passed or failed, how many rows, a few (masked) examples."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from keel.errors import InvalidInput

__all__ = ["CheckResult", "ValidationReport"]

FORMAT = "keel.validation/1"


@dataclass
class CheckResult:
    """The outcome of one check.

    Attributes:
        name: ``kind(column)``, e.g. ``in_range(age)``.
        kind: the check's kind (``in_range``).
        column: the column checked, or ``None`` for a table check.
        severity: ``error`` or ``warn``.
        passed: whether the data met the check.
        description: the check and its parameters, for people.
        failing_rows: rows that failed, when the check is about rows.
        failing_share: ``failing_rows`` over the table's rows.
        observed: what was measured (``{"min": 3, "max": 140}``).
        message: why it failed, in one sentence.
        examples: a few failing rows, personal data masked.
    """

    name: str
    kind: str
    column: str | None
    severity: str
    passed: bool
    description: str = ""
    failing_rows: int | None = None
    failing_share: float | None = None
    observed: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ValidationReport:
    """Every check's result for one table, and the verdict.

    ``passed`` is true when no check of severity ``error`` failed; failed ``warn`` checks
    are listed in :attr:`warnings` but do not fail the report.
    """

    subject: str
    rows: int
    columns: int
    results: list[CheckResult]
    schema: str | None = None
    subject_kind: str = "table"
    subject_id: str | None = None
    created_at: str = ""
    duration_ms: float = 0.0
    id: str | None = None

    @property
    def passed(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[CheckResult]:
        """Failed checks of severity ``error``."""
        return [r for r in self.results if not r.passed and r.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        """Failed checks of severity ``warn``."""
        return [r for r in self.results if not r.passed and r.severity == "warn"]

    def result(self, name: str) -> CheckResult:
        """The result of the check named ``name`` (``in_range(age)``)."""
        for r in self.results:
            if r.name == name:
                return r
        raise InvalidInput(
            f"The report has no check {name!r}. Its checks are "
            f"{', '.join(r.name for r in self.results)}."
        )

    def summary(self) -> dict[str, Any]:
        """Counts and the verdict, as stored beside the report."""
        return {
            "subject": self.subject,
            "schema": self.schema,
            "passed": self.passed,
            "checks": len(self.results),
            "failed": sum(not r.passed for r in self.results),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "rows": self.rows,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = FORMAT
        data["passed"] = self.passed
        return data

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_NON_STR_KEYS, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        """Read what :meth:`to_dict` wrote."""
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r} is not {FORMAT!r}")
            fields = {k: v for k, v in data.items() if k not in ("format", "passed")}
            fields["results"] = [CheckResult(**r) for r in data["results"]]
            return cls(**fields)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"Not a validation report: {exc}.") from exc

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [
            f"Validation of {self.subject} against {self.schema or 'the schema'}: {verdict} "
            f"({len(self.errors)} errors, {len(self.warnings)} warnings, {self.rows:,} rows)"
        ]
        for r in self.results:
            if not r.passed:
                lines.append(f"  [{r.severity}] {r.name}: {r.message}")
                lines += [f"      e.g. {row}" for row in r.examples[:3]]
        return "\n".join(lines)
