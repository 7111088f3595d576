"""Asynchronous, batched metric logging, with a bounded buffer and a heartbeat.

``log_metric`` appends to an in-memory buffer and returns at once; a background thread
writes the buffer in bulk every half ``interval`` seconds, or sooner when it holds
``max_points`` points. Ending a run, an exception in a ``with`` block and interpreter exit
all flush.

After ``kill -9`` at most about the last ``interval`` seconds of points are lost, at any
logging rate: every ``check_every`` points the caller checks (one length comparison per
point, a clock read per ``check_every``) whether the oldest buffered point is older than
``interval`` or the buffer holds ``max_buffer`` points. If so, the background thread is
behind (a tight logging loop starves it of the GIL, or the store is slow) and the caller
writes the buffer itself: backpressure slows the loop to the speed of the store instead of
letting the buffer grow without bound.

The same thread writes a heartbeat for every live run of this process (an empty batch,
which the store records as the run's ``heartbeat_at``), so a run whose process was killed
is recognised as KILLED once its heartbeat is older than ``run_heartbeat_timeout``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref

from keel.errors import KeelError, NotFound, StoreUnavailable

from ._backend import TrackingBackend
from ._deferred import PendingRun
from ._records import CheckedPoints, MetricPoint

__all__ = ["MetricFlusher"]

log = logging.getLogger("keel.tracking")

_live: weakref.WeakSet[MetricFlusher] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    for flusher in list(_live):
        try:
            flusher.close()
        except Exception:
            log.exception("could not flush metrics at exit")


class MetricFlusher:
    """Buffers metric points per run and writes them in bulk through a backend.

    Args:
        backend: where points go.
        max_points: buffer size that wakes the background writer.
        interval: longest time, in seconds, a point waits in the buffer; also about the
            most a ``kill -9`` loses.
        batch_size: most points per ``log_batch`` call.
        max_buffer: most points ever buffered; the caller writes inline at this size,
            and if the store cannot take them, the oldest points are dropped (logged).
        heartbeat: seconds between heartbeats of the live runs; None for none.
    """

    check_every = 1024
    """Points between two of the caller's checks of the buffer's age (a clock read)."""

    def __init__(
        self,
        backend: TrackingBackend,
        *,
        max_points: int = 20_000,
        interval: float = 1.0,
        batch_size: int = 50_000,
        max_buffer: int = 500_000,
        heartbeat: float | None = 60.0,
    ) -> None:
        self.backend = backend
        self.max_points = max_points
        self.interval = interval
        self.batch_size = batch_size
        self.max_buffer = max(max_buffer, 2 * max_points)
        self.heartbeat = heartbeat
        # buffered points by run, each run's in the order logged (the batches a write
        # sends, with no regrouping), and how many in all
        self._points: dict[str, list[MetricPoint]] = {}
        self._count = 0
        self._check_at = min(self.check_every, max_points)
        self._taken_at = time.monotonic()  # every buffered point is younger than this
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._write_lock = threading.Lock()  # one writer at a time keeps flush() complete
        self._errors: dict[str, KeelError] = {}
        self._live_runs: dict[str, float] = {}  # run id -> when it last reached the store
        self._pending: dict[str, PendingRun] = {}  # deferred runs not yet written
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        """Buffer one point, checked by the run; blocks only when the writer is behind."""
        with self._lock:
            points = self._points.get(run_id)
            if points is None:
                self._points[run_id] = points = CheckedPoints()
            points.append((key, value, step, timestamp))
            self._count += 1
            due = self._count >= self._check_at
        if self._thread is None:
            self._start()
        if due:
            self._pressure()

    def add_many(self, run_id: str, points: list[MetricPoint]) -> None:
        """Buffer points of one run, (key, value, step, timestamp) tuples that the run
        has checked (see :class:`CheckedPoints`)."""
        with self._lock:
            buffered = self._points.get(run_id)
            if buffered is None:
                self._points[run_id] = buffered = CheckedPoints()
            buffered.extend(points)
            self._count += len(points)
            due = self._count >= self._check_at
        if self._thread is None:
            self._start()
        if due:
            self._pressure()

    def watch(self, run_id: str) -> None:
        """Send heartbeats for ``run_id`` until :meth:`unwatch` (its process is alive)."""
        with self._lock:
            self._live_runs[run_id] = time.monotonic()
        if self._thread is None and self.heartbeat:
            self._start()

    def unwatch(self, run_id: str) -> None:
        with self._lock:
            self._live_runs.pop(run_id, None)

    # -- deferred runs (see keel.tracking._deferred) -------------------------------------

    def defer(self, run_id: str, pending: PendingRun) -> None:
        """Hold the creation of run ``run_id`` until its end, its first flush, an
        ``interval`` or :meth:`materialize`, whichever comes first."""
        with self._lock:
            self._pending[run_id] = pending
        if self._thread is None:
            self._start()

    def materialize(self, run_id: str) -> None:
        """Write deferred run ``run_id`` now (RUNNING, with its buffered points), if it is
        still pending; once this returns, the run is in the store."""
        if run_id not in self._pending:
            return
        with self._write_lock:
            with self._lock:
                pending = self._pending.pop(run_id, None)
                points = self._points.pop(run_id, CheckedPoints())
                self._count -= len(points)
            if pending is None:
                return
            try:
                pending.write(self.backend, points)
            except BaseException:
                self._requeue([(run_id, points)], {run_id: pending})
                raise
            self._reached(run_id, time.monotonic())

    def add_to_pending(self, run_id: str, what: str, values: dict[str, str]) -> bool:
        """Add params or tags (``what``) to deferred run ``run_id``'s creation; False if it
        is not pending (written already, or never deferred)."""
        if run_id not in self._pending:
            return False
        with self._write_lock, self._lock:  # not while a writer is creating it
            pending = self._pending.get(run_id)
            if pending is None:
                return False
            pending.add(what, values)
            return True

    def take_pending(
        self, run_id: str
    ) -> tuple[list[MetricPoint], PendingRun | None, KeelError | None]:
        """Remove and return a deferred run's buffered points and its creation (None if it
        was written already), once any write in progress is done, for its end to write
        them in one go; and the first write error for ``run_id``, if any."""
        with self._write_lock, self._lock:
            points = self._points.pop(run_id, CheckedPoints())
            self._count -= len(points)
            pending = self._pending.pop(run_id, None)
        return points, pending, self._errors.pop(run_id, None)

    def flush(self, run_id: str | None = None) -> None:
        """Write every buffered point now; raise the first write error for ``run_id``."""
        self._write_pending()
        if run_id is not None and run_id in self._errors:
            raise self._errors.pop(run_id)

    def take(self, run_id: str) -> list[MetricPoint]:
        """Remove and return the points of ``run_id`` still buffered, once any write in
        progress is done, for the caller to write itself (a run's end writes them with its
        status, in one transaction); raise the first write error for ``run_id``."""
        with self._write_lock, self._lock:
            points = self._points.pop(run_id, CheckedPoints())
            self._count -= len(points)
        if run_id in self._errors:
            raise self._errors.pop(run_id)
        return points

    def give_back(
        self, run_id: str, points: list[MetricPoint], pending: PendingRun | None = None
    ) -> None:
        """Put back in front points that :meth:`take` returned and that could not be
        written (the background writer retries them), with the deferred run they create."""
        if pending is not None:
            self._requeue([(run_id, points)], {run_id: pending})
            if self._thread is None:
                self._start()
        elif points:
            self._requeue([(run_id, points)])

    def close(self) -> None:
        """Flush and stop the background thread."""
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._write_pending(every_pending=True)  # a deferred run is written, not lost

    def pending(self) -> int:
        with self._lock:
            return self._count

    def _pressure(self) -> None:
        """The caller's check every ``check_every`` points: wake the writer, or be it."""
        with self._lock:
            size = self._count
            self._check_at = size + self.check_every
            late = time.monotonic() - self._taken_at >= self.interval
        if size >= self.max_points or late:
            self._wake.set()
        if not (late or size >= self.max_buffer):
            return
        try:
            self._write_pending()
        except Exception:  # the store is down: keep logging, but within the bound
            log.exception("metric write failed; retrying in %.1f s", self.interval)
            with self._lock:
                self._taken_at = time.monotonic()  # the next attempt in an interval
                excess = self._count - (self.max_buffer - self.max_points)
                if excess > 0:
                    self._drop_oldest(excess)
            if excess > 0:
                log.error(
                    "dropped the %d oldest buffered metric points: the store cannot take "
                    "them and the buffer is at its bound of %d points",
                    excess,
                    self.max_buffer,
                )

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._loop, name="keel-metric-flusher", daemon=True
            )
            self._thread.start()
            _live.add(self)

    def _loop(self) -> None:
        # half an interval, so a healthy thread takes the buffer before the callers'
        # check finds it late and writes inline
        wait = self.interval / 2
        if self.heartbeat:
            wait = min(wait, self.heartbeat)
        while not self._closed:
            self._wake.wait(wait)
            self._wake.clear()
            try:
                self._write_pending()
            except Exception:  # keep the thread alive; points stay buffered for a retry
                log.exception("metric flush failed; retrying in %.1f s", self.interval)
            if self.heartbeat:
                self._beat()

    def _beat(self) -> None:
        """An empty batch for each live run not written to for ``heartbeat`` seconds."""
        now = time.monotonic()
        with self._lock:
            due = [
                r
                for r, at in self._live_runs.items()
                if now - at >= self.heartbeat and r not in self._pending
            ]
        for run_id in due:
            try:
                self.backend.log_batch(run_id)
            except NotFound:  # the run was deleted: nothing left to keep alive
                self.unwatch(run_id)
            except Exception:
                log.warning("could not send the heartbeat of run %s", run_id, exc_info=True)
            else:
                self._reached(run_id, now)

    def _reached(self, run_id: str, when: float) -> None:
        with self._lock:
            if run_id in self._live_runs:
                self._live_runs[run_id] = when

    def _write_pending(self, *, every_pending: bool = False) -> None:
        """Write every buffered point; create the deferred runs among them (their first
        flush), and those deferred for an ``interval`` (all of them: ``every_pending``)."""
        with self._write_lock:
            with self._lock:
                by_run, self._points, self._count = self._points, {}, 0
                self._check_at = min(self.check_every, self.max_points)
                self._taken_at = taken = time.monotonic()
                creating: dict[str, PendingRun] = {}
                if self._pending:
                    for run_id, pending in list(self._pending.items()):
                        if (
                            every_pending
                            or run_id in by_run
                            or taken - pending.since >= self.interval
                        ):
                            creating[run_id] = self._pending.pop(run_id)
                            by_run.setdefault(run_id, CheckedPoints())
            if not by_run:
                return
            runs = list(by_run.items())
            for index, (run_id, run_points) in enumerate(runs):
                pending = creating.pop(run_id, None)
                for start in range(0, max(len(run_points), 1), self.batch_size):
                    batch = run_points
                    if len(run_points) > self.batch_size:
                        batch = CheckedPoints(run_points[start : start + self.batch_size])
                    try:
                        if pending is not None:  # the first batch creates the run
                            pending.write(self.backend, batch)
                            pending = None
                        elif batch:
                            self.backend.log_batch(run_id, metrics=batch)
                    except StoreUnavailable:
                        # nothing is dropped: this run's rest and later runs go back in front
                        rest = [(run_id, run_points[start:]), *runs[index + 1 :]]
                        if pending is not None:
                            creating[run_id] = pending
                        self._requeue(rest, creating)
                        raise
                    except KeelError as exc:  # the run is gone or the points are invalid
                        self._errors[run_id] = exc
                        if pending is None:
                            log.error(
                                "dropping %d metric points of run %s: %s", len(batch), run_id, exc
                            )
                            continue
                        log.error(  # its end raises this error to the caller
                            "could not create deferred run %s with %d metric points: %s",
                            run_id,
                            len(run_points),
                            exc,
                        )
                        break
                self._reached(run_id, taken)  # a written batch is a heartbeat too

    def _requeue(
        self,
        runs: list[tuple[str, list[MetricPoint]]],
        pending: dict[str, PendingRun] | None = None,
    ) -> None:
        """Put points back in front of those buffered since (each run's stay in order),
        and deferred runs not written back among the pending."""
        with self._lock:
            if pending:
                self._pending.update(pending)
            merged: dict[str, list[MetricPoint]] = {}
            for run_id, points in runs:
                merged.setdefault(run_id, CheckedPoints()).extend(points)
            for run_id, points in self._points.items():
                merged.setdefault(run_id, CheckedPoints()).extend(points)
            self._points = merged
            self._count += sum(len(points) for _, points in runs)

    def _drop_oldest(self, excess: int) -> None:
        """Drop ``excess`` points, from the run buffered first on (called with the lock)."""
        for run_id in list(self._points):
            points = self._points[run_id]
            cut = min(excess, len(points))
            del points[:cut]
            if not points:
                del self._points[run_id]
            self._count -= cut
            excess -= cut
            if not excess:
                return
