"""Adaptive micro-batching: requests arriving together are predicted as one batch.

A bounded queue takes enforced frames (each request's rows already match the signature,
so one request's bad rows never fail another's). A worker takes the first request, lets
requests whose bytes have already arrived join, and, when traffic is concurrent (most
recent requests arrived while others were still in flight), waits at most
``max_wait_ms`` for more, up to ``max_batch_size`` rows. It concatenates the rows into
one frame, calls ``predict`` once and hands each request its slice. At concurrency 1 no
request ever waits for company. A full queue refuses at once (:class:`QueueFull`, a 503
with ``Retry-After``) instead of holding unbounded memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Batcher", "QueueFull"]

log = logging.getLogger("keel.serving")

INLINE_SECONDS = 0.002
"""A model whose last batch predicted faster than this predicts on the event loop; a
slower one in a thread, so the server keeps reading (and refusing) requests meanwhile."""


class QueueFull(Exception):
    """The batch queue holds ``max_queue`` requests already."""


class _Item:
    __slots__ = ("frame", "future", "rows")

    def __init__(self, frame: pd.DataFrame, future: asyncio.Future) -> None:
        self.frame = frame
        self.rows = len(frame)
        self.future = future


class Batcher:
    """Batches the predictions of one model version.

    Args:
        predict: the model's predict, taking one enforced frame.
        max_batch_size: most rows in one batch (a larger request is predicted alone).
        max_wait_ms: longest time the first request of a batch waits for others.
        max_queue: most requests waiting; more are refused with :class:`QueueFull`.
        on_batch: called after each batch with its row count and outputs (metrics).
    """

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], Any],
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        max_queue: int = 1024,
        on_batch: Callable[[int, Any], None] | None = None,
        columns: pd.Index | None = None,
    ) -> None:
        self.predict = predict
        self.columns = columns
        """The names of a NumPy block's columns (requests may queue blocks, not frames)."""
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None
        self._inline = True
        self._overlap = 0.0
        """Moving share of requests that arrived while another was in flight."""
        self._inflight = 0
        self._closing = False
        self._busy = False

    @property
    def depth(self) -> int:
        """Requests waiting for a batch."""
        return self._queue.qsize() if self._queue is not None else 0

    async def submit(self, frame: pd.DataFrame) -> Any:
        """The predictions for ``frame``'s rows, predicted in a batch with others.

        Raises:
            QueueFull: ``max_queue`` requests are already waiting.
        """
        if self._closing:
            # a request that began on a set of models swapped out since: it is answered
            # by this retiring version on its own, never refused
            return self.predict(self._frame([frame]))
        if self._task is None or self._task.done():
            self._start()
        assert self._queue is not None
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Item(frame, future))
        except asyncio.QueueFull:
            raise QueueFull() from None
        self._overlap = 0.9 * self._overlap + (0.1 if self._inflight else 0.0)
        self._inflight += 1
        try:
            return await future
        finally:
            self._inflight -= 1

    def _start(self) -> None:
        if self._closing:
            raise QueueFull()
        if self._queue is None:
            self._queue = asyncio.Queue(self.max_queue)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Predict every request already queued, then stop the worker."""
        self._closing = True
        if self._task is None:
            return
        while (self._busy or (self._queue is not None and not self._queue.empty())) and (
            not self._task.done()
        ):
            await asyncio.sleep(0.001)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        while self._queue is not None and not self._queue.empty():  # queued just before
            item = self._queue.get_nowait()
            await self._predict([item], item.rows)

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            first = await queue.get()
            self._busy = True
            batch = [first]
            rows = first.rows
            if rows < self.max_batch_size and self.max_wait > 0:
                rows = await self._gather(queue, batch, rows, loop)
            try:
                await self._predict(batch, rows)
            finally:
                self._busy = False

    async def _gather(
        self, queue: asyncio.Queue[_Item], batch: list[_Item], rows: int, loop: Any
    ) -> int:
        """Add waiting requests to ``batch`` until it is full or the wait is over."""
        await asyncio.sleep(0)  # requests whose bytes arrived already reach the queue
        deadline = loop.time() + self.max_wait
        while rows < self.max_batch_size:
            while not queue.empty() and rows < self.max_batch_size:
                item = queue.get_nowait()
                batch.append(item)
                rows += item.rows
            if rows >= self.max_batch_size or self._overlap < 0.5:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                break
            batch.append(item)
            rows += item.rows
        return rows

    async def _predict(self, batch: list[_Item], rows: int) -> None:
        try:
            frame = self._frame([i.frame for i in batch])
            if self._inline:
                started = time.perf_counter()
                outputs = self.predict(frame)
                self._inline = time.perf_counter() - started < INLINE_SECONDS
            else:
                started = time.perf_counter()
                outputs = await asyncio.to_thread(self.predict, frame)
                self._inline = time.perf_counter() - started < INLINE_SECONDS / 2
        except Exception as exc:  # the model failed on valid input: every caller learns it
            log.exception("predicting a batch of %d rows failed", rows)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        if not isinstance(outputs, pd.DataFrame | np.ndarray):
            outputs = np.asarray(outputs)
        if self.on_batch is not None:
            try:
                self.on_batch(rows, outputs)
            except Exception:  # metrics never fail a request
                log.exception("recording a batch failed")
        if len(batch) == 1:
            if not batch[0].future.done():
                batch[0].future.set_result(outputs)
            return
        start = 0
        for item in batch:
            end = start + item.rows
            if isinstance(outputs, pd.DataFrame):
                part = outputs.iloc[start:end]
            else:
                part = outputs[start:end]
            if not item.future.done():  # a client that left has a cancelled future
                item.future.set_result(part)
            start = end

    def _frame(self, parts: list[Any]) -> pd.DataFrame:
        """One frame of a batch's rows: blocks stacked with NumPy and named once."""
        if all(isinstance(p, np.ndarray) for p in parts):
            block = parts[0] if len(parts) == 1 else np.concatenate(parts)
            return pd.DataFrame(block, columns=self.columns, copy=False)
        frames = [
            pd.DataFrame(p, columns=self.columns, copy=False) if isinstance(p, np.ndarray) else p
            for p in parts
        ]
        return frames[0] if len(frames) == 1 else _concat(frames)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame of every row: NumPy's stack when each frame is one block of one dtype."""
    first = frames[0]
    dtypes = [_single_dtype(f) for f in frames]
    if dtypes[0] is not None and all(d == dtypes[0] for d in dtypes):
        block = np.concatenate([f.to_numpy() for f in frames])
        return pd.DataFrame(block, columns=first.columns, copy=False)
    return pd.concat(frames, ignore_index=True)


def _single_dtype(frame: pd.DataFrame) -> np.dtype | None:
    try:
        dtypes = frame._mgr.get_dtypes()
    except AttributeError:  # pragma: no cover
        dtypes = frame.dtypes.to_numpy()
    if len(dtypes) == 0:
        return None
    first = dtypes[0]
    if not isinstance(first, np.dtype) or first.kind not in "biuf":
        return None
    return first if all(d == first for d in dtypes) else None
