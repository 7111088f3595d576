"""Executing pipeline runs in worker threads, at most so many at once.

The agent hands each queued run, and each waiting run whose approvals were all decided,
to ``execute(client, run_id, holder=...)`` in a thread of its own (by default
``keel.pipelines.execute_run``, imported on first use), so its tick never waits for a run.
``execute`` claims the run, renews its lease while it runs and releases it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from keel.store import Store

__all__ = ["Execute", "RunWorkers", "default_execute"]

log = logging.getLogger("keel.agent")

Execute = Callable[..., Any]
"""``execute(client, run_id, *, holder)``: claims, runs and releases one pipeline run."""


def default_execute() -> Execute:
    """``keel.pipelines.execute_run`` (imported on first use: the agent's import stays light)."""
    from keel.pipelines import execute_run

    return execute_run


class RunWorkers:
    """Threads executing runs for one agent: never two for one run, at most ``max_runs``."""

    def __init__(self, client: Any, holder: str, max_runs: int, execute: Execute | None) -> None:
        self.client = client
        self.holder = holder
        self.max_runs = max_runs
        self._execute = execute
        self._threads: dict[str, threading.Thread] = {}
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        return self.client.store

    def running(self) -> list[str]:
        """Ids of the runs being executed now."""
        with self._lock:
            self._threads = {k: v for k, v in self._threads.items() if v.is_alive()}
            return list(self._threads)

    def free(self) -> int:
        """How many more runs may start now."""
        return max(0, self.max_runs - len(self.running()))

    def start(self, candidates: list[tuple[dict[str, Any], bool]]) -> list[dict[str, Any]]:
        """Start the first candidates ``(run row, resumed)`` not already running, as many
        as there are free slots; the ones started."""
        if self._execute is None:
            self._execute = default_execute()
        execute = self._execute
        started = []
        busy = set(self.running())
        for run, resumed in candidates:
            if len(busy) >= self.max_runs:
                break
            if run["id"] in busy:
                continue
            client = self._client_for(run["project"])
            thread = threading.Thread(
                target=self._one,
                args=(execute, client, run["id"]),
                name=f"keel-run-{run['id'][:8]}",
                daemon=True,
            )
            with self._lock:
                self._threads[run["id"]] = thread
            busy.add(run["id"])
            thread.start()
            started.append({**_summary(run), "resumed": resumed})
        return started

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the runs in progress; whether they all ended within ``timeout``."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self._threads.values()):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return not self.running()

    def close(self) -> None:
        """Close the clients made for other projects."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    # -- inside -------------------------------------------------------------------------

    def _client_for(self, project: str) -> Any:
        """A client of the run's project over the same configuration."""
        if project == self.client.config.project:
            return self.client
        with self._lock:
            if project not in self._clients:
                from keel.client import Client

                config = dataclasses.replace(self.client.config, project=project)
                self._clients[project] = Client(config=config)
            return self._clients[project]

    def _one(self, execute: Execute, client: Any, run_id: str) -> None:
        try:
            execute(client, run_id, holder=self.holder)
        except Exception as exc:  # the executor's own failure: fail the run if still ours
            from keel.pipelines._records import release_run

            log.exception("executing pipeline run %s failed", run_id)
            try:
                error = f"the agent could not execute it: {type(exc).__name__}: {exc}"
                release_run(self.store, run_id, self.holder, "failed", error=error)
            except Exception:
                log.exception("could not mark pipeline run %s failed", run_id)


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    return {"id": run["id"], "project": run["project"], "pipeline": run["pipeline"]}
