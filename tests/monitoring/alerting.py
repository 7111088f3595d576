"""Helpers for the alert tests: a client on the test store and monitor results to feed it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.monitoring._results import Finding, MonitorResult
from keel.store import new_id
from keel.store import schema as t

HOUR = 3_600_000
T0 = 1_800_000_000_000  # a fixed time (2027) so cool-downs are exact


def spec(**changes: Any) -> dict[str, Any]:
    """A monitor as the mapping the monitors code passes to handle()."""
    return {
        "name": "credit-drift",
        "deployment": "credit-scoring",
        "on_alert": [{"log": True}],
        "alerting": {"cooldown": "1h"},
        **changes,
    }


def result(
    *breached: tuple[str, str],
    at: int = T0,
    monitor: str = "credit-drift",
    passed: bool | None = None,
) -> MonitorResult:
    """A result with one breached finding per ``(kind, subject)``, and one that held."""
    findings = [
        Finding(kind, subject, 0.3, 0.1, True, f"{kind} of {subject or 'the model'}: 0.3 > 0.1")
        for kind, subject in breached
    ]
    findings.append(Finding("data_drift", "age", 0.01, 0.1, False, "age: 0.01 <= 0.1"))
    return MonitorResult(
        id=new_id(),
        monitor=monitor,
        window_start=at - HOUR,
        window_end=at,
        passed=not breached if passed is None else passed,
        findings=tuple(findings),
        scores={"drift": {"age": 0.01}},
        created_at=at,
    )


def events(client: Any, action: str) -> list[dict[str, Any]]:
    """Audit events with ``action``, oldest first."""
    ev = t.audit_events
    query = sa.select(ev).where(ev.c.action == action).order_by(ev.c.created_at, ev.c.id)
    with client.store.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
