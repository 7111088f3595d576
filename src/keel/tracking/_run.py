"""A tracked run: what a data scientist logs params, metrics and artifacts to."""

from __future__ import annotations

import io
import logging
import os
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidInput

from ._records import ArtifactRecord, CheckedPoints, RunRecord, RunStatus
from ._validate import (
    INT64_MAX,
    check_key,
    check_step,
    check_timestamp,
    limit_text,
    metric_value,
    text_values,
)

if TYPE_CHECKING:
    import pandas as pd

    from ._backend import TrackingBackend
    from ._flusher import MetricFlusher
    from ._system import SystemMetricsSampler

__all__ = ["Run"]

log = logging.getLogger("keel.tracking")

_MAX_TRACEBACK = 32_000
"""Characters of a failed run's traceback kept (its end), well below max_field_kb."""


class Run:
    """A run in progress. Use it as a context manager, or call :meth:`end`.

    Metric logging is buffered and written in the background (see
    :mod:`keel.tracking._flusher`); params, tags and artifacts are written at once.
    Leaving a ``with`` block normally marks the run FINISHED; an exception marks it
    FAILED and stores the traceback; Ctrl-C marks it KILLED.

    A ``deferred`` run is not written until its end, its first flush or anything that
    needs it stored (see :mod:`keel.tracking._deferred`): params and tags logged until
    then are written with it, in the same one transaction.
    """

    def __init__(
        self,
        record: RunRecord,
        backend: TrackingBackend,
        flusher: MetricFlusher,
        *,
        deferred: bool = False,
    ) -> None:
        self._record = record
        self._deferred = deferred
        self._backend = backend
        self._flusher = flusher
        self._params: dict[str, str] = dict(record.params)
        self._steps: dict[str, int] = {}
        self._keys: set[str] = set()  # metric names already checked
        self._sampler: SystemMetricsSampler | None = None
        self._on_end: list = []
        self.ended = False

    # -- identity -----------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def experiment(self) -> str:
        return self._record.experiment

    @property
    def parent_id(self) -> str | None:
        return self._record.parent_id

    @property
    def info(self) -> RunRecord:
        """Everything recorded so far, read back from the store (flushes metrics first)."""
        self._written()
        self._flusher.flush(self.id)
        self._record = self._backend.get_run(self.id)
        return self._record

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, name={self.name!r}, experiment={self.experiment!r})"

    # -- params and tags ------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Record a hyperparameter. Params are immutable: a different value is an error."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several params at once."""
        values = text_values("param", params)
        for key, value in values.items():
            if key in self._params and self._params[key] != value:
                raise InvalidInput(
                    f"Param {key!r} of run {self.id} is already {self._params[key]!r}; it cannot "
                    f"become {value!r}. Params are immutable: log the new value under another "
                    "name, or start a new run."
                )
        new = {k: v for k, v in values.items() if self._params.get(k) != v}
        if new:
            if not (self._deferred and self._flusher.add_to_pending(self.id, "params", new)):
                self._backend.log_batch(self.id, params=new)
            self._params.update(new)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (mutable, last write wins)."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags at once."""
        values = text_values("tag", tags)
        if not (self._deferred and self._flusher.add_to_pending(self.id, "tags", values)):
            self._backend.log_batch(self.id, tags=values)

    # -- metrics --------------------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Record one metric point; returns at once, the write happens in the background.

        Without ``step``, each key counts its own steps from 0. NaN and infinities are
        stored as such; a value that is not a number raises :class:`InvalidInput`.
        """
        if type(key) is not str or key not in self._keys:  # each name checked once per run
            self._keys.add(check_key("metric", key))
        if type(value) is not float:
            value = metric_value(key, value)
        if step is None:  # _next_step, inline: this is the hottest path of tracking
            steps = self._steps
            step = steps[key] = steps.get(key, -1) + 1
        elif type(step) is not int or not 0 <= step <= INT64_MAX:
            step = check_step(key, step)
        ts = time.time_ns() // 1_000_000 if timestamp is None else check_timestamp(key, timestamp)
        self._flusher.add(self._record.id, key, value, step, ts)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record several metrics at the same step (and time)."""
        if not isinstance(metrics, Mapping):
            raise InvalidInput(
                f"log_metrics takes a mapping of names to numbers. Got {metrics!r:.80}."
            )
        ts = time.time_ns() // 1_000_000
        keys, next_step = self._keys, self._next_step
        if step is not None and (type(step) is not int or not 0 <= step <= INT64_MAX):
            step = check_step(next(iter(metrics), "?"), step)
        points = CheckedPoints()
        append = points.append
        for key, value in metrics.items():
            if type(key) is not str or key not in keys:  # each name checked once per run
                keys.add(check_key("metric", key))
            if type(value) is not float:  # the common case needs no conversion
                value = metric_value(key, value)
            append((key, value, next_step(key) if step is None else step, ts))
        self._flusher.add_many(self.id, points)

    def log_metrics_array(
        self, key: str, values: Any, steps: Any = None, timestamps: Any = None
    ) -> None:
        """Record a whole curve of one metric at once, checked per array, not per point.

        ``values``, ``steps`` and ``timestamps`` are NumPy arrays, Arrow arrays, pandas
        Series or lists, taken as they are. Without ``steps`` the curve continues this
        metric's steps (from 0 for a new one); without ``timestamps`` every point is
        stamped now. Buffered and written in the background like :meth:`log_metric`.

        Example::

            run.log_metrics_array("loss", np.array([0.9, 0.5, 0.3]))
        """
        from ._arrays import array_points

        first = self._steps.get(key, -1) + 1 if isinstance(key, str) else 0
        points = array_points(key, values, steps, timestamps, first_step=first)
        if points:
            if steps is None:  # as log_metric: only the steps it numbers itself count on
                self._steps[key] = points[-1][2]
            self._keys.add(key)
            self._flusher.add_many(self.id, points)

    def _next_step(self, key: str) -> int:
        step = self._steps.get(key, -1) + 1
        self._steps[key] = step
        return step

    def metric_history(self, key: str) -> list[tuple[str, float, int, int]]:
        """Every point of a metric logged so far: (key, value, step, timestamp)."""
        self._written()
        self._flusher.flush(self.id)
        return self._backend.metric_history(self.id, key)

    # -- artifacts ------------------------------------------------------------------------

    def log_artifact(
        self, source: str | os.PathLike[str] | bytes, name: str | None = None, kind: str = "file"
    ) -> ArtifactRecord:
        """Store a file (by path) or bytes with the run. ``name`` defaults to the file name."""
        if isinstance(source, bytes | bytearray | memoryview):
            if name is None:
                raise InvalidInput("log_artifact(bytes) needs a name, e.g. name='notes.txt'.")
        elif isinstance(source, str | os.PathLike):
            path = Path(source)
            if path.is_dir():
                return self._log_folder(path, name or path.name, kind)
            name = name or path.name
        else:
            raise InvalidInput(
                f"log_artifact takes a file path or bytes. Got {type(source).__name__}; "
                "for figures use log_figure, for data frames log_table."
            )
        self._written()
        return self._backend.put_artifact(self.id, name, kind, source)

    def download_artifacts(
        self, name: str | None = None, to: str | os.PathLike[str] = "."
    ) -> list[Path]:
        """Write this run's artifacts (one by ``name``, a folder of them, or all) under
        folder ``to``; see :func:`keel.download_artifacts`."""
        from ._artifacts import download_artifacts

        self._written()
        return download_artifacts(self._backend, self._backend.get_run(self.id), name, to)

    def _log_folder(self, folder: Path, prefix: str, kind: str) -> ArtifactRecord:
        self._written()
        records = [
            self._backend.put_artifact(
                self.id, f"{prefix}/{file.relative_to(folder).as_posix()}", kind, file
            )
            for file in sorted(folder.rglob("*"))
            if file.is_file()
        ]
        if not records:
            raise InvalidInput(f"The folder {folder} has no files to log.")
        return records[-1]

    def log_figure(self, figure: Any, name: str) -> ArtifactRecord:
        """Store a matplotlib figure (as PNG) or a plotly figure (as plotly JSON)."""
        if hasattr(figure, "savefig"):
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", bbox_inches="tight")
            self._written()
            return self._backend.put_artifact(
                self.id, _with_suffix(name, ".png"), "figure", buffer.getvalue()
            )
        if hasattr(figure, "to_plotly_json") and hasattr(figure, "to_json"):
            data = figure.to_json().encode()
            self._written()
            return self._backend.put_artifact(
                self.id, _with_suffix(name, ".plotly.json"), "figure", data
            )
        raise InvalidInput(
            f"log_figure takes a matplotlib or plotly figure. Got {type(figure).__name__}."
        )

    def log_table(self, frame: pd.DataFrame, name: str, *, kind: str = "table") -> ArtifactRecord:
        """Store a pandas DataFrame (or anything pyarrow can read) as Parquet."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame)
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise InvalidInput(
                f"log_table could not convert {type(frame).__name__} to a table: {exc}"
            ) from exc
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        self._written()
        return self._backend.put_artifact(
            self.id, _with_suffix(name, ".parquet"), kind, buffer.getvalue()
        )

    def log_predictions(self, frame: pd.DataFrame, name: str = "predictions") -> ArtifactRecord:
        """Store holdout predictions: a ``y_true`` column and ``y_pred`` or score columns."""
        columns = [str(c) for c in getattr(frame, "columns", [])]
        scores = [c for c in columns if c == "y_pred" or c.startswith(("score", "y_score"))]
        if "y_true" not in columns or not scores:
            raise InvalidInput(
                "log_predictions needs a DataFrame with a 'y_true' column and a 'y_pred' or "
                f"'score...' column. Got columns: {columns[:20]}."
            )
        return self.log_table(frame, name, kind="predictions")

    def log_input(self, dataset: Any, *, role: str = "training") -> None:
        """Record a dataset version this run consumed (a reference like 'credit:v3')."""
        ref = getattr(dataset, "ref", dataset)
        if not isinstance(ref, str) or not ref:
            raise InvalidInput(
                "log_input takes a dataset version or a reference such as 'credit:v3'. "
                f"Got {dataset!r:.80}."
            )
        check_key("input role", role)
        self.set_tag(f"keel.input.{role}", ref)
        version_id = getattr(dataset, "id", None)
        if isinstance(version_id, str):  # a DatasetVersion: an edge in the lineage graph
            self._written()
            self._backend.log_input(self.id, "dataset_version", version_id)

    # -- lifecycle ------------------------------------------------------------------------

    def _written(self) -> None:
        """Make sure the run is in the store (a deferred run is written now, RUNNING)."""
        if self._deferred:
            self._flusher.materialize(self.id)
            self._deferred = False

    def end(self, status: str = RunStatus.FINISHED, error: str | None = None) -> None:
        """Mark the run ended (FINISHED, FAILED or KILLED) and write its buffered metrics
        with the status change, in one write; a write error of a point logged earlier is
        raised once the run is ended."""
        if self.ended:
            return
        self.ended = True
        self._flusher.unwatch(self.id)
        if self._sampler is not None:
            self._sampler.stop()
        if self._deferred:
            self._end_deferred(status, error)
            return
        points: list = []
        try:
            points = self._flusher.take(self.id)  # written with the status, in one go
        finally:
            try:
                self._backend.end_run(self.id, status, error=error, metrics=points)
            except BaseException:
                self._flusher.give_back(self.id, points)  # the background writer retries
                raise
            self._ended(status, error)

    def _end_deferred(self, status: str, error: str | None) -> None:
        """End a deferred run: if it is still pending, create it ended with its params,
        tags and buffered points, in one write (one request over HTTP)."""
        self._deferred = False
        points, pending, problem = self._flusher.take_pending(self.id)
        if pending is None:
            if problem is not None:  # its creation failed in the background: never written
                self._ended(status, error)
                raise problem
            try:  # written already (its first flush): ended as any run
                self._backend.end_run(self.id, status, error=error, metrics=points)
            except BaseException:
                self._flusher.give_back(self.id, points)
                raise
            self._ended(status, error)
            return
        pending.status, pending.error = status, error
        try:
            pending.write(self._backend, points)
        except BaseException:  # the background writer retries it, ended
            self._flusher.give_back(self.id, points, pending)
            raise
        self._ended(status, error)
        if problem is not None:
            raise problem

    def _ended(self, status: str, error: str | None) -> None:
        self._record.status, self._record.error = status, error
        self._record.ended_at = time.time_ns() // 1_000_000  # about; `info` reads it
        for callback in self._on_end:
            callback(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED, error="KeyboardInterrupt")
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            self.end(RunStatus.FAILED, error=limit_text(text, _MAX_TRACEBACK))


def _with_suffix(name: str, suffix: str) -> str:
    return name if name.endswith(suffix) else name + suffix
