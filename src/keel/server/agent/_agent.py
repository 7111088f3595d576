"""The agent's loop: lead through a database lease, then do one pass per tick.

Several agents may run against one store (server workers, replicas, ``keel agent``); only
the one holding the lease :data:`LEASE` acts. It renews the lease at every tick and before
each phase of a pass; the lease lasts a few ticks, so when its holder stops (or dies) the
next agent to tick after it expires takes over. Each pass, in order:

1. marks failed the runs whose process stopped renewing their lease (``expire_stale_runs``);
2. evaluates every due monitor (``keel.monitoring``), whose alerts may queue runs;
3. checks every pipeline's triggers and queues the runs they fire;
4. hands waiting runs whose approvals were all decided, then queued runs, to worker
   threads, at most ``max_runs`` at once.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any

from keel.errors import ConfigError, InvalidInput, KeelError
from keel.store import leases, now_ms

from ._pass import AgentPass
from ._runs import Execute, RunWorkers

__all__ = ["LEASE", "Agent"]

log = logging.getLogger("keel.agent")

LEASE = "agent"
"""The name of the lease the acting agent holds (a row of ``agent_leases``)."""


def _holder() -> str:
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(3)}"


class Agent:
    """Runs a store's monitors, triggers and pipeline runs while it holds the lease.

    Args:
        client: a client on a store (not a server): the agent's store, and the client runs
            of its project are executed with (other projects get clients of their own).
        tick_seconds: time between passes; the ``agent_tick_seconds`` setting by default.
        max_runs: most runs executed at once; the ``agent_max_runs`` setting by default.
        lease_seconds: how long the lease lasts unrenewed: 3 ticks (at least 1 s) by default.
        execute: ``execute(client, run_id, *, holder)`` executes one run (it claims it, runs
            it, releases it); ``keel.pipelines.execute_run`` by default.
        clock: the time in ms that schedules and triggers are checked at (tests pass their
            own); leases always use the real time.
        holder: this agent's name in leases; ``host:pid:random`` by default.

    Example::

        agent = Agent(keel.Client("postgresql+psycopg://db/keel"), tick_seconds=10)
        agent.start()  # ... agent.stop()
    """

    def __init__(
        self,
        client: Any,
        *,
        tick_seconds: float | None = None,
        max_runs: int | None = None,
        lease_seconds: float | None = None,
        execute: Execute | None = None,
        clock: Callable[[], int] = now_ms,
        holder: str | None = None,
    ) -> None:
        if getattr(client, "remote", False):
            raise ConfigError(
                f"The agent works on the store itself, not through a keel server "
                f"({client.config.uri}): point KEEL_URI at the database (and KEEL_OBJECTS "
                "at the object store), or let the server run its own agent."
            )
        config = client.config
        if tick_seconds is None:  # the setting; 0 (the server's agent off) means the default
            self.tick_seconds = config.agent_tick_seconds or 30.0
        else:
            self.tick_seconds = _seconds("tick_seconds", tick_seconds)
        self.max_runs = _positive(
            "max_runs", config.agent_max_runs if max_runs is None else max_runs
        )
        lease = max(3 * self.tick_seconds, 1.0) if lease_seconds is None else lease_seconds
        self.lease_ms = max(1, int(_seconds("lease_seconds", lease) * 1000))
        self.client = client
        self.store = client.store
        self.clock = clock
        self.holder = holder or _holder()
        self.leader = False
        self.last: AgentPass | None = None
        self._workers = RunWorkers(client, self.holder, self.max_runs, execute)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Agent({self.client!r}, holder={self.holder!r}, leader={self.leader})"

    # -- one pass -----------------------------------------------------------------------

    def run_once(self, now: int | None = None) -> AgentPass:
        """One pass: take or renew the lease and, while it is held, do every phase."""
        done = AgentPass(self.holder)
        self.leader = done.leader = self._lead()
        if not self.leader:
            self.last = done
            return done
        now = self.clock() if now is None else now
        self._phase(done, "expire stale runs", lambda: done.expired.extend(self._expire()))
        self._phase(done, "monitors", lambda: done.monitors.extend(self._monitors(now)))
        self._phase(done, "triggers", lambda: done.fired.extend(self._triggers(now)))
        self._phase(done, "runs", lambda: done.started.extend(self._runs()))
        self.leader = done.leader = self.leader and self._renew()
        self.last = done
        return done

    def running(self) -> list[str]:
        """Ids of the runs this agent's workers are executing."""
        return self._workers.running()

    def wait_for_runs(self, timeout: float | None = None) -> bool:
        """Wait for the runs this agent started; whether all ended within ``timeout``."""
        return self._workers.join(timeout)

    def _phase(self, done: AgentPass, name: str, work: Callable[[], Any]) -> None:
        if not self.leader:
            return
        if not self._renew():
            self.leader = False
            log.warning("agent %s lost the lease before %s", self.holder, name)
            return
        try:
            work()
        except Exception as exc:  # the store away for a while: the next tick tries again
            log.exception("the agent's %s failed", name)
            reason = exc.message if isinstance(exc, KeelError) else f"{type(exc).__name__}: {exc}"
            done.errors.append(f"{name}: {reason}")

    def _expire(self) -> list[str]:
        from keel.pipelines._records import expire_stale_runs

        return expire_stale_runs(self.store)

    def _monitors(self, now: int) -> list[tuple[str, str, Any]]:
        from keel.monitoring._due import run_due_monitors

        return run_due_monitors(self.store, now, should_go_on=self._renew)

    def _triggers(self, now: int) -> list[Any]:
        from keel.pipelines._firing import fire_triggers

        return fire_triggers(self.store, now=now, lease=(LEASE, self.holder))

    def _runs(self) -> list[dict[str, Any]]:
        from keel.pipelines._records import queued_runs
        from keel.pipelines._waiting import resumable_runs

        free = self._workers.free()
        if free == 0:
            return []
        busy = len(self._workers.running())
        # approvals time out in real time, whatever clock schedules are checked at
        candidates = [(r, True) for r in resumable_runs(self.store, limit=free + busy)]
        candidates += [(r, False) for r in queued_runs(self.store, limit=free + busy)]
        return self._workers.start(candidates)

    # -- the lease ------------------------------------------------------------------------

    def _lead(self) -> bool:
        got = leases.acquire(self.store, LEASE, self.holder, self.lease_ms)
        if got and not self.leader:
            where = self.store.engine.url.render_as_string(hide_password=True)
            log.info("agent %s leads on %s", self.holder, where)
        return got

    def _renew(self) -> bool:
        return leases.renew(self.store, LEASE, self.holder, self.lease_ms)

    # -- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        """Start passing every ``tick_seconds`` in a background thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="keel-agent", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the pass in progress, wait up to ``timeout`` for the runs this agent
        is executing, and release the lease (another agent takes over at its next tick).

        A run still going after ``timeout`` keeps running in its thread while the process
        lives; if the process then exits, the run's lease expires and the next agent marks
        it failed.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._workers.join(timeout)
        self.release()
        self._workers.close()

    def release(self) -> None:
        """Give the lease up now, if this agent holds it."""
        try:
            leases.release(self.store, LEASE, self.holder)
        except Exception:  # the store already closed or away: the lease expires by itself
            log.warning("agent %s could not release its lease", self.holder, exc_info=True)
        self.leader = False

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the store away for a while: try again at the next tick
                self.leader = False
                log.exception("the agent's pass failed")
            self._stop.wait(self.tick_seconds)


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name} must be a positive whole number, not {value!r}.")
    return value


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 7 * 86_400:
        raise InvalidInput(
            f"{name} must be a positive number of seconds (below a week), not {value!r}."
        )
    return float(value)
