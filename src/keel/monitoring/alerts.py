"""Alerts: what a monitor's breached results open, deduplicate, cool down and resolve.

:func:`handle` is called after each evaluation of a monitor with its result:

- A result with breached findings opens an alert (an incident) for the finding keys
  (``kind/subject``, e.g. ``data_drift/income``) that no open alert of the monitor covers
  yet, and runs the monitor's ``on_alert`` actions once for it (see
  :mod:`keel.monitoring._actions`).
- Breached keys an open alert already covers are counted on it (``occurrences``,
  ``last_seen``): no new alert, no actions again (deduplication).
- A result that passes resolves every open alert of the monitor.
- Cool-down: keys that breach again within ``alerting.cooldown`` (1h) of their alert's
  resolution reopen that alert, without running its actions again; after the cool-down
  they open a new one.

An alert's severity is the highest of its findings': ``critical`` for ``performance`` and
``service``, ``warning`` for drift, bias, range and column findings, ``info`` for
``no_data`` (:data:`~keel.monitoring._alert_records.SEVERITY_BY_KIND`).

The alert is recorded before any action runs; the actions run in a thread of their own by
default (``wait=True`` runs them before returning), so a slow webhook never holds up the
next evaluation. :func:`wait_for_actions` waits for those threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from keel.errors import InvalidInput
from keel.store import new_id, now_ms
from keel.store import schema as t
from keel.store.audit import record_event

from ._actions import Action, ActionContext, parse_actions, pending_entry, run_actions
from ._alert_records import Alert, AlertService, severity_of
from ._results import Finding, MonitorResult

__all__ = ["Alert", "AlertService", "handle", "parse_actions", "wait_for_actions"]

log = logging.getLogger("keel.alerts")

DEFAULT_COOLDOWN = "1h"
DEFAULT_MAX_RETRAINS = 2
_ALERTING_KEYS = ("cooldown", "max_retrains_per_day")
_SHOWN_FINDINGS = 3

_pending: set[threading.Thread] = set()
_pending_lock = threading.Lock()


@dataclass(frozen=True)
class _Monitor:
    """What alerting reads of a monitor spec (a mapping or a spec object)."""

    name: str
    deployment: str | None
    actions: list[Action]
    cooldown_ms: int
    max_retrains: int
    spec: dict[str, Any]


def handle(client: Any, spec: Any, result: MonitorResult, *, wait: bool = False) -> list[Alert]:
    """Open, count, reopen or resolve the monitor's alerts for one result (see the module
    docstring) and start the actions of every alert it opens.

    Args:
        client: a :class:`keel.Client` on a store (the monitoring process's own).
        spec: the monitor: a mapping or spec object with ``name``, ``deployment``,
            ``on_alert`` (a list of actions) and ``alerting`` (``{cooldown: 1h,
            max_retrains_per_day: 2}``).
        result: the evaluation; recorded (with the monitor) if it is not in the store yet.
        wait: run the actions before returning instead of in a thread.

    Returns:
        Every alert the result changed; ``alert.change`` says how (``opened``, ``seen``,
        ``reopened``, ``resolved``). Without ``wait`` the actions of an opened alert may
        still be ``pending``: read it again with ``client.alerts.get(id)`` later.

    Raises:
        InvalidInput: the spec or its actions are malformed, or the result is another
            monitor's.
    """
    monitor = _monitor_of(spec)
    if not isinstance(result, MonitorResult):
        raise InvalidInput(
            f"handle() takes a MonitorResult, not {type(result).__name__}: pass what the "
            "monitor's evaluation returned."
        )
    if result.monitor != monitor.name:
        raise InvalidInput(
            f"The result {result.id!r} is monitor {result.monitor!r}'s, not {monitor.name!r}'s: "
            "pass the spec of the monitor that was evaluated."
        )
    store = client.store
    # a keel.Client, or the services a MonitorService evaluates with (store + project)
    project = getattr(client, "project", None) or client.config.project
    project_id = store.project_id(project)
    at = result.created_at or now_ms()
    with store.write() as conn:
        monitor_id = _monitor_row(conn, project_id, monitor, at)
        _result_row(conn, monitor_id, result, at)
        changed, opened = _apply(conn, project_id, monitor_id, monitor, result, at)
    alerts = _read(store, changed, monitor.name)
    for alert in alerts:
        if alert.id in opened and monitor.actions:
            _dispatch(client, monitor, alert, project_id, wait=wait)
    return _read(store, changed, monitor.name) if wait and opened else alerts


def wait_for_actions(timeout: float | None = None) -> bool:
    """Wait for the actions :func:`handle` started in threads; True when all have ended."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _pending_lock:
            threads = list(_pending)
        if not threads:
            return True
        for thread in threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
            if thread.is_alive():
                return False


# -- the spec ---------------------------------------------------------------------------


def _monitor_of(spec: Any) -> _Monitor:
    from keel.deploy import parse_duration

    if isinstance(spec, Mapping):
        data = dict(spec)
        as_json = data
    else:
        data = {k: getattr(spec, k, None) for k in ("name", "deployment", "on_alert", "alerting")}
        to_dict = getattr(spec, "to_dict", None)
        as_json = to_dict() if callable(to_dict) else data
    name, deployment = data.get("name"), data.get("deployment")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"The monitor spec needs a name (a non-empty string), not {name!r}.")
    if deployment is not None and not isinstance(deployment, str):
        raise InvalidInput(f"Monitor {name!r}: deployment must be a name, not {deployment!r}.")
    alerting = data.get("alerting") or {}
    if not isinstance(alerting, Mapping):
        raise InvalidInput(
            f"Monitor {name!r}: alerting must be a mapping such as "
            f"{{cooldown: 1h, max_retrains_per_day: 2}}, not {alerting!r}."
        )
    unknown = [k for k in alerting if k not in _ALERTING_KEYS]
    if unknown:
        raise InvalidInput(
            f"Monitor {name!r}: alerting has no {', '.join(map(str, unknown))}; it takes "
            f"{', '.join(_ALERTING_KEYS)}."
        )
    cooldown = alerting.get("cooldown", DEFAULT_COOLDOWN)
    cooldown_ms = (
        0
        if cooldown in (0, "0")
        else int(parse_duration(cooldown, what=f"Monitor {name!r}: alerting.cooldown") * 1000)
    )
    retrains = alerting.get("max_retrains_per_day", DEFAULT_MAX_RETRAINS)
    if isinstance(retrains, bool) or not isinstance(retrains, int) or retrains < 0:
        raise InvalidInput(
            f"Monitor {name!r}: alerting.max_retrains_per_day must be a whole number of 0 "
            f"or more, not {retrains!r}."
        )
    try:
        actions = parse_actions(data.get("on_alert"))
    except InvalidInput as exc:
        raise InvalidInput(f"Monitor {name!r}: {exc.message}") from None
    return _Monitor(name, deployment, actions, cooldown_ms, retrains, _jsonable(as_json))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# -- the incident -----------------------------------------------------------------------


def _key(finding: Finding) -> str:
    return f"{finding.kind}/{finding.subject}" if finding.subject else finding.kind


def _monitor_row(conn: sa.Connection, project_id: str, monitor: _Monitor, at: int) -> str:
    m = t.monitors
    # the monitor's row is the lock: one result of a monitor is handled at a time
    query = sa.select(m.c.id).where(m.c.project_id == project_id, m.c.name == monitor.name)
    found = conn.execute(query.with_for_update()).scalar()
    if found is not None:
        return found
    monitor_id = new_id()
    row = {"project_id": project_id, "name": monitor.name, "spec": monitor.spec}
    conn.execute(m.insert().values(id=monitor_id, created_at=at, **row))
    return monitor_id


def _result_row(conn: sa.Connection, monitor_id: str, result: MonitorResult, at: int) -> None:
    r = t.monitor_results
    owner = conn.execute(sa.select(r.c.monitor_id).where(r.c.id == result.id)).scalar()
    if owner is not None:
        if owner != monitor_id:
            raise InvalidInput(
                f"The result {result.id!r} is recorded for another monitor than "
                f"{result.monitor!r}: pass the spec of the monitor that was evaluated."
            )
        return
    scores = dict(result.scores)
    scores.setdefault("findings", [asdict(f) for f in result.findings])
    conn.execute(
        r.insert().values(
            id=result.id,
            monitor_id=monitor_id,
            window_start=result.window_start,
            window_end=result.window_end,
            passed=bool(result.passed),
            scores=_jsonable(scores),
            created_at=at,
        )
    )


def _apply(
    conn: sa.Connection,
    project_id: str,
    monitor_id: str,
    monitor: _Monitor,
    result: MonitorResult,
    at: int,
) -> tuple[list[str], set[str]]:
    """The ids of the alerts this result changed, and of those it opened."""
    a = t.alerts
    mine = sa.select(a).where(a.c.monitor_id == monitor_id)
    open_rows = conn.execute(mine.where(a.c.status == "open")).mappings().all()
    breached = [f for f in result.findings if f.breached]
    changed: list[str] = []

    def audit(action: str, alert_id: str, details: dict[str, Any]) -> None:
        record_event(
            conn,
            project_id=project_id,
            actor=f"monitor:{monitor.name}",
            action=action,
            object_kind="alert",
            object_id=alert_id,
            details={"monitor": monitor.name, "result": result.id, **details},
            at=at,
        )

    def update(row: Any, change: str, **values: Any) -> None:
        details = dict(row["details"] or {})
        if details.get("last_result") == result.id:
            return  # this result was handled already
        details.update(
            change=change,
            last_result=result.id,
            occurrences=int(details.get("occurrences") or 1) + (change != "resolved"),
        )
        if change == "reopened":
            details["reopened"] = int(details.get("reopened") or 0) + 1
        if change in ("reopened", "resolved"):
            # a person's acknowledgement or resolution was of the incident as it stood then
            for key in ("resolved_by", "acknowledged_by", "acknowledged_at"):
                details.pop(key, None)
        conn.execute(a.update().where(a.c.id == row["id"]).values(details=details, **values))
        changed.append(row["id"])

    if not breached:
        if result.passed:
            for row in open_rows:
                update(row, "resolved", status="resolved", resolved_at=at)
                audit("alert.resolve", row["id"], {})
        return changed, set()

    keys = list(dict.fromkeys(_key(f) for f in breached))
    new = set(keys)
    for row in open_rows:
        own = set((row["details"] or {}).get("keys") or ())
        if own & new:
            update(row, "seen", last_seen=at)
        new -= own
    if new and monitor.cooldown_ms:
        cooled = mine.where(a.c.status == "resolved", a.c.resolved_at >= at - monitor.cooldown_ms)
        for row in conn.execute(cooled.order_by(a.c.resolved_at.desc())).mappings().all():
            own = set((row["details"] or {}).get("keys") or ())
            if own & new:
                update(row, "reopened", status="open", resolved_at=None, last_seen=at)
                audit("alert.reopen", row["id"], {"within_cooldown_ms": monitor.cooldown_ms})
                new -= own
    if not new:
        return changed, set()
    findings = [f for f in breached if _key(f) in new]
    alert_id = new_id()
    severity = severity_of([f.kind for f in findings])
    details = {
        "monitor": monitor.name,
        "deployment": monitor.deployment,
        "keys": [k for k in keys if k in new],
        "findings": [_jsonable(asdict(f)) for f in findings],
        "occurrences": 1,
        "reopened": 0,
        "change": "opened",
        "last_result": result.id,
    }
    conn.execute(
        a.insert().values(
            id=alert_id,
            monitor_result_id=result.id,
            severity=severity,
            message=_message(monitor, findings),
            status="open",
            actions=[pending_entry(action) for action in monitor.actions],
            created_at=at,
            monitor_id=monitor_id,
            details=details,
            last_seen=at,
            resolved_at=None,
        )
    )
    audit("alert.open", alert_id, {"severity": severity, "keys": details["keys"]})
    from keel.store.lineage import record_edges

    # the trace: monitor result -> alert (-> the pipeline run its action queues)
    record_edges(None, [("monitor_result", result.id, "raised", "alert", alert_id)], conn=conn)
    changed.append(alert_id)
    return changed, {alert_id}


def _message(monitor: _Monitor, findings: list[Finding]) -> str:
    where = f" on {monitor.deployment}" if monitor.deployment else ""
    shown = "; ".join(f.message or _key(f) for f in findings[:_SHOWN_FINDINGS])
    more = len(findings) - _SHOWN_FINDINGS
    tail = f"; and {more} more" if more > 0 else ""
    count = f"{len(findings)} breached finding{'s' if len(findings) != 1 else ''}"
    return f"{monitor.name}{where}: {count}: {shown}{tail}"


def _read(store: Any, ids: list[str], monitor: str) -> list[Alert]:
    if not ids:
        return []
    a = t.alerts
    with store.read() as conn:
        rows = conn.execute(sa.select(a).where(a.c.id.in_(ids))).mappings().all()
    by_id = {r["id"]: Alert.from_row(r, monitor) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


# -- the actions ------------------------------------------------------------------------


def payload(alert: Alert) -> dict[str, Any]:
    """The alert as the JSON a webhook receives (and commands read in KEEL_ALERT_JSON)."""
    return {
        "alert": alert.id,
        "monitor": alert.monitor,
        "deployment": alert.deployment,
        "severity": alert.severity,
        "status": alert.status,
        "message": alert.message,
        "keys": list(alert.keys),
        "findings": [dict(f) for f in alert.findings],
        "created_at": alert.created_at,
        "link": f"keel alerts show {alert.id}",
    }


def _dispatch(client: Any, monitor: _Monitor, alert: Alert, project_id: str, *, wait: bool) -> None:
    ctx = ActionContext(client, alert, payload(alert), project_id, monitor.max_retrains)
    store = client.store

    def record(index: int, entry: dict[str, Any]) -> None:
        a = t.alerts
        with store.write() as conn:
            query = sa.select(a.c.actions).where(a.c.id == alert.id).with_for_update()
            actions = list(conn.execute(query).scalar() or ())
            actions += [{}] * (index + 1 - len(actions))
            actions[index] = entry
            conn.execute(a.update().where(a.c.id == alert.id).values(actions=actions))
            record_event(
                conn,
                project_id=project_id,
                actor=f"monitor:{monitor.name}",
                action=f"alert.{entry['type']}",
                object_kind="alert",
                object_id=alert.id,
                details=entry,
            )

    def run() -> None:
        try:
            run_actions(monitor.actions, ctx, record)
        except Exception:  # a thread has no caller to tell: say it in the log
            log.exception("the actions of alert %s could not all be recorded", alert.id)
        finally:
            with _pending_lock:
                _pending.discard(threading.current_thread())

    if wait:
        run_actions(monitor.actions, ctx, record)
        return
    thread = threading.Thread(target=run, name=f"keel-alert-{alert.id[:8]}")
    with _pending_lock:
        _pending.add(thread)
    thread.start()
