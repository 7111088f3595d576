"""Asynchronous, batched metric logging.

``log_metric`` appends to an in-memory buffer and returns at once; a background thread
writes the buffer in bulk when it holds ``max_points`` points or every ``interval``
seconds, whichever comes first. Ending a run, an exception in a ``with`` block and
interpreter exit all flush. After ``kill -9`` at most the last interval's points are lost.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import defaultdict

from keel.errors import KeelError, StoreUnavailable

from ._backend import TrackingBackend
from ._records import MetricPoint

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
        max_points: buffer size that triggers a write.
        interval: longest time, in seconds, a point waits in the buffer.
        batch_size: most points per ``log_batch`` call.
    """

    def __init__(
        self,
        backend: TrackingBackend,
        *,
        max_points: int = 20_000,
        interval: float = 1.0,
        batch_size: int = 50_000,
    ) -> None:
        self.backend = backend
        self.max_points = max_points
        self.interval = interval
        self.batch_size = batch_size
        self._points: list[tuple[str, str, float, int, int]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._write_lock = threading.Lock()  # one writer at a time keeps flush() complete
        self._errors: dict[str, KeelError] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        """Buffer one point; never blocks on I/O."""
        with self._lock:
            self._points.append((run_id, key, value, step, timestamp))
            full = len(self._points) >= self.max_points
        if self._thread is None:
            self._start()
        if full:
            self._wake.set()

    def add_many(self, run_id: str, points: list[MetricPoint]) -> None:
        with self._lock:
            self._points.extend((run_id, k, v, s, ts) for k, v, s, ts in points)
            full = len(self._points) >= self.max_points
        if self._thread is None:
            self._start()
        if full:
            self._wake.set()

    def flush(self, run_id: str | None = None) -> None:
        """Write every buffered point now; raise the first write error for ``run_id``."""
        self._write_pending()
        if run_id is not None and run_id in self._errors:
            raise self._errors.pop(run_id)

    def close(self) -> None:
        """Flush and stop the background thread."""
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._write_pending()

    def pending(self) -> int:
        with self._lock:
            return len(self._points)

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
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._write_pending()
            except Exception:  # keep the thread alive; points stay buffered for a retry
                log.exception("metric flush failed; retrying in %.1f s", self.interval)

    def _write_pending(self) -> None:
        with self._write_lock:
            with self._lock:
                points, self._points = self._points, []
            if not points:
                return
            by_run: dict[str, list[MetricPoint]] = defaultdict(list)
            for run_id, key, value, step, ts in points:
                by_run[run_id].append((key, value, step, ts))
            runs = list(by_run.items())
            for index, (run_id, run_points) in enumerate(runs):
                for start in range(0, len(run_points), self.batch_size):
                    batch = run_points[start : start + self.batch_size]
                    try:
                        self.backend.log_batch(run_id, metrics=batch)
                    except StoreUnavailable:
                        # nothing is dropped: this run's rest and later runs go back in front
                        rest = [(run_id, run_points[start:]), *runs[index + 1 :]]
                        self._requeue(rest)
                        raise
                    except KeelError as exc:  # the run is gone or the points are invalid
                        log.error(
                            "dropping %d metric points of run %s: %s", len(batch), run_id, exc
                        )
                        self._errors[run_id] = exc

    def _requeue(self, runs: list[tuple[str, list[MetricPoint]]]) -> None:
        with self._lock:
            self._points[:0] = [
                (run_id, k, v, s, ts) for run_id, points in runs for k, v, s, ts in points
            ]
