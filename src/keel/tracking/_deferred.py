"""A deferred run: one held in memory until it is written whole, in one transaction.

``start_run(deferred=True)`` (see :meth:`keel.tracking.Tracker.start_run`) makes a run
whose creation waits: its id and start time are chosen at once, but nothing reaches the
store until the first of

- its end: the run is created ended, with its params, tags and every buffered metric
  point, in one write transaction (one request over HTTP);
- the first background flush of its metrics, or an ``interval`` (about a second) after it
  started: it is created RUNNING with what it has so far, and goes on as any run;
- anything that needs it stored: an artifact, an input, ``run.info``, a metric history,
  a child run.

The trade-off: until then, no other process sees the run (not in a search, the UI or
``keel runs ls``), and a process killed in that time leaves no trace of it at all (an
ordinary run is left RUNNING, then reported KILLED). A run written in one transaction is
never seen half written: a reader sees all of it or nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ._backend import TrackingBackend
from ._records import MetricPoint, RunRecord, RunStatus
from ._validate import CheckedText

__all__ = ["PendingRun"]


class PendingRun:
    """What creating a deferred run needs; its final status once it has ended.

    Args:
        experiment: the run's experiment.
        fields: the other arguments of ``create_run`` (``run_id``, ``started_at``, name,
            parent, params, tags, code, environment).
    """

    __slots__ = ("error", "experiment", "fields", "since", "status")

    def __init__(self, experiment: str, fields: Mapping[str, Any]) -> None:
        self.experiment = experiment
        self.fields = dict(fields)
        self.since = time.monotonic()
        self.status: str = RunStatus.RUNNING
        self.error: str | None = None

    def add(self, what: str, values: Mapping[str, str]) -> None:
        """Add params or tags (``what``), checked by the run, to what will be written."""
        merged = CheckedText(self.fields.get(what) or {})
        merged.update(values)
        self.fields[what] = merged

    def write(self, backend: TrackingBackend, points: Sequence[MetricPoint]) -> RunRecord:
        """Create the run with ``points``, RUNNING or as it ended, in one write."""
        return backend.create_run(
            self.experiment, **self.fields, metrics=points, status=self.status, error=self.error
        )
