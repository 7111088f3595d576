"""Monitor results: what one evaluation found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding", "MonitorResult"]


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    score: float | None
    threshold: float | None
    breached: bool
    message: str


@dataclass(frozen=True)
class MonitorResult:
    id: str
    monitor: str
    window_start: int
    window_end: int
    passed: bool
    findings: tuple[Finding, ...]
    scores: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0
