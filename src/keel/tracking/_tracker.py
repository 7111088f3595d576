"""The Tracker: starts runs against one backend (a local store or a keel server)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from keel.errors import InvalidInput
from keel.store import new_id, now_ms
from keel.store.actors import Actor

from ._backend import TrackingBackend
from ._deferred import PendingRun
from ._flusher import MetricFlusher
from ._names import random_run_name
from ._records import RunRecord, RunStatus
from ._run import Run
from ._validate import MAX_NAME, check_key, check_text, text_values

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
        self._user: str | None = None

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
        deferred: bool = False,
    ) -> Run:
        """Create a run (or resume ``run_id``) and return it, RUNNING.

        With ``capture``, the code version (git commit, branch, remote, dirty flag,
        uncommitted diff as an artifact), entry point, argv, Python, packages, OS, CPU
        and the seed given to :func:`keel.seed_everything` are recorded.

        ``deferred`` (opt-in) holds the run back until it is known whole: a short run is
        then one write transaction (one request to a server) instead of two, created
        ended with its params, tags and metrics. Its id and start time are taken now; it
        is written at its end, at the first background flush of its metrics, about a
        second (the flusher's interval) after it started, or when something needs it
        stored (an artifact, an input, ``run.info``, a child run), whichever comes first.
        The trade-off: until then no other process sees it, and a process killed before
        leaves no trace of it (an ordinary run is left RUNNING, then reported KILLED); a
        deleted experiment or a bad value found by the store is raised at the run's end.
        Either way a reader never sees the run half written. See
        :mod:`keel.tracking._deferred`.
        """
        if deferred and run_id is not None:
            raise InvalidInput(
                "start_run(deferred=True) is for a new run; a resumed run (run_id=...) is "
                "in the store already."
            )
        if parent_id is not None:
            self.flusher.materialize(parent_id)  # a deferred parent is written first
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
        if self._user is None:  # getpass reads the password database: once per tracker
            self._user = Actor.local().name
        auto_tags: dict[str, str] = {"keel.user": self._user}
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
        if deferred:
            run = self._deferred_run(
                experiment,
                name,
                parent_id,
                params,
                {**auto_tags, **(tags or {})},
                code,
                environment,
            )
            with _failed_start(run):
                if diff:
                    run.log_artifact(diff.encode(), "keel/code.diff", kind="code")
                self._start_sampler(run)
            return run
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

    def _deferred_run(
        self,
        experiment: str,
        name: str | None,
        parent_id: str | None,
        params: Mapping[str, Any] | None,
        tags: Mapping[str, Any],
        code: dict[str, Any] | None,
        environment: dict[str, Any] | None,
    ) -> Run:
        """A run held back until it is known whole; its names and values are checked now,
        as the store would check them."""
        check_key("experiment", experiment, MAX_NAME)
        if name is not None:
            check_key("run", name, MAX_NAME)
        if parent_id is not None:
            check_text("parent run id", parent_id)
        params, tags = text_values("param", params), text_values("tag", tags)
        run_id, now = new_id(), now_ms()
        fields = {
            "run_id": run_id,
            "started_at": now,
            "name": name or random_run_name(),
            "parent_id": parent_id,
            "params": params,
            "tags": tags,
            "code": code,
            "environment": environment,
        }
        record = RunRecord(
            id=run_id,
            experiment=experiment,
            experiment_id="",  # known once written (read run.info)
            name=fields["name"],
            status=RunStatus.RUNNING,
            created_at=now,
            started_at=now,
            parent_id=parent_id,
            params=dict(params),
            tags=dict(tags),
            code=code,
            environment=environment,
        )
        self.flusher.defer(run_id, PendingRun(experiment, fields))
        return Run(record, self.backend, self.flusher, deferred=True)

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
