"""Prometheus gauges of monitors and alerts, read from the store at scrape time.

What the platform server's ``/metrics`` exports, per project and monitor, from each
monitor's latest result:

- ``keel_monitor_passed{project,monitor}``: 1 if the latest result passed, else 0;
- ``keel_monitor_drift_score{project,monitor,feature}``: each ``data_drift`` finding's score;
- ``keel_monitor_metric{project,monitor,kind,metric}``: the score of every other finding
  that has one (``performance``/``roc_auc``, ``service``/``p99_ms``, ...);
- ``keel_monitor_result_timestamp_seconds{project,monitor}``: when that result was made;
- ``keel_alerts_open{project,monitor,severity}``: open alerts.

A result's findings are read from its stored ``scores["findings"]`` (a list of Finding
fields, as :func:`keel.monitoring.alerts.handle` records them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from keel.store import Store
from keel.store import schema as t

__all__ = ["CONTENT_TYPE", "MonitorCollector", "render"]

CONTENT_TYPE = CONTENT_TYPE_LATEST


def render(store: Store, projects: tuple[str, ...] = ()) -> bytes:
    """The gauges of every monitor (of ``projects`` only, if given) in Prometheus's format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(store, projects))
    return generate_latest(registry)


class MonitorCollector(Collector):
    """Reads the latest result of each monitor and the open alerts on each collect."""

    def __init__(self, store: Store, projects: tuple[str, ...] = ()) -> None:
        self.store = store
        self.projects = projects

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        base = ["project", "monitor"]
        passed = GaugeMetricFamily(
            "keel_monitor_passed", "1 if the monitor's latest result passed, else 0.", labels=base
        )
        drift = GaugeMetricFamily(
            "keel_monitor_drift_score",
            "Drift score of each feature in the monitor's latest result.",
            labels=[*base, "feature"],
        )
        metric = GaugeMetricFamily(
            "keel_monitor_metric",
            "Scores of the latest result's other findings (performance, service, bias, ...).",
            labels=[*base, "kind", "metric"],
        )
        stamp = GaugeMetricFamily(
            "keel_monitor_result_timestamp_seconds",
            "When the monitor's latest result was made (Unix seconds).",
            labels=base,
        )
        alerts = GaugeMetricFamily(
            "keel_alerts_open", "Open alerts by monitor and severity.", labels=[*base, "severity"]
        )
        with self.store.read() as conn:
            latest = conn.execute(self._latest()).mappings().all()
            open_alerts = conn.execute(self._open_alerts()).all()
        seen: set[str] = set()
        for row in latest:
            if row["monitor_id"] in seen:  # two results of one millisecond: one is enough
                continue
            seen.add(row["monitor_id"])
            labels = [row["project"], row["monitor"]]
            passed.add_metric(labels, 1.0 if row["passed"] else 0.0)
            stamp.add_metric(labels, row["created_at"] / 1000)
            done: set[tuple[str, ...]] = set()
            for finding in _findings(row["scores"]):
                score = finding.get("score")
                if not isinstance(score, int | float) or isinstance(score, bool):
                    continue
                kind, subject = str(finding.get("kind")), str(finding.get("subject") or "")
                key = (kind, subject)
                if key in done:
                    continue
                done.add(key)
                if kind == "data_drift":
                    drift.add_metric([*labels, subject], float(score))
                else:
                    metric.add_metric([*labels, kind, subject or kind], float(score))
        for project, monitor, severity, count in open_alerts:
            alerts.add_metric([project, monitor, severity], float(count))
        yield from (passed, drift, metric, stamp, alerts)

    def _scoped(self, query: sa.Select) -> sa.Select:
        if self.projects:
            query = query.where(t.projects.c.name.in_(self.projects))
        return query

    def _latest(self) -> sa.Select:
        r, m, p = t.monitor_results, t.monitors, t.projects
        newest = (
            sa.select(r.c.monitor_id, sa.func.max(r.c.created_at).label("at"))
            .group_by(r.c.monitor_id)
            .subquery()
        )
        query = (
            sa.select(
                r.c.monitor_id,
                r.c.passed,
                r.c.scores,
                r.c.created_at,
                m.c.name.label("monitor"),
                p.c.name.label("project"),
            )
            .join(
                newest,
                sa.and_(r.c.monitor_id == newest.c.monitor_id, r.c.created_at == newest.c.at),
            )
            .join(m, m.c.id == r.c.monitor_id)
            .join(p, p.c.id == m.c.project_id)
            .order_by(p.c.name, m.c.name, r.c.id.desc())
        )
        return self._scoped(query)

    def _open_alerts(self) -> sa.Select:
        a, m, p = t.alerts, t.monitors, t.projects
        query = (
            sa.select(p.c.name, m.c.name, a.c.severity, sa.func.count())
            .join(m, m.c.id == a.c.monitor_id)
            .join(p, p.c.id == m.c.project_id)
            .where(a.c.status == "open")
            .group_by(p.c.name, m.c.name, a.c.severity)
        )
        return self._scoped(query)


def _findings(scores: Any) -> list[dict[str, Any]]:
    found = scores.get("findings") if isinstance(scores, dict) else None
    return [f for f in found if isinstance(f, dict)] if isinstance(found, list) else []
