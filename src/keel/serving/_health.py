"""The model server's own service health, recorded continuously off the request path.

Each process counts, per model version, the prediction requests it answered, how many
failed (5xx) and how many it refused (4xx), and samples their latencies. Every
``serve_health_seconds`` a background thread closes the interval and writes one row per
version (versions served but not asked get a row of zeros, so a quiet interval reads as
quiet, not as missing). Intervals end on multiples of the interval on the wall clock, so
the rows of several workers of one deployment share a ``bucket_ms`` and the platform sums
them (see :mod:`keel.deploy._stats`).

A write that fails (the store is slow or away) is logged and retried at the next interval
with the rows it had; each row carries an id chosen here, which the store skips when it
already holds it, so a retry never counts twice. :meth:`HealthRecorder.close` (the
server's graceful shutdown) writes the last, partial interval.
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from keel.errors import KeelError
from keel.store import new_id

__all__ = ["HealthRecorder"]

log = logging.getLogger("keel.serving")

MAX_LATENCIES = 10_000
"""Latencies kept per version and interval for its percentiles (a uniform sample past it)."""
MAX_PENDING = 10_000
"""Rows kept for a store that stays away (the oldest are dropped past it, with a warning)."""
CHUNK = 1000
"""Rows per write (the store's limit per call)."""


class _Counts:
    __slots__ = ("client_errors", "errors", "latencies", "requests")

    def __init__(self) -> None:
        self.requests = self.errors = self.client_errors = 0
        self.latencies: list[float] = []


class HealthRecorder:
    """Counts requests per model version and writes them every ``interval`` seconds.

    Args:
        write: records a list of rows and returns (``client.deployments.record_health``
            bound to the deployment's name); it may raise, and is then retried.
        interval: seconds per interval (``serve_health_seconds``).
        served: the versions served now, each given a row even when not asked.
        worker: this process's name in the rows (host:pid by default).
        clock: seconds since the epoch (tests may pass their own).

    Example::

        recorder = HealthRecorder(rows.extend, interval=0.2)
        recorder.observe("credit:1", 200, 0.004)
        recorder.flush()  # rows now holds one row for credit:1
    """

    def __init__(
        self,
        write: Callable[[list[dict[str, Any]]], Any],
        *,
        interval: float,
        served: Callable[[], Iterable[str]] | None = None,
        worker: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (isinstance(interval, int | float) and math.isfinite(interval) and interval > 0):
            raise ValueError(f"The health interval must be a positive number, not {interval!r}.")
        self.write = write
        self.interval = float(interval)
        self.served = served
        self.worker = (worker or f"{socket.gethostname()}:{os.getpid()}")[:100]
        self.clock = clock
        self.pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards the window: requests add to it
        self._flushing = threading.Lock()  # one flush at a time: the thread's or close's
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._window, self._start_ms = self._new_window()

    def __repr__(self) -> str:
        return f"HealthRecorder(interval={self.interval!r}, worker={self.worker!r})"

    def _new_window(self) -> tuple[dict[str, _Counts], int]:
        return {}, int(self.clock() * 1000)

    def _bucket(self, at_ms: int) -> int:
        step = self.interval * 1000.0
        return int(math.floor(at_ms / step) * step)

    # -- the request path: a lock and a few additions ---------------------------------------

    def observe(self, version: str, status: int, seconds: float) -> None:
        """Count one prediction request: its version ("" when refused before routing),
        HTTP status and latency."""
        with self._lock:
            counts = self._window.get(version)
            if counts is None:
                counts = self._window[version] = _Counts()
            counts.requests += 1
            if status >= 500:
                counts.errors += 1
            elif status >= 400:
                counts.client_errors += 1
            kept = counts.latencies
            if len(kept) < MAX_LATENCIES:
                kept.append(seconds * 1000.0)
            else:  # reservoir sampling keeps a uniform sample of the interval's latencies
                slot = random.randrange(counts.requests)
                if slot < MAX_LATENCIES:
                    kept[slot] = seconds * 1000.0

    # -- the background thread ----------------------------------------------------------------

    def start(self) -> None:
        """Start the thread that writes every interval (once; later calls do nothing)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="keel-health", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            now_ms = self.clock() * 1000.0
            step = self.interval * 1000.0
            boundary = (math.floor(now_ms / step) + 1) * step
            if self._stop.wait(max(0.0, (boundary - now_ms) / 1000.0)):
                return
            try:
                self.flush()
            except Exception:  # never let the thread die: the next interval retries
                log.exception("recording service health failed")

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and write the last, partial interval (a graceful shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if not self.flush(wait=timeout):
            log.error(
                "service health: %d rows could not be written before the server stopped",
                len(self.pending),
            )

    def flush(self, wait: float = -1) -> bool:
        """End the interval now and write every row not yet written; True when none is left,
        False when some wait for the next try (the failure is logged). Rows the store
        refuses for good (a 4xx: a reader's token, an invalid row) are logged and dropped.

        Args:
            wait: longest to wait for a flush in progress, in seconds (-1: as long as it
                takes); past it nothing is written and False is returned.
        """
        if not self._flushing.acquire(timeout=wait):
            return False
        try:
            return self._flush()
        finally:
            self._flushing.release()

    def _flush(self) -> bool:
        with self._lock:
            window, start_ms = self._window, self._start_ms
            self._window, self._start_ms = self._new_window()
        end_ms = self._start_ms
        self.pending.extend(self._rows(window, start_ms, end_ms))
        if len(self.pending) > MAX_PENDING:
            dropped = len(self.pending) - MAX_PENDING
            log.warning("service health: the store stayed away; %d oldest rows dropped", dropped)
            del self.pending[:dropped]
        while self.pending:
            chunk = self.pending[:CHUNK]
            try:
                self.write(chunk)
            except KeelError as exc:
                if not _refused(exc):
                    self._retry_later(exc)
                    return False
                # refused for good (a reader token, a row the store calls invalid):
                # retrying would refuse again and hold the rows forever
                log.error(
                    "service health: the store refused %d rows (%s: %s); they are dropped",
                    len(chunk),
                    type(exc).__name__,
                    exc,
                )
            except Exception as exc:
                self._retry_later(exc)
                return False
            del self.pending[: len(chunk)]
        return True

    def _retry_later(self, exc: Exception) -> None:
        log.warning(
            "service health: writing %d rows failed (%s: %s); retrying in %gs",
            len(self.pending),
            type(exc).__name__,
            exc,
            self.interval,
        )

    def _rows(
        self, window: Mapping[str, _Counts], start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]:
        versions = dict(window)
        if self.served is not None:
            try:
                for version in self.served():
                    versions.setdefault(version, _Counts())
            except Exception:  # the served set is a nicety; the counts are what matter
                log.debug("service health: listing served versions failed", exc_info=True)
        bucket = self._bucket(start_ms)
        rows = []
        for version, counts in sorted(versions.items()):
            p50 = p99 = None
            if counts.latencies:
                p50, p99 = (float(x) for x in np.percentile(counts.latencies, [50, 99]))
            rows.append(
                {
                    "id": new_id(),
                    "worker": self.worker,
                    "model_version": version,
                    "bucket_ms": bucket,
                    "start_ms": start_ms,
                    "end_ms": max(end_ms, start_ms),
                    "requests": counts.requests,
                    "errors": counts.errors,
                    "client_errors": counts.client_errors,
                    "p50_ms": p50,
                    "p99_ms": p99,
                }
            )
        return rows


def _refused(exc: KeelError) -> bool:
    """Whether the store refused the rows for good (a 4xx but a timeout or a rate limit)."""
    status = getattr(exc, "status_code", 500)
    return 400 <= status < 500 and status not in (408, 409, 429)
