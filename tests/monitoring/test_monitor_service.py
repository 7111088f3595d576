"""MonitorService on SQLite and PostgreSQL: apply, replace, list, run, results, audit."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from keel.errors import PermissionDenied
from keel.monitoring import MonitorService, parse_monitor_text
from keel.store import Store
from keel.store import schema as t
from keel.store.actors import Actor

SPEC = "name: quiet\ndeployment: nothing-served\nwindow: {size: 1h}\n"


def test_apply_run_and_read_back(store: Store) -> None:
    monitors = MonitorService(store, actor=Actor("alice", "writer"))
    spec = parse_monitor_text(SPEC)
    assert monitors.apply(spec)["schedule"] == "every 3600s"
    monitors.apply(spec)  # the same spec again changes nothing
    changed = parse_monitor_text(SPEC + "schedule: every 5m\n")
    assert monitors.apply(changed)["schedule"] == "every 5m"
    assert monitors.get("quiet") == changed
    result = monitors.run("quiet", now_ms=10 * 3_600_000)
    assert result.passed
    assert [f.kind for f in result.findings] == ["no_data"]
    (stored,) = monitors.results("quiet")
    assert stored == result
    assert monitors.list()[0]["last_passed"] is True
    with store.read() as conn:
        events = conn.execute(
            sa.select(t.audit_events.c.action).where(t.audit_events.c.object_kind == "monitor")
        ).all()
    assert len(events) == 2  # created, then changed; the unchanged apply wrote nothing


def test_a_reader_cannot_apply_or_run(store: Store) -> None:
    MonitorService(store).apply(parse_monitor_text(SPEC))
    reader = MonitorService(store, actor=Actor("bob", "reader"))
    assert reader.get("quiet").deployment == "nothing-served"
    with pytest.raises(PermissionDenied):
        reader.run("quiet")
    with pytest.raises(PermissionDenied):
        reader.apply(parse_monitor_text(SPEC))
