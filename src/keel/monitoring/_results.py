"""What one evaluation of a monitor found: findings, scores and the verdict, as values."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["KINDS", "Finding", "MonitorResult"]

KINDS = (
    "data_drift",
    "prediction_drift",
    "bias",
    "range",
    "performance",
    "estimated_performance",
    "service",
    "missing_column",
    "new_column",
    "no_data",
)
"""Every kind of finding a monitor reports."""


@dataclass(frozen=True)
class Finding:
    """One thing a monitor checked or noticed.

    ``subject`` is a column, a metric or ``""``; in a segment it ends with
    ``[column=value]``. ``breached`` findings fail the result; the others are information
    (a drift that stayed below its threshold, a metric without enough labels yet).
    """

    kind: str
    subject: str
    score: float | None
    threshold: float | None
    breached: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["score"] = _finite(self.score)
        data["threshold"] = _finite(self.threshold)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            data["kind"],
            data["subject"],
            data.get("score"),
            data.get("threshold"),
            bool(data["breached"]),
            data.get("message", ""),
        )


@dataclass(frozen=True)
class MonitorResult:
    """One evaluation of a monitor over ``[window_start, window_end)`` (epoch ms).

    ``scores`` holds the numbers behind the findings, for charts: ``rows``, ``drift``
    (column -> score), ``drifted_share``, ``performance``, ``estimated``, ``p99_ms``, ...
    """

    id: str
    monitor: str
    window_start: int
    window_end: int
    passed: bool
    findings: tuple[Finding, ...]
    scores: dict = field(default_factory=dict)
    created_at: int = 0

    @property
    def breaches(self) -> list[Finding]:
        """The findings that failed the result."""
        return [f for f in self.findings if f.breached]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the REST API answers)."""
        return {
            "id": self.id,
            "monitor": self.monitor,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "passed": self.passed,
            "findings": [f.to_dict() for f in self.findings],
            "scores": _clean(self.scores),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorResult:
        """Read what :meth:`to_dict` wrote."""
        return cls(
            data["id"],
            data["monitor"],
            int(data["window_start"]),
            int(data["window_end"]),
            bool(data["passed"]),
            tuple(Finding.from_dict(f) for f in data.get("findings") or ()),
            dict(data.get("scores") or {}),
            int(data.get("created_at") or 0),
        )


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    """Scores as JSON: NaN and infinities become None, NumPy numbers plain ones."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float):
        return _finite(value)
    return value
