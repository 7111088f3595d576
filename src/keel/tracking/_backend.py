"""The tracking service interface, implemented over SQL and over HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO, Protocol

from keel.store.objects import Source

from ._records import ArtifactRecord, ExperimentRecord, MetricPoint, RunQuery, RunRecord

__all__ = ["SoftDelete", "TrackingBackend"]


class TrackingBackend(Protocol):
    """Where runs are recorded. :class:`SqlTracking` talks to a store directly;
    :class:`HttpTracking` talks to a keel server, which uses a :class:`SqlTracking`.

    Both pass the same contract tests (``tests/tracking``).
    """

    def create_run(
        self,
        experiment: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        code: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricPoint] = (),
        run_id: str | None = None,
        started_at: int | None = None,
        status: str = "RUNNING",
        error: str | None = None,
    ) -> RunRecord:
        """Create a run in ``experiment`` (created if new) with its params, tags and first
        metric points, in one write (one request over HTTP): RUNNING, or ended if
        ``status`` is FINISHED, FAILED or KILLED (a whole run at once). ``run_id`` and
        ``started_at`` are a deferred run's, chosen when it started."""
        ...

    def get_run(self, run_id: str) -> RunRecord:
        """A run with its params, tags, latest metrics and artifacts."""
        ...

    def set_status(self, run_id: str, status: str, *, error: str | None = None) -> RunRecord:
        """Move a run to ``status``; RUNNING resumes an ended run."""
        ...

    def end_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        metrics: Sequence[MetricPoint] = (),
    ) -> None:
        """End a run (FINISHED, FAILED, KILLED) with its last metric points, in one write
        (one request over HTTP); nothing is read back."""
        ...

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Record metric points, params (immutable) and tags (last write wins) at once."""
        ...

    def log_input(self, run_id: str, kind: str, object_id: str) -> None:
        """Record that the run consumed a record (lineage: ``kind --input_to--> run``)."""
        ...

    def put_artifact(self, run_id: str, name: str, kind: str, source: Source) -> ArtifactRecord:
        """Store a file or bytes as an artifact of the run."""
        ...

    def open_artifact(self, run_id: str, name: str) -> BinaryIO:
        """Read an artifact back, verified against its digest."""
        ...

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point of one metric, by step then time."""
        ...

    def search_runs(self, query: RunQuery) -> list[RunRecord]:
        """Runs matching a filter, ordered, at most ``query.max_results``."""
        ...

    def list_experiments(self) -> list[ExperimentRecord]:
        """Every experiment of the project with its number of runs."""
        ...


class SoftDelete(Protocol):
    """Deleting and restoring runs and experiments (both backends have it); see
    :mod:`keel.tracking._delete`. Each returns the record changed as a dict."""

    def delete_run(self, run_id: str) -> dict[str, Any]:
        """Hide a run from listings until it is restored or purged."""
        ...

    def restore_run(self, run_id: str) -> dict[str, Any]:
        """Bring back a deleted run."""
        ...

    def delete_experiment(self, name: str) -> dict[str, Any]:
        """Hide an experiment and its runs until restored or purged."""
        ...

    def restore_experiment(self, name: str) -> dict[str, Any]:
        """Bring back a deleted experiment."""
        ...
