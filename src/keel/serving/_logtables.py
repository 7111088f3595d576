"""The Arrow tables of prediction logs and feedback, built from what a logger buffered.

A prediction part has one row per predicted row::

    request_id     string                      the request's id (time-ordered)
    at             timestamp[ms, UTC]          when the request arrived
    deployment     string
    model_version  string                      the version that answered (credit:4)
    route          string                      what chose it (route, shadow, sticky, ...)
    key            string, nullable            the sticky key's value (hashed when hashed)
    latency_ms     double                      the request's latency
    row            int32                       the row's index within its request
    input          struct<feature: type, ...>  the inputs as served, after exclude/hash
    prediction     the model's output           (argmax index when probabilities are given)
    probabilities  list<double>, if given

A feedback part: request_id, key, label, at, deployment. Parquet files of one table can
differ in their input fields (a new model version takes new features); DuckDB reads them
together with ``union_by_name``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from keel.errors import InvalidInput

__all__ = [
    "FEEDBACK_COLUMNS",
    "PREDICTION_COLUMNS",
    "LogBatch",
    "Rows",
    "feedback_table",
    "predictions_table",
]

PREDICTION_COLUMNS = (
    "request_id",
    "at",
    "deployment",
    "model_version",
    "route",
    "key",
    "latency_ms",
    "row",
    "input",
    "prediction",
)
FEEDBACK_COLUMNS = ("request_id", "key", "label", "at", "deployment")
TIME = pa.timestamp("ms", tz="UTC")


class Rows:
    """One request's input rows as the logger keeps them until a flush: the column names,
    their dtypes and one 2-D NumPy block (a single array copy on the response path, where
    a DataFrame per request would make the flush concatenate thousands of frames)."""

    __slots__ = ("block", "columns", "dtypes", "n")

    def __init__(self, frame: Any) -> None:
        self.columns = column_names(frame.columns)
        # One dtype for a frame of one block (the usual: the signature's numbers as one
        # array); per column otherwise. frame.dtypes builds a Series: tens of microseconds.
        try:
            blocks = frame._mgr.blocks
            self.dtypes = blocks[0].dtype if len(blocks) == 1 else tuple(frame._mgr.get_dtypes())
        except AttributeError:  # pragma: no cover - a pandas without the block manager
            self.dtypes = tuple(frame.dtypes)
        self.block = frame.to_numpy()
        if self.block.ndim != 2:
            self.block = self.block.reshape(len(frame), -1)
        self.n = self.block.shape[0]

    @classmethod
    def of_block(cls, block: np.ndarray, columns: Any) -> Rows:
        """Rows from a 2-D array and the names of its columns (no DataFrame made)."""
        if block.ndim != 2 or columns is None or len(columns) != block.shape[1]:
            raise InvalidInput(
                f"inputs as an array need one name per column: shape {block.shape}, "
                f"columns {None if columns is None else len(columns)}."
            )
        rows = cls.__new__(cls)
        rows.columns = column_names(columns)
        rows.dtypes = block.dtype
        rows.block = block
        rows.n = block.shape[0]
        return rows

    @classmethod
    def joined(cls, rows: Sequence[Rows]) -> Rows:
        """Consecutive requests' rows of one layout as one block (a single concatenate)."""
        if len(rows) == 1:
            return rows[0]
        joined = cls.__new__(cls)
        joined.columns, joined.dtypes = rows[0].columns, rows[0].dtypes
        joined.block = np.concatenate([r.block for r in rows])
        joined.n = joined.block.shape[0]
        return joined

    def __reduce__(self) -> tuple:
        return (_rows, (self.block, self.columns, self.dtypes))

    def __len__(self) -> int:
        return self.n

    @property
    def layout(self) -> tuple:
        return (self.columns, self.dtypes, self.block.dtype)


def _rows(block: np.ndarray, columns: tuple[str, ...], dtypes: Any) -> Rows:
    rows = Rows.__new__(Rows)
    rows.block, rows.columns, rows.dtypes, rows.n = block, columns, dtypes, block.shape[0]
    return rows


class LogBatch:
    """Buffered requests in columns, as handed from the serving process to the writer.

    Made on the serving side with a transpose and a few concatenations (no Arrow, no
    per-row Python), so it pickles in well under a millisecond per thousand requests; the
    writer turns it into a table with :func:`predictions_table`.

    Attributes:
        request_id, at_ms, model_version, route, key, latency_ms: one entry per request.
        counts: the number of rows of each request.
        inputs: the rows of consecutive requests of one layout, one :class:`Rows` a run.
        outputs: the outputs of consecutive requests of one shape, one array a run.
    """

    __slots__ = (
        "at_ms",
        "counts",
        "inputs",
        "key",
        "latency_ms",
        "model_version",
        "outputs",
        "request_id",
        "route",
    )

    def __init__(self, requests: Sequence[tuple]) -> None:
        """``requests``: ``(request_id, at_ms, model_version, route, key, latency_ms,
        inputs, outputs)`` each, inputs :class:`Rows` (policy applied), outputs a 1-D or
        2-D array with one entry per input row."""
        (
            self.request_id,
            self.at_ms,
            self.model_version,
            self.route,
            self.key,
            self.latency_ms,
            rows,
            outputs,
        ) = zip(*requests, strict=True) if requests else ((),) * 8
        self.counts = np.fromiter((r.n for r in rows), dtype=np.int64, count=len(rows))
        self.inputs = [Rows.joined(run) for run in _runs(rows, lambda r: r.layout)]
        self.outputs = [
            np.concatenate(run) if len(run) > 1 else run[0]
            for run in _runs(outputs, lambda o: (o.ndim, o.shape[1:]))
        ]

    def __getstate__(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)

    @property
    def rows(self) -> int:
        """How many rows the batch holds (the sum of ``counts``)."""
        return int(self.counts.sum())

    def __len__(self) -> int:
        return len(self.request_id)


def _runs(items: Sequence[Any], key: Any) -> list[list[Any]]:
    """``items`` cut into runs of consecutive items with equal ``key``."""
    runs: list[list[Any]] = []
    last = object()
    for item in items:
        k = key(item)
        if runs and k == last:
            runs[-1].append(item)
        else:
            runs.append([item])
            last = k
    return runs


_NAMES: dict[int, tuple[Any, tuple[str, ...]]] = {}


def column_names(index: Any) -> tuple[str, ...]:
    """The names of a columns Index as strings, remembered per Index object: iterating an
    Arrow-backed Index costs about a microsecond a name, and the model server hands the
    logger frames that share the signature's one Index."""
    known = _NAMES.get(id(index))
    if known is not None and known[0] is index:
        return known[1]
    names = tuple(str(c) for c in index)
    if len(_NAMES) >= 256:
        _NAMES.clear()
    _NAMES[id(index)] = (index, names)  # the Index is kept, so its id is not reused
    return names


def _inputs(rows: Sequence[Rows]) -> pa.Array:
    """The ``input`` struct column of consecutive requests' rows, layout by layout."""
    import pandas as pd

    pieces: list[pa.Array] = []
    start = 0
    while start < len(rows):
        layout = rows[start].layout
        end = start + 1
        while end < len(rows) and rows[end].layout == layout:
            end += 1
        columns, dtypes, _ = layout
        block = (
            np.concatenate([r.block for r in rows[start:end]])
            if end > start + 1
            else (rows[start].block)
        )
        if not columns:
            pieces.append(_struct(pd.DataFrame(index=range(len(block)))))
        elif block.dtype != object:
            pieces.append(
                pa.StructArray.from_arrays(
                    [pa.array(block[:, j]) for j in range(len(columns))], names=list(columns)
                )
            )
        else:  # mixed kinds: each column back to its own dtype first
            if not isinstance(dtypes, tuple):
                dtypes = (dtypes,) * len(columns)
            frame = pd.DataFrame(
                {
                    c: pd.Series(block[:, j]).astype(d)
                    for j, (c, d) in enumerate(zip(columns, dtypes, strict=True))
                }
            )
            pieces.append(_struct(frame))
        start = end
    if len(pieces) == 1:
        return pieces[0]
    table = pa.concat_tables([pa.table({"input": p}) for p in pieces], promote_options="permissive")
    return table.column("input").combine_chunks()


def predictions_table(deployment: str, batch: LogBatch) -> pa.Table:
    """One table of the requests of ``batch``, one row per predicted row."""
    counts = batch.counts

    def repeat(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
        return pa.array(np.repeat(np.array(values, dtype=object), counts), kind)

    total = int(counts.sum())
    starts = np.cumsum(counts) - counts  # each request's first row in the table
    rows = (np.arange(total) - np.repeat(starts, counts)).astype(np.int32)
    outputs = [np.asarray(o) for o in batch.outputs]
    columns: dict[str, Any] = {
        "request_id": repeat(batch.request_id, pa.string()),
        "at": pa.array(np.repeat(np.array(batch.at_ms, dtype=np.int64), counts), TIME),
        "deployment": pa.array(np.repeat(np.array([deployment], dtype=object), total)),
        "model_version": repeat(batch.model_version, pa.string()),
        "route": repeat(batch.route, pa.string()),
        "key": repeat(batch.key, pa.string()),
        "latency_ms": pa.array(np.repeat(np.array(batch.latency_ms, dtype=np.float64), counts)),
        "row": pa.array(rows, pa.int32()),
        "input": _inputs(batch.inputs),
    }
    two_d = [o for o in outputs if o.ndim == 2]
    if two_d:
        probabilities = np.concatenate(
            [o if o.ndim == 2 else np.full((len(o), two_d[0].shape[1]), np.nan) for o in outputs]
        ).astype(np.float64)
        columns["prediction"] = pa.array(np.argmax(probabilities, axis=1).astype(np.int64))
        width = probabilities.shape[1]
        offsets = pa.array(np.arange(0, total * width + 1, width, dtype=np.int32))
        columns["probabilities"] = pa.ListArray.from_arrays(offsets, probabilities.ravel())
    else:
        columns["prediction"] = _plain(np.concatenate(outputs) if outputs else np.array([]))
    return pa.table(columns)


def _struct(inputs: Any) -> pa.Array:
    if inputs.shape[1] == 0:  # every column excluded: an empty struct cannot be written
        return pa.array([{"_": None}] * len(inputs), pa.struct([("_", pa.null())]))
    table = pa.Table.from_pandas(inputs, preserve_index=False).combine_chunks()
    return pa.StructArray.from_arrays(
        [c.chunk(0) if c.num_chunks else pa.array([], c.type) for c in table.columns],
        names=[str(c) for c in table.column_names],
    )


def _plain(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        try:
            return pa.array(values.tolist())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([None if v is None else str(v) for v in values.tolist()], pa.string())
    return pa.array(values)


def feedback_table(deployment: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Checked feedback rows (request_id or key, label, at) as one table."""
    labels = [r["label"] for r in rows]
    try:
        label = pa.array(labels)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds: keep them all as text
        label = pa.array([None if v is None else str(v) for v in labels], pa.string())
    if pa.types.is_null(label.type) or pa.types.is_struct(label.type):
        raise InvalidInput("A feedback label must be a number, text or a boolean.")
    return pa.table(
        {
            "request_id": pa.array([r.get("request_id") for r in rows], pa.string()),
            "key": pa.array([r.get("key") for r in rows], pa.string()),
            "label": label,
            "at": pa.array([r["at_ms"] for r in rows], TIME),
            "deployment": pa.array([deployment] * len(rows), pa.string()),
        }
    )
