"""Which monitors are due on their schedules, and running them: one pass of the agent's.

A monitor is due when its schedule (``every 1h``, or a cron line) has come round since its
last result; a failing evaluation is logged and retried at the next pass, never stopping
the others. The agent (``keel.server.agent``) calls :func:`run_due_monitors` at each tick
while it leads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from keel.store import Store
from keel.store.actors import Actor

__all__ = ["AGENT", "is_due", "run_due_monitors"]

log = logging.getLogger("keel.monitoring.agent")

AGENT = Actor("keel-agent", "writer")


def is_due(schedule: str, last_ms: int | None, now: int) -> bool:
    """Whether a monitor with ``schedule`` whose last result ended at ``last_ms`` is due."""
    if last_ms is None:
        return True
    from .spec import every_ms

    interval = every_ms(schedule)
    if interval is not None:
        return now - last_ms >= interval
    from datetime import UTC, datetime

    from croniter import croniter

    after = datetime.fromtimestamp(last_ms / 1000, UTC)
    due = croniter(schedule.strip(), after).get_next(datetime)
    return due.timestamp() * 1000 <= now


def run_due_monitors(
    store: Store, now: int, *, should_go_on: Callable[[], bool] | None = None
) -> list[tuple[str, str, Any]]:
    """Evaluate every due monitor of every project once; ``(project, monitor, result or
    the error)`` for each one run.

    Args:
        store: the store whose projects' monitors run.
        now: the time, in ms.
        should_go_on: called before each monitor; the pass stops when it returns false
            (the agent lost its lease).
    """
    from ._service import MonitorService

    done: list[tuple[str, str, Any]] = []
    for project in store.projects():
        service = MonitorService(store, project=str(project["name"]), actor=AGENT)
        for monitor in service.list():
            if not is_due(monitor["schedule"], monitor["last_window_end"], now):
                continue
            if should_go_on is not None and not should_go_on():
                return done
            try:
                outcome: Any = service.run(monitor["name"], now_ms=now)
            except Exception as exc:  # one monitor's failure never stops the others
                log.warning("monitor %s/%s failed: %s", project["name"], monitor["name"], exc)
                outcome = exc
            else:
                log.info(
                    "monitor %s/%s: %s",
                    project["name"],
                    monitor["name"],
                    "passed" if outcome.passed else "BREACHED",
                )
            done.append((str(project["name"]), monitor["name"], outcome))
    return done
