"""Prediction logging: every served prediction, buffered in memory and flushed as Parquet.

The model server calls :meth:`PredictionLogger.log` once per request, on the response
path, so logging costs an append under a lock: no I/O, no Arrow, no exception. A
background thread hands what is buffered on as one part when ``flush_rows`` rows have
gathered, every ``flush_seconds``, and on :meth:`~PredictionLogger.close` (the model
server calls it on SIGTERM) to a writer *process*, which builds the Arrow table, encodes
the Parquet and writes it to the lake (see :mod:`keel.serving._logwriter`): the serving
process only transposes and pickles the buffer. A writer process that dies is restarted
(with a warning in the log) and sent again what it had not written. The deployment's
logging policy applies before anything is kept: a request is sampled or not as a whole,
``exclude`` drops columns and ``hash`` replaces values by a keyed hash (see
:mod:`keel.serving._hashing`), so an excluded or hashed value never reaches the buffer,
the writer process, the Parquet bytes or the lake.

Example::

    logger = PredictionLogger(client.predictions, deployment="credit-scoring",
                              policy=LoggingPolicy(exclude=("ssn",), hash=("customer_id",)))
    logger.log(request_id=new_id(), at_ms=now_ms(), model_version="credit:4",
               route="@champion", inputs=frame, outputs=model.predict(frame), latency_ms=1.2)
    logger.close()
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from keel.deploy.spec import LoggingPolicy
from keel.errors import InvalidInput

from ._hashing import hash_values
from ._logtables import LogBatch, Rows, column_names, feedback_table
from ._logwriter import ProcessWriter, ThreadWriter, sink_recipe

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["PredictionLogger", "PredictionSink"]

log_ = logging.getLogger("keel.serving.predlog")

MAX_BUFFERED_FACTOR = 10
"""Rows held while the sink fails, as a multiple of ``flush_rows``; past it new rows drop."""


class PredictionSink(Protocol):
    """Where a logger writes its parts: ``client.predictions`` (either transport)."""

    project: str

    def write(self, kind: str, deployment: str, table: pa.Table) -> str: ...

    def hash_key(self) -> bytes: ...


class PredictionLogger:
    """Buffers served predictions and feedback and writes them to ``sink`` as Parquet parts.

    Args:
        sink: where parts go (``client.predictions``).
        deployment: the deployment's name, written in every row.
        policy: the deployment's logging policy (sample, exclude, hash).
        flush_rows: write a part once this many rows are buffered; the
            ``predictions_flush_rows`` setting by default.
        flush_seconds: write what is buffered at least this often; the
            ``predictions_flush_seconds`` setting by default.
        salt: the key of the hash of ``policy.hash`` columns; the project's (from the
            sink) by default. Give the same one everywhere a project's logs are joined.
        sticky_key: the input column the request's ``key`` comes from; the key is hashed
            when that column is. Unknown (None): the key is hashed whenever any column is.
        writer: ``"process"`` to build and write parts in a child process (the default
            for ``client.predictions``), ``"thread"`` to do it in this process's
            background thread (the only choice for a sink of your own).
    """

    def __init__(
        self,
        sink: PredictionSink,
        *,
        deployment: str,
        policy: LoggingPolicy | None = None,
        flush_rows: int | None = None,
        flush_seconds: float | None = None,
        salt: bytes | None = None,
        sticky_key: str | None = None,
        writer: str | None = None,
    ) -> None:
        policy = policy or LoggingPolicy()
        if not isinstance(policy, LoggingPolicy):
            raise InvalidInput(f"policy must be a LoggingPolicy. Got {type(policy).__name__}.")
        if not isinstance(deployment, str) or not deployment:
            raise InvalidInput(f"deployment must be the deployment's name. Got {deployment!r}.")
        self.sink = sink
        self.deployment = deployment
        self.policy = policy
        config = getattr(sink, "config", None)
        self.flush_rows = _positive("flush_rows", flush_rows, "predictions_flush_rows", config)
        self.flush_seconds = float(
            _positive("flush_seconds", flush_seconds, "predictions_flush_seconds", config)
        )
        if self.flush_rows != int(self.flush_rows):
            raise InvalidInput(f"flush_rows must be a whole number. Got {flush_rows!r}.")
        self.flush_rows = int(self.flush_rows)
        self._exclude = frozenset(policy.exclude)
        self._hash = frozenset(policy.hash)
        self._key = None
        if self._hash:
            self._key = salt if salt is not None else sink.hash_key()
            if not isinstance(self._key, bytes) or len(self._key) < 16:
                raise InvalidInput("salt must be at least 16 bytes.")
        self._hash_key = bool(self._hash) and (sticky_key is None or sticky_key in self._hash)
        hashed = sorted(self._hash) + (["key"] if self._hash_key else [])
        recipe = sink_recipe(sink)
        if writer not in (None, "process", "thread"):
            raise InvalidInput(f"writer must be 'process' or 'thread'. Got {writer!r}.")
        if writer == "process" and recipe is None:
            raise InvalidInput(
                f"writer='process' needs a sink keel can open in another process "
                f"(client.predictions); got a {type(sink).__name__}. Use writer='thread'."
            )
        self._writer: ProcessWriter | ThreadWriter = (
            ThreadWriter(sink, deployment, hashed, self._done)
            if writer == "thread" or recipe is None
            else ProcessWriter(recipe, deployment, hashed, self._done)
        )
        self._random = random.Random()
        self._lock = threading.Lock()
        self._requests: list[tuple] = []
        self._feedback: list[dict[str, Any]] = []
        self._rows = 0
        self._wake = threading.Event()
        self._closed = False
        self._write_lock = threading.Lock()
        self.stats: dict[str, int] = {
            "requests": 0,
            "rows": 0,
            "sampled_out": 0,
            "dropped": 0,
            "feedback": 0,
            "parts": 0,
            "rows_written": 0,
            "errors": 0,
        }
        self._thread = threading.Thread(
            target=self._run, name=f"keel-predlog-{deployment}", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return (
            f"PredictionLogger(deployment={self.deployment!r}, policy={self.policy!r}, "
            f"flush_rows={self.flush_rows}, flush_seconds={self.flush_seconds})"
        )

    # -- the response path --------------------------------------------------------------

    def log(
        self,
        *,
        request_id: str,
        at_ms: int,
        model_version: str,
        route: str,
        inputs: pd.DataFrame | np.ndarray,
        outputs: Any,
        latency_ms: float,
        key: str | None = None,
        columns: Any = None,
    ) -> None:
        """Buffer one request's predictions (one output per input row). Never raises:
        a request that cannot be logged is counted in ``stats["errors"]`` and logged.

        ``inputs`` is a DataFrame, or a 2-D array whose columns ``columns`` names (the
        model server's one block per request)."""
        try:
            if not self.policy.enabled or self._closed:
                return
            if self.policy.sample < 1.0 and self._random.random() >= self.policy.sample:
                self._count("sampled_out")
                return
            if isinstance(inputs, np.ndarray) and not (self._exclude or self._hash):
                inputs = Rows.of_block(inputs, columns)
            else:
                if isinstance(inputs, np.ndarray):
                    import pandas as pd

                    inputs = pd.DataFrame(inputs, columns=columns, copy=False)
                inputs = Rows(self._apply(inputs))
            outputs = np.asarray(outputs)
            n = len(inputs)
            if outputs.ndim not in (1, 2) or len(outputs) != n:
                raise InvalidInput(
                    f"outputs must hold one prediction per input row ({n}); got shape "
                    f"{outputs.shape}."
                )
            if outputs.ndim == 2 and outputs.shape[1] == 1:
                outputs = outputs[:, 0]
            if key is not None:
                key = str(key)
                if self._hash_key:
                    key = hash_values(self._key, [key])[0]
            item = (
                str(request_id),
                int(at_ms),
                str(model_version),
                str(route),
                key,
                float(latency_ms),
                inputs,
                outputs,
            )
            with self._lock:
                if self._rows + n > self.flush_rows * MAX_BUFFERED_FACTOR:
                    self.stats["dropped"] += n
                    return
                self._requests.append(item)
                self._rows += n
                self.stats["requests"] += 1
                self.stats["rows"] += n
                full = self._rows >= self.flush_rows
            if full:
                self._wake.set()
        except Exception as exc:  # logging must never break serving
            self._count("errors")
            log_.warning("prediction log of request %s dropped: %s", request_id, exc)

    def _apply(self, inputs: Any) -> pd.DataFrame:
        """The inputs as they may be kept: excluded columns gone, hashed ones hashed."""
        import pandas as pd

        if not isinstance(inputs, pd.DataFrame):
            inputs = pd.DataFrame(inputs)
        if not self._exclude and not self._hash:
            return inputs
        names = column_names(inputs.columns)
        drop = [c for c in names if c in self._exclude]
        hashed = [c for c in names if c in self._hash]
        if not drop and not hashed:
            return inputs
        kept = inputs.drop(columns=drop) if drop else inputs.copy()
        for column in hashed:
            values = kept[column].astype(object).where(kept[column].notna(), None)
            kept[column] = pd.array(hash_values(self._key, values.tolist()), dtype="string")
        return kept

    def feedback(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Buffer ground truth: ``{"request_id" or "key": ..., "label": ..., "at_ms"?}``.

        Raises:
            InvalidInput: a row has neither request_id nor key, or no label; nothing of
                the call is kept (feedback comes from a client, who should hear it).
        """
        from keel.store import now_ms

        if isinstance(rows, Mapping) or not isinstance(rows, Sequence):
            raise InvalidInput("feedback takes a list of rows, each a mapping.")
        checked = []
        now = now_ms()
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InvalidInput(f"feedback row {i} is not a mapping: {str(row)[:60]!r}.")
            unknown = set(row) - {"request_id", "key", "label", "at_ms"}
            if unknown:
                raise InvalidInput(
                    f"feedback row {i} has unknown field {sorted(unknown)[0]!r}; give "
                    "request_id or key, label and optionally at_ms."
                )
            if row.get("request_id") is None and row.get("key") is None:
                raise InvalidInput(f"feedback row {i} needs a request_id or a key.")
            if "label" not in row or row["label"] is None:
                raise InvalidInput(f"feedback row {i} needs a label.")
            at = row.get("at_ms", now)
            if isinstance(at, bool) or not isinstance(at, int) or at < 0:
                raise InvalidInput(f"feedback row {i}: at_ms must be epoch milliseconds.")
            key = row.get("key")
            if key is not None:
                key = str(key)
                if self._hash_key:
                    key = hash_values(self._key, [key])[0]
            request_id = row.get("request_id")
            checked.append(
                {
                    "request_id": None if request_id is None else str(request_id),
                    "key": key,
                    "label": row["label"],
                    "at_ms": at,
                }
            )
        if checked:
            feedback_table(self.deployment, checked)  # refuses labels Parquet cannot hold
        with self._lock:
            self._feedback.extend(checked)
            self.stats["feedback"] += len(checked)
        self._wake.set()

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    # -- writing ------------------------------------------------------------------------

    @property
    def writer_pid(self) -> int | None:
        """The id of the process writing the parts (None: this one's thread, or none
        started yet)."""
        return self._writer.pid

    def flush(self) -> None:
        """Write what is buffered now (one part of predictions, one of feedback) and wait
        until everything handed on so far is written."""
        self._hand_off()
        if not self._writer.wait():
            log_.warning("prediction log parts of %s still unwritten after 60 s", self.deployment)

    def _hand_off(self) -> None:
        """Give the buffered requests and feedback to the writer (the background thread,
        flush and close call this)."""
        with self._write_lock:
            with self._lock:
                requests, self._requests, self._rows = self._requests, [], 0
                feedback, self._feedback = self._feedback, []
            for kind, items in (("predictions", requests), ("feedback", feedback)):
                if not items:
                    continue
                try:
                    self._writer.submit(kind, LogBatch(items) if kind == "predictions" else items)
                except Exception as exc:
                    rows = sum(i[6].n for i in items) if kind == "predictions" else len(items)
                    self._done(kind, rows, str(exc), False)

    def _done(self, kind: str, rows: int, error: str | None, expected: bool) -> None:
        """The writer wrote one part (``error`` None) or could not (and said why)."""
        with self._lock:
            if error is None:
                self.stats["parts"] += 1
                if kind == "predictions":
                    self.stats["rows_written"] += rows
                return
            self.stats["errors"] += 1
            self.stats["dropped"] += rows
        level = logging.WARNING if expected else logging.ERROR
        log_.log(level, "%d %s rows of %s not written: %s", rows, kind, self.deployment, error)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._closed:
                break
            self._hand_off()

    def close(self) -> None:
        """Flush what is buffered and stop the background writer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join()
        self._hand_off()
        self._writer.close()

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _positive(name: str, value: Any, setting_name: str, config: Any) -> int | float:
    """``value``, checked, or the setting of the sink's configuration (or this process's)."""
    if value is None:
        if config is not None:
            return getattr(config, setting_name)
        from keel.config import setting

        return setting(setting_name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidInput(
            f"{name} must be a positive number. Got {value!r}; leave it out to use the "
            f"{setting_name} setting."
        )
    return value
