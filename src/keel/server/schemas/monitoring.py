"""Monitors, their results and reports, and alerts, as the monitoring routes answer them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, RootModel

__all__ = ["Alert", "Finding", "Monitor", "MonitorReport", "MonitorResult", "MonitorSpec"]


class Monitor(BaseModel):
    """A monitor with its deployment, schedule and last verdict."""

    name: str = Field(examples=["credit-drift"])
    deployment: str = Field(examples=["credit-scoring"])
    reference: str = Field(examples=["champion", "credit-train@latest"])
    schedule: str = Field(examples=["every 3600s"])
    created_at: int = Field(description="Milliseconds since the epoch.")
    last_window_end: int | None
    last_passed: bool | None


class MonitorSpec(RootModel[dict[str, Any]]):
    """A monitor's spec, as the mapping its YAML file holds (name, deployment, reference,
    window, schedule, drift, prediction, ranges, performance, service, ...)."""


class Finding(BaseModel):
    """One thing a monitor checked or noticed; breached findings fail the result."""

    kind: str = Field(examples=["data_drift", "performance", "service"])
    subject: str = Field(description="A column, a metric or empty.", examples=["age"])
    score: float | None
    threshold: float | None
    breached: bool
    message: str


class MonitorResult(BaseModel):
    """One evaluation of a monitor over [window_start, window_end) (epoch ms)."""

    id: str
    monitor: str
    window_start: int
    window_end: int
    passed: bool
    findings: list[Finding]
    scores: dict[str, Any] = Field(description="rows, drift, performance, p99_ms, ...")
    created_at: int = Field(description="Milliseconds since the epoch.")


class MonitorReport(BaseModel):
    """Results over time (oldest first) and the newest window's distributions against
    the reference, for charts."""

    monitor: str
    spec: dict[str, Any] = Field(description="The monitor's spec, as its YAML mapping.")
    results: list[dict[str, Any]] = Field(
        description="window_start, window_end, passed, rows, drift, performance, estimated, "
        "p99_ms, breaches."
    )
    distributions: dict[str, Any] = Field(description="Per column: kind, keys or edges, shares.")


class Alert(BaseModel):
    """One incident a monitor opened, with what its actions did."""

    id: str
    monitor: str
    deployment: str | None
    severity: str = Field(examples=["warn", "error"])
    status: str = Field(examples=["open", "resolved"])
    message: str
    keys: list[str] = Field(description="kind/subject of the breached findings it covers.")
    findings: list[dict[str, Any]]
    actions: list[dict[str, Any]] = Field(description="type, status, detail, started_at, ...")
    result_id: str
    last_result_id: str
    occurrences: int
    reopened: int
    change: str = Field(examples=["opened", "seen", "reopened", "resolved"])
    created_at: int = Field(description="Milliseconds since the epoch.")
    last_seen: int | None
    resolved_at: int | None
    acknowledged_by: str | None = Field(None, description="Who acknowledged it, if anyone.")
    acknowledged_at: int | None = None
    resolved_by: str | None = Field(
        None, description="Who resolved it by hand (null when a healthy window did)."
    )
    comment: str | None = Field(None, description="The last note left with either.")
