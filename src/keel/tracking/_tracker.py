"""The Tracker: starts runs against one backend (a local store or a keel server)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from keel.store.actors import Actor

from ._backend import TrackingBackend
from ._flusher import MetricFlusher
from ._records import RunStatus
from ._run import Run

__all__ = ["REPRODUCES_ENV", "Tracker"]

log = logging.getLogger("keel.tracking")

REPRODUCES_ENV = "KEEL_REPRODUCES"
"""The variable of the ``reproduces`` setting, which ``keel runs reproduce`` sets for its
child: the id of the run being reproduced."""


def _reproduces() -> str | None:
    """The run this process re-runs, if ``keel runs reproduce`` started it."""
    from keel.config import setting

    return setting("reproduces", toml=False)  # handed from parent to child, never kept


class Tracker:
    """Creates and resumes runs. One per backend; a :class:`keel.Client` holds the SDK's.

    Args:
        backend: where runs are recorded.
        system_metrics: sample CPU, memory, disk, network and GPU into every run.
        heartbeat: seconds between two heartbeats of each live run (None for none); a
            fifth of the ``run_heartbeat_timeout`` setting for the default tracker.
    """

    def __init__(
        self,
        backend: TrackingBackend,
        *,
        system_metrics: bool = False,
        heartbeat: float | None = 60.0,
    ) -> None:
        self.backend = backend
        self.flusher = MetricFlusher(backend, heartbeat=heartbeat)
        self.system_metrics = system_metrics

    def start_run(
        self,
        experiment: str = "default",
        *,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        parent_id: str | None = None,
        capture: bool = True,
    ) -> Run:
        """Create a run (or resume ``run_id``) and return it, RUNNING.

        With ``capture``, the code version (git commit, branch, remote, dirty flag,
        uncommitted diff as an artifact), entry point, argv, Python, packages, OS, CPU
        and the seed given to :func:`keel.seed_everything` are recorded.
        """
        if run_id is not None:
            record = self.backend.set_status(run_id, RunStatus.RUNNING)
            run = Run(record, self.backend, self.flusher)
            with _failed_start(run):
                if params:
                    run.log_params(params)
                if tags:
                    run.set_tags(tags)
                self._start_sampler(run)
            return run
        code = environment = None
        auto_tags: dict[str, str] = {"keel.user": Actor.local().name}
        diff = None
        if capture:
            from ._capture import capture_code, capture_environment, code_diff
            from ._seed import current_seed

            code = capture_code()
            environment = dict(capture_environment())
            seed = current_seed()
            if seed is not None:
                environment["seed"] = seed
                auto_tags["keel.seed"] = str(seed)
            git = code.get("git") or {}
            for field in ("commit", "branch"):
                if git.get(field):
                    auto_tags[f"keel.git.{field}"] = git[field]
            if git.get("dirty"):
                auto_tags["keel.git.dirty"] = "true"
                diff = code_diff()
            if code.get("entry_point"):
                auto_tags["keel.entry_point"] = str(code["entry_point"])
        reproduces = _reproduces()
        if reproduces:
            auto_tags["keel.reproduces"] = reproduces
        record = self.backend.create_run(
            experiment,
            name=name,
            parent_id=parent_id,
            params=params,
            tags={**auto_tags, **(tags or {})},
            code=code,
            environment=environment,
        )
        run = Run(record, self.backend, self.flusher)
        with _failed_start(run):
            if diff:
                run.log_artifact(diff.encode(), "keel/code.diff", kind="code")
            self._start_sampler(run)
        return run

    def _start_sampler(self, run: Run) -> None:
        if not self.system_metrics:
            return
        from ._system import SystemMetricsSampler

        sampler = SystemMetricsSampler(lambda metrics, step: run.log_metrics(metrics, step=step))
        sampler.start()
        run._sampler = sampler

    def close(self) -> None:
        self.flusher.close()


@contextmanager
def _failed_start(run: Run) -> Iterator[None]:
    """Start heartbeats for ``run``; if starting it fails, end it FAILED, never RUNNING."""
    run._flusher.watch(run.id)
    try:
        yield
    except BaseException as exc:
        try:
            run.end(RunStatus.FAILED, error=f"The run could not start: {type(exc).__name__}: {exc}")
        except Exception:  # the store is down: the heartbeat timeout will end it KILLED
            log.warning("could not mark run %s FAILED after a failed start", run.id, exc_info=True)
        raise
