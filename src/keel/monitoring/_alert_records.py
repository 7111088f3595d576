"""Alert records: one incident of one monitor, and the service that reads them and lets a
person acknowledge or resolve them.

An alert covers the breached findings (``kind/subject`` keys) that opened it; later results
that breach the same keys are counted on it (``occurrences``, ``last_seen``) instead of
opening another one. See :mod:`keel.monitoring.alerts` for the whole life of an incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from keel.errors import Conflict, InvalidInput, NotFound
from keel.store import Store, now_ms
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import record_event

__all__ = [
    "SEVERITIES",
    "SEVERITY_BY_KIND",
    "STATUSES",
    "Alert",
    "AlertService",
    "check_status",
    "severity_of",
]

STATUSES = ("open", "resolved")
SEVERITIES = ("info", "warning", "critical")
"""Least to most severe; an alert has the highest severity of its findings."""

SEVERITY_BY_KIND = {
    "performance": "critical",
    "service": "critical",
    "estimated_performance": "warning",
    "data_drift": "warning",
    "prediction_drift": "warning",
    "bias": "warning",
    "range": "warning",
    "missing_column": "warning",
    "new_column": "warning",
    "no_data": "info",
}
"""A finding's severity by its kind: a model that answers wrongly or slowly is critical,
data that moved is a warning; any other kind is a warning."""

MAX_LIMIT = 1000
MAX_COMMENT = 2000


def severity_of(kinds: list[str] | tuple[str, ...]) -> str:
    """The highest severity of findings of these kinds."""
    ranks = [SEVERITIES.index(SEVERITY_BY_KIND.get(k, "warning")) for k in kinds]
    return SEVERITIES[max(ranks, default=1)]


def check_status(status: object) -> str:
    """``open``, ``resolved`` or ``all``, else a clear error."""
    if status not in (*STATUSES, "all"):
        raise InvalidInput(
            f"Alert status {status!r} is not one of open, resolved, all: "
            "use e.g. 'keel alerts ls --status open'."
        )
    return status  # type: ignore[return-value]


def check_comment(comment: object) -> str | None:
    """A note recorded with an acknowledgement or a resolution: text of at most 2,000
    characters, or None."""
    if comment is None:
        return None
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT or "\x00" in comment:
        raise InvalidInput(
            f"An alert's comment is text of at most {MAX_COMMENT} characters (no NUL). "
            f"Got {str(comment)[:80]!r}."
        )
    return comment


@dataclass(frozen=True)
class Alert:
    """One incident of a monitor.

    ``keys`` are the ``kind/subject`` of the breached findings it covers, ``findings`` those
    findings as dictionaries, ``actions`` what ran when it opened (type, status, detail,
    started_at, ended_at, ...), ``change`` what the last result did to it (``opened``,
    ``seen``, ``reopened``, ``resolved``). ``acknowledged_by`` names who acknowledged
    it (someone is looking at it; it stays open), ``resolved_by`` who resolved it by hand
    (None when a healthy window resolved it), ``comment`` the last note either left. Times
    are milliseconds since the epoch, UTC.
    """

    id: str
    monitor: str
    deployment: str | None
    severity: str
    status: str
    message: str
    keys: tuple[str, ...]
    findings: tuple[dict[str, Any], ...]
    actions: tuple[dict[str, Any], ...]
    result_id: str
    last_result_id: str
    occurrences: int
    reopened: int
    change: str
    created_at: int
    last_seen: int | None = None
    resolved_at: int | None = None
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None
    resolved_by: str | None = None
    comment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor,
            "deployment": self.deployment,
            "severity": self.severity,
            "status": self.status,
            "message": self.message,
            "keys": list(self.keys),
            "findings": [dict(f) for f in self.findings],
            "actions": [dict(a) for a in self.actions],
            "result_id": self.result_id,
            "last_result_id": self.last_result_id,
            "occurrences": self.occurrences,
            "reopened": self.reopened,
            "change": self.change,
            "created_at": self.created_at,
            "last_seen": self.last_seen,
            "resolved_at": self.resolved_at,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
            "resolved_by": self.resolved_by,
            "comment": self.comment,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        try:
            return cls(
                id=str(data["id"]),
                monitor=str(data["monitor"]),
                deployment=data.get("deployment"),
                severity=str(data["severity"]),
                status=str(data["status"]),
                message=str(data["message"]),
                keys=tuple(data.get("keys") or ()),
                findings=tuple(dict(f) for f in data.get("findings") or ()),
                actions=tuple(dict(a) for a in data.get("actions") or ()),
                result_id=str(data["result_id"]),
                last_result_id=str(data.get("last_result_id") or data["result_id"]),
                occurrences=int(data.get("occurrences") or 1),
                reopened=int(data.get("reopened") or 0),
                change=str(data.get("change") or "opened"),
                created_at=int(data["created_at"]),
                last_seen=data.get("last_seen"),
                resolved_at=data.get("resolved_at"),
                acknowledged_by=data.get("acknowledged_by"),
                acknowledged_at=data.get("acknowledged_at"),
                resolved_by=data.get("resolved_by"),
                comment=data.get("comment"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"Not an alert: missing or malformed {exc}.") from exc

    @classmethod
    def from_row(cls, row: Any, monitor: str) -> Alert:
        """An alert from its ``alerts`` row (``details`` holds the incident's bookkeeping)."""
        details = dict(row["details"] or {})
        return cls(
            id=row["id"],
            monitor=monitor,
            deployment=details.get("deployment"),
            severity=row["severity"],
            status=row["status"],
            message=row["message"],
            keys=tuple(details.get("keys") or ()),
            findings=tuple(details.get("findings") or ()),
            actions=tuple(row["actions"] or ()),
            result_id=row["monitor_result_id"],
            last_result_id=details.get("last_result") or row["monitor_result_id"],
            occurrences=int(details.get("occurrences") or 1),
            reopened=int(details.get("reopened") or 0),
            change=str(details.get("change") or "opened"),
            created_at=row["created_at"],
            last_seen=row["last_seen"],
            resolved_at=row["resolved_at"],
            acknowledged_by=details.get("acknowledged_by"),
            acknowledged_at=details.get("acknowledged_at"),
            resolved_by=details.get("resolved_by") if row["status"] == "resolved" else None,
            comment=details.get("comment"),
        )


class AlertService:
    """The alerts of one project, newest first; acknowledging and resolving one needs the
    ``writer`` role, and each is an audit event on the alert under ``actor``'s name.

    Example::

        alerts = AlertService(store, project="credit")
        for alert in alerts.list(status="open"):
            print(alert.severity, alert.message)

    Args:
        store: the metadata store.
        project: the project (the store's configured one by default).
        actor: who acknowledges and resolves (the local user, an admin, by default).
    """

    def __init__(
        self, store: Store, *, project: str | None = None, actor: Actor | None = None
    ) -> None:
        self.store = store
        self.project = project or store.config.project
        self.actor = actor or Actor.local()

    def list(
        self, *, status: str = "open", monitor: str | None = None, limit: int = 100
    ) -> list[Alert]:
        """Alerts with ``status`` (``open``, ``resolved`` or ``all``), of one monitor if
        given, newest first, at most ``limit`` (1 to 1000)."""
        check_status(status)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}.")
        project_id = self.store.read_project_id(self.project)
        if project_id is None:
            return []
        query = self._query(project_id)
        if status != "all":
            query = query.where(t.alerts.c.status == status)
        if monitor is not None:
            query = query.where(t.monitors.c.name == monitor)
        query = query.order_by(t.alerts.c.created_at.desc(), t.alerts.c.id.desc()).limit(limit)
        with self.store.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [Alert.from_row(r, r["monitor_name"]) for r in rows]

    def get(self, alert_id: str) -> Alert:
        """One alert by id.

        Raises:
            NotFound: no alert has this id in the project.
        """
        project_id = self.store.read_project_id(self.project)
        row = None
        if project_id is not None and isinstance(alert_id, str):
            query = self._query(project_id).where(t.alerts.c.id == alert_id)
            with self.store.read() as conn:
                row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(
                f"No alert {str(alert_id)[:60]!r} in project {self.project!r}. "
                "List them with 'keel alerts ls --status all'."
            )
        return Alert.from_row(row, row["monitor_name"])

    def acknowledge(self, alert_id: str, comment: str | None = None) -> Alert:
        """Say someone is on an open alert: it stays open, with who and when (and the
        comment); acknowledging it again changes nothing.

        Raises:
            PermissionDenied: the actor is not a writer.
            Conflict: the alert is resolved.
            NotFound: no such alert in the project.
        """
        return self._act(alert_id, "acknowledge", comment)

    def resolve(self, alert_id: str, comment: str | None = None) -> Alert:
        """Close an open alert by hand (the incident is over). Its keys breaching again
        within the monitor's cool-down reopen it, as after a healthy window.

        Raises:
            PermissionDenied: the actor is not a writer.
            Conflict: the alert is resolved already.
            NotFound: no such alert in the project.
        """
        return self._act(alert_id, "resolve", comment)

    def _act(self, alert_id: str, verb: str, comment: str | None) -> Alert:
        comment = check_comment(comment)
        self.actor.require("writer", f"{verb} an alert")
        found = self.get(alert_id)
        a, at = t.alerts, now_ms()
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            row = conn.execute(sa.select(a).where(a.c.id == found.id)).mappings().one()
            if row["status"] != "open":
                by = (row["details"] or {}).get("resolved_by") or f"monitor {found.monitor}"
                raise Conflict(
                    f"Alert {found.id} is resolved already (by {by}), so it cannot be "
                    f"{verb}d; nothing was changed. It reopens by itself if its findings "
                    "breach again within the monitor's cool-down."
                )
            details = dict(row["details"] or {})
            if verb == "acknowledge" and details.get("acknowledged_by"):
                return found  # someone is on it already: nothing to record
            values: dict[str, object] = {}
            if verb == "acknowledge":
                details.update(acknowledged_by=self.actor.name, acknowledged_at=at)
            else:
                details.update(change="resolved", resolved_by=self.actor.name)
                values.update(status="resolved", resolved_at=at)
            if comment is not None:
                details["comment"] = comment
            conn.execute(
                a.update()
                .where(a.c.id == found.id, a.c.status == "open")
                .values(details=details, **values)
            )
            record_event(
                conn,
                project_id=project_id,
                actor=self.actor.name,
                action=f"alert.{verb}",
                object_kind="alert",
                object_id=found.id,
                details={"monitor": found.monitor, "comment": comment},
                at=at,
            )
        return self.get(found.id)

    @staticmethod
    def _query(project_id: str) -> sa.Select:
        a, m = t.alerts, t.monitors
        return (
            sa.select(a, m.c.name.label("monitor_name"))
            .join(m, a.c.monitor_id == m.c.id)
            .where(m.c.project_id == project_id)
        )
