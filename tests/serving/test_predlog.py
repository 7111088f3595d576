"""PredictionLogger on a real store (SQLite and PostgreSQL): flushing by size, by time and
on close; sampling; exclude and hash applied before anything is written; concurrent
logging; errors counted, never raised into the caller."""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from keel.deploy.spec import LoggingPolicy
from keel.errors import InvalidInput
from keel.serving import PredictionLogger, PredictionStore
from keel.store import Store, new_id, now_ms

SALT = b"0123456789abcdef0123456789abcdef"


@pytest.fixture
def sink(store: Store) -> PredictionStore:
    return PredictionStore(store, project="default")


def _log(logger: PredictionLogger, n_rows: int = 1, **inputs: list) -> str:
    request_id = new_id()
    frame = pd.DataFrame(inputs or {"income": np.arange(n_rows, dtype=float)})
    logger.log(
        request_id=request_id,
        at_ms=now_ms(),
        model_version="credit:1",
        route="@champion",
        inputs=frame,
        outputs=np.zeros(len(frame)),
        latency_ms=1.0,
    )
    return request_id


def _wait_for(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def test_flushes_by_size_in_the_background(sink: PredictionStore) -> None:
    logger = PredictionLogger(sink, deployment="credit", flush_rows=10, flush_seconds=3600)
    for _ in range(9):
        _log(logger)
    _log(logger)  # the tenth row wakes the writer; the hour-long timer never fires here
    _wait_for(lambda: sink.parts("predictions"), "a part written by size")
    _log(logger, n_rows=4)
    _log(logger, n_rows=6)
    _wait_for(lambda: len(sink.parts("predictions")) == 2, "a second part written by size")
    assert [p["rows"] for p in sink.parts("predictions")] == [10, 10]
    _log(logger, n_rows=3)  # below the size: waits for close
    logger.close()
    assert [p["rows"] for p in sink.parts("predictions")] == [10, 10, 3]
    assert logger.stats["rows_written"] == 23
    assert logger.stats["errors"] == 0


def test_flushes_by_time_without_close(sink: PredictionStore) -> None:
    logger = PredictionLogger(sink, deployment="credit", flush_rows=1000, flush_seconds=0.1)
    for _ in range(3):
        _log(logger)
    _wait_for(lambda: sink.parts("predictions"), "a part written by time")
    assert [p["rows"] for p in sink.parts("predictions")] == [3]
    logger.close()


def test_flushes_on_close_and_not_before(sink: PredictionStore) -> None:
    logger = PredictionLogger(sink, deployment="credit", flush_rows=1000, flush_seconds=3600)
    ids = [_log(logger, n_rows=2) for _ in range(5)]
    assert sink.parts("predictions") == []
    logger.close()
    logger.close()  # idempotent
    (part,) = sink.parts("predictions")
    assert part["rows"] == 10
    assert part["deployment"] == "credit"
    table = sink.read("predictions")
    assert sorted(set(table.column("request_id").to_pylist())) == sorted(ids)
    assert table.column("row").to_pylist() == [0, 1] * 5
    assert table.schema.field("at").type == pa.timestamp("ms", tz="UTC")


def test_sampling_keeps_about_the_asked_share_of_requests(sink: PredictionStore) -> None:
    logger = PredictionLogger(
        sink, deployment="credit", policy=LoggingPolicy(sample=0.25), flush_rows=10_000
    )
    for _ in range(2000):
        _log(logger, n_rows=2)
    logger.close()
    kept = sink.read("predictions")
    requests = len(set(kept.column("request_id").to_pylist()))
    assert 400 <= requests <= 600  # binomial(2000, 0.25): mean 500, sd 19
    assert kept.num_rows == 2 * requests  # a request is kept or dropped as a whole
    assert logger.stats["sampled_out"] == 2000 - requests
    off = PredictionLogger(sink, deployment="quiet", policy=LoggingPolicy(sample=0.0))
    _log(off)
    off.close()
    assert sink.parts("predictions", deployment="quiet") == []


def test_excluded_and_hashed_values_never_reach_the_parquet(sink: PredictionStore) -> None:
    policy = LoggingPolicy(exclude=("ssn",), hash=("customer_id",))
    logger = PredictionLogger(sink, deployment="credit", policy=policy, salt=SALT)
    logger.log(
        request_id="r-1",
        at_ms=now_ms(),
        model_version="credit:1",
        route="@champion",
        inputs=pd.DataFrame(
            {"ssn": ["123-45-6789"], "customer_id": ["cust-secret-77"], "city": ["visible-town"]}
        ),
        outputs=[1],
        latency_ms=2.0,
        key="cust-secret-77",
    )
    logger.feedback([{"key": "cust-secret-77", "label": 0}])
    logger.close()
    for kind in ("predictions", "feedback"):
        (part,) = sink.parts(kind)
        raw = sink.store.objects.read_bytes(part["digest"])
        table = pq.read_table(pa.BufferReader(raw))
        everything = json.dumps(table.to_pylist(), default=str) + raw.decode("latin-1")
        assert "123-45-6789" not in everything
        assert "cust-secret-77" not in everything
        if kind == "predictions":
            assert "visible-town" in everything  # the same check finds what is kept
            row = table.to_pylist()[0]
            assert set(row["input"]) == {"customer_id", "city"}
            assert row["input"]["customer_id"] == row["key"]  # one hash for one value
            assert len(row["key"]) == 32
    # the same value hashes alike, so feedback by key meets its predictions
    assert sink.read("feedback").column("key")[0] == sink.read("predictions").column("key")[0]


def test_concurrent_logging_from_eight_threads_loses_nothing(sink: PredictionStore) -> None:
    logger = PredictionLogger(sink, deployment="credit", flush_rows=200, flush_seconds=0.05)
    ids: list[list[str]] = [[] for _ in range(8)]

    def work(slot: list[str]) -> None:
        for _ in range(250):
            slot.append(_log(logger, n_rows=2))

    threads = [threading.Thread(target=work, args=(slot,)) for slot in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logger.close()
    table = sink.read("predictions", columns=["request_id"])
    assert table.num_rows == 8 * 250 * 2
    assert set(table.column("request_id").to_pylist()) == {i for slot in ids for i in slot}
    assert logger.stats["errors"] == 0
    assert logger.stats["dropped"] == 0


def test_a_request_that_cannot_be_logged_is_counted_not_raised(sink: PredictionStore) -> None:
    logger = PredictionLogger(sink, deployment="credit")
    logger.log(
        request_id="bad",
        at_ms=now_ms(),
        model_version="credit:1",
        route="@champion",
        inputs=pd.DataFrame({"x": [1.0, 2.0]}),
        outputs=[1],  # one output for two rows
        latency_ms=1.0,
    )
    _log(logger)
    logger.close()
    assert logger.stats["errors"] == 1
    assert sink.read("predictions").column("request_id").to_pylist() != ["bad"]
    assert sink.read("predictions").num_rows == 1


def test_probabilities_are_kept_with_the_argmax_as_prediction(sink: PredictionStore) -> None:
    logger = PredictionLogger(sink, deployment="credit")
    logger.log(
        request_id="p",
        at_ms=now_ms(),
        model_version="credit:1",
        route="@champion",
        inputs=pd.DataFrame({"x": [1.0, 2.0]}),
        outputs=np.array([[0.2, 0.8], [0.7, 0.3]]),
        latency_ms=1.0,
    )
    logger.close()
    table = sink.read("predictions")
    assert table.column("prediction").to_pylist() == [1, 0]
    assert table.column("probabilities").to_pylist() == [[0.2, 0.8], [0.7, 0.3]]


def test_bad_arguments_and_feedback_are_refused_clearly(sink: PredictionStore) -> None:
    with pytest.raises(InvalidInput, match="flush_rows must be a positive number"):
        PredictionLogger(sink, deployment="credit", flush_rows=0)
    with pytest.raises(InvalidInput, match="policy must be a LoggingPolicy"):
        PredictionLogger(sink, deployment="credit", policy={"sample": 1})  # type: ignore[arg-type]
    logger = PredictionLogger(sink, deployment="credit")
    with pytest.raises(InvalidInput, match="feedback row 0 needs a request_id or a key"):
        logger.feedback([{"label": 1}])
    with pytest.raises(InvalidInput, match="feedback row 1 needs a label"):
        logger.feedback([{"request_id": "a", "label": 1}, {"request_id": "b"}])
    with pytest.raises(InvalidInput, match="unknown field 'lable'"):
        logger.feedback([{"request_id": "a", "lable": 1}])
    with pytest.raises(InvalidInput, match="list of rows"):
        logger.feedback({"request_id": "a", "label": 1})  # type: ignore[arg-type]
    logger.close()
    assert sink.parts("feedback") == []  # nothing of a refused call was kept


def test_a_writer_process_that_dies_is_restarted_and_nothing_is_lost(
    sink: PredictionStore, caplog: pytest.LogCaptureFixture
) -> None:
    logger = PredictionLogger(sink, deployment="credit", flush_rows=1000, flush_seconds=3600)
    first = [_log(logger, n_rows=2) for _ in range(5)]
    logger.flush()  # the writer process is up and wrote a part
    pid = logger.writer_pid
    assert pid is not None
    assert pid != os.getpid()
    os.kill(pid, signal.SIGSTOP)  # it can no longer acknowledge what it is sent
    second = [_log(logger, n_rows=3) for _ in range(4)]
    flushing = threading.Thread(target=logger.flush)
    flushing.start()
    _wait_for(lambda: logger._writer._pending, "a part sent and not acknowledged")
    os.kill(pid, signal.SIGKILL)  # dies with that part unwritten
    flushing.join()
    assert logger.writer_pid not in (None, pid)
    third = [_log(logger) for _ in range(2)]
    logger.close()
    table = sink.read("predictions")
    assert sorted(table.column("request_id").to_pylist()) == sorted(
        [i for i in first for _ in range(2)] + [i for i in second for _ in range(3)] + third
    )
    assert [p["rows"] for p in sink.parts("predictions")] == [10, 12, 2]
    assert logger.stats["rows_written"] == 24
    assert "restarted it, sending it again the 1 parts it had not written" in caplog.text


def test_excluded_and_hashed_values_never_leave_the_serving_process(
    sink: PredictionStore,
) -> None:
    policy = LoggingPolicy(exclude=("ssn",), hash=("customer_id",))
    logger = PredictionLogger(sink, deployment="credit", policy=policy, salt=SALT)
    handed: list[bytes] = []
    submit = logger._writer.submit

    def spy(kind: str, payload: object) -> None:
        handed.append(pickle.dumps(payload))  # what the writer process would receive
        submit(kind, payload)

    logger._writer.submit = spy  # type: ignore[method-assign]
    _log(logger, ssn=["123-45-6789"], customer_id=["cust-secret-77"], city=["visible-town"])
    logger.close()
    assert logger.writer_pid not in (None, os.getpid())
    assert len(handed) == 1
    assert b"visible-town" in handed[0]  # the same check finds what is kept
    assert b"123-45-6789" not in handed[0]
    assert b"cust-secret-77" not in handed[0]


def test_a_sink_of_your_own_is_written_in_a_thread(store: Store) -> None:
    class Mine:
        project = "default"

        def __init__(self) -> None:
            self.tables: list[pa.Table] = []

        def write(self, kind: str, deployment: str, table: pa.Table) -> str:
            self.tables.append(table)
            return "part"

        def hash_key(self) -> bytes:
            return SALT

    mine = Mine()
    with pytest.raises(InvalidInput, match="writer='process' needs a sink keel can open"):
        PredictionLogger(mine, deployment="credit", writer="process")
    logger = PredictionLogger(mine, deployment="credit")
    _log(logger, n_rows=3)
    logger.close()
    assert logger.writer_pid is None
    assert [t.num_rows for t in mine.tables] == [3]
