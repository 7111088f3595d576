"""The agent: runs every project's monitors on their schedules, inside ``keel server``.

One agent works at a time per store: it holds a lock for as long as it runs (a PostgreSQL
advisory lock on its own connection; a lock file beside a SQLite database), so several
server workers or replicas may each start one and only one evaluates. A monitor is due when
its schedule (``every 1h``, or a cron line) has come round since its last result; a failing
evaluation is logged and retried at the next tick, never stopping the others.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from keel.store import Store, now_ms
from keel.store.actors import Actor
from keel.store.objects import hash_bytes

__all__ = ["MonitorAgent", "is_due"]

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


class MonitorAgent:
    """Evaluates due monitors every ``tick_seconds`` in a background thread.

    Args:
        store: the store whose projects' monitors run.
        tick_seconds: how often schedules are checked.
        clock: milliseconds since the epoch (tests may pass their own).
    """

    def __init__(
        self,
        store: Store,
        *,
        tick_seconds: float = 30.0,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.store = store
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.leader = False
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._held: Any = None

    # -- one pass -----------------------------------------------------------------------

    def run_once(self, now: int | None = None) -> list[tuple[str, str, Any]]:
        """Evaluate every due monitor of every project once; ``(project, monitor, result
        or the error)`` for each one run."""
        from ._service import MonitorService

        now = self.clock() if now is None else now
        done: list[tuple[str, str, Any]] = []
        for project in self.store.projects():
            service = MonitorService(self.store, project=str(project["name"]), actor=AGENT)
            for monitor in service.list():
                if not is_due(monitor["schedule"], monitor["last_window_end"], now):
                    continue
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
                self.runs += 1
                done.append((str(project["name"]), monitor["name"], outcome))
        return done

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread (it becomes the leader when it gets the lock)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="keel-agent", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the evaluation in progress, and release the lock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._release()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.leader or self._acquire():
                    self.run_once()
            except Exception:  # the store away for a while: try again at the next tick
                log.exception("the monitor agent's pass failed")
            self._stop.wait(self.tick_seconds)

    def _acquire(self) -> bool:
        engine = self.store.engine
        if engine.dialect.name == "postgresql":
            conn = engine.connect()
            try:
                # one key per store: the database and the schema keel's tables are in
                where = conn.execute(sa.text("SELECT current_database(), current_schema()")).one()
                key = int(hash_bytes(f"keel-agent:{where[0]}:{where[1]}".encode())[:15], 16)
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                conn.commit()
            except BaseException:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            self._held = (conn, key)  # the lock lives as long as this session
        else:
            import fcntl

            database = engine.url.database or ""
            path = f"{database}.agent.lock" if database and database != ":memory:" else None
            if path is not None:
                handle = open(path, "a")  # noqa: SIM115 - held open while leader
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    handle.close()
                    return False
                self._held = handle
        self.leader = True
        log.info("the monitor agent leads on %s", engine.url.render_as_string(hide_password=True))
        return True

    def _release(self) -> None:
        held, self._held, self.leader = self._held, None, False
        if isinstance(held, tuple):  # PostgreSQL: unlock, or the pooled session keeps it
            conn, key = held
            with contextlib.suppress(Exception):
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            with contextlib.suppress(Exception):
                conn.close()
        elif held is not None:
            with contextlib.suppress(Exception):
                held.close()
