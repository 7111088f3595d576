"""Writers of a prediction logger's parts: in a separate process, or in a thread.

A :class:`~keel.serving.PredictionLogger` hands each flushed buffer (a
:class:`~keel.serving._logtables.LogBatch` of predictions, or a list of feedback rows,
the logging policy already applied) to a writer, which builds the Arrow table, encodes
the Parquet and writes the part to the sink. Building and encoding cost milliseconds of
Python per thousand rows, which in the serving process would hold the GIL against
requests; :class:`ProcessWriter` does it in a child process instead, and the serving
process only pickles the batch (well under a millisecond per thousand requests) into a
pipe. A sink that cannot be opened again in another process (not ``client.predictions``)
is written by :class:`ThreadWriter`, in the logger's own background thread.

Both call ``done(kind, rows, error, expected)`` once per part: ``error`` None when it was
written, else the reason it was not (``expected`` True for a :class:`~keel.errors.KeelError`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection, Pipe
from typing import Any

from keel.errors import KeelError

from ._logtables import LogBatch, feedback_table, predictions_table
from .predictions import HASHED_META

__all__ = ["ProcessWriter", "ThreadWriter", "sink_recipe", "write_part"]

log_ = logging.getLogger("keel.serving.predlog")

Done = Callable[[str, int, "str | None", bool], None]

MAX_ATTEMPTS = 3
"""A part whose writing a writer process died during this many times is given up."""


def write_part(sink: Any, deployment: str, kind: str, payload: Any, hashed: list[str]) -> str:
    """Build the table of one part and write it to ``sink``; the part's id."""
    if kind == "predictions":
        table = predictions_table(deployment, payload)
        names = hashed
    else:
        table = feedback_table(deployment, payload)
        names = [n for n in hashed if n == "key"]
    if names:
        table = table.replace_schema_metadata({HASHED_META: json.dumps(names)})
    return sink.write(kind, deployment, table)


def rows_of(kind: str, payload: Any) -> int:
    return payload.rows if isinstance(payload, LogBatch) else len(payload)


def sink_recipe(sink: Any) -> tuple[Any, str] | None:
    """(configuration, project) to open ``sink`` again in another process, or None when
    it is not one keel can open (a sink of the caller's own)."""
    from ._predictions_http import HttpPredictions
    from .predictions import PredictionStore

    if type(sink) is PredictionStore:
        return sink.store.config, sink.project
    if type(sink) is HttpPredictions:
        return sink.config, sink.project
    return None


class ThreadWriter:
    """Writes each part in the calling thread (the logger's background thread)."""

    def __init__(self, sink: Any, deployment: str, hashed: list[str], done: Done) -> None:
        self.sink, self.deployment, self.hashed, self.done = sink, deployment, hashed, done
        self.pid: int | None = None

    def submit(self, kind: str, payload: Any) -> None:
        """Write one part now."""
        rows = rows_of(kind, payload)
        try:
            write_part(self.sink, self.deployment, kind, payload, self.hashed)
        except Exception as exc:
            self.done(kind, rows, str(exc), isinstance(exc, KeelError))
            return
        self.done(kind, rows, None, True)

    def wait(self, timeout: float = 60.0) -> bool:
        """Every submitted part is written (always so here)."""
        return True

    def close(self, timeout: float = 60.0) -> None:
        """Nothing to stop."""


class ProcessWriter:
    """Writes parts in a child process, restarted (and its unwritten parts sent again)
    when it dies. The child ignores SIGTERM and SIGINT, which a process group's stop
    also sends it: it ends when its pipe closes, after writing everything it was sent.

    Args:
        recipe: the sink's (configuration, project), from :func:`sink_recipe`.
        deployment: the deployment whose parts it writes.
        hashed: the names recorded as hashed in a predictions part's metadata.
        done: called once per part, from a thread of this process.
    """

    def __init__(self, recipe: tuple[Any, str], deployment: str, hashed: list[str], done: Done):
        self.recipe, self.deployment, self.hashed, self.done = recipe, deployment, hashed, done
        self.restarts = 0
        self._send_lock = threading.Lock()  # one sender at a time, and restarts exclusive
        self._state = threading.Condition()
        self._pending: dict[int, list[Any]] = {}  # seq -> [kind, rows, message, attempts]
        self._seq = 0
        self._closing = False
        self._finished = threading.Event()
        self._conn: Any = None
        self._process: Any = None

    @property
    def pid(self) -> int | None:
        """The writer process's id (None before the first part)."""
        return None if self._process is None else self._process.pid

    def _start(self) -> None:
        # A fresh interpreter (not a fork of a threaded server, nor multiprocessing's
        # spawn, which imports the parent's __main__ again) with its end of a socket pair.
        mine, theirs = Pipe(duplex=True)
        process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        mine.send((self.recipe, self.deployment, self.hashed))
        self._conn, self._process = mine, process
        threading.Thread(
            target=self._read,
            args=(mine, process),
            name=f"keel-predlog-acks-{self.deployment}",
            daemon=True,
        ).start()

    def submit(self, kind: str, payload: Any) -> None:
        """Send one part to the writer process (started on the first part)."""
        rows = rows_of(kind, payload)
        with self._send_lock:
            if self._closing:
                raise RuntimeError("the prediction log writer is closed")
            if self._process is None:
                self._start()  # raises when it cannot: the caller counts the rows lost
            self._seq += 1
            # the sequence number outside the pickle: acknowledged even if it cannot load
            message = self._seq.to_bytes(8, "little") + pickle.dumps((kind, payload), protocol=5)
            with self._state:
                self._pending[self._seq] = [kind, rows, message, 0]
            with contextlib.suppress(OSError):  # dead: its reader restarts it and resends
                self._conn.send_bytes(message)

    def _read(self, conn: Any, process: Any) -> None:
        """Take the child's acknowledgements until its pipe closes; then restart it if
        it died with parts unwritten or before it was asked to stop."""
        while True:
            try:
                seq, error, expected = conn.recv()
            except (EOFError, OSError):
                break
            with self._state:
                entry = self._pending.pop(seq, None)
                self._state.notify_all()
            if entry is not None:
                self.done(entry[0], entry[1], error, expected)
        try:
            exitcode = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            exitcode = process.wait()
        conn.close()
        with self._state:
            finished = self._closing and not self._pending
        if finished:
            self._finished.set()
            return
        self._restart(exitcode)

    def _restart(self, exitcode: int | None) -> None:
        with self._send_lock:
            given_up = []
            with self._state:
                if self._pending:  # the oldest is the one it was writing when it died
                    oldest = min(self._pending)
                    self._pending[oldest][3] += 1
                    if self._pending[oldest][3] >= MAX_ATTEMPTS:
                        given_up.append(self._pending.pop(oldest))
                resend = [entry[2] for _, entry in sorted(self._pending.items())]
                self._state.notify_all()
            for kind, rows, _, attempts in given_up:
                self.done(kind, rows, f"the writer process died {attempts} times writing it", False)
            if not resend and not self._closing:  # nothing to write: start on the next part
                log_.warning(
                    "The prediction log writer process of %s exited (code %s); a new one "
                    "starts with the next part.",
                    self.deployment,
                    exitcode,
                )
                self._process = None
                return
            self.restarts += 1
            log_.warning(
                "The prediction log writer process of %s exited (code %s); restarted it, "
                "sending it again the %d parts it had not written.",
                self.deployment,
                exitcode,
                len(resend),
            )
            try:
                self._start()
            except OSError as exc:  # cannot start one: what it held is lost, and said so
                with self._state:
                    lost, self._pending = list(self._pending.values()), {}
                    self._process = None
                    self._state.notify_all()
                for kind, rows, _, _ in lost:
                    self.done(kind, rows, f"no writer process could be started: {exc}", False)
                if self._closing:
                    self._finished.set()
                return
            try:
                for message in resend:
                    self._conn.send_bytes(message)
                if self._closing:
                    self._conn.send_bytes(b"")
            except OSError:
                pass  # died again: its reader restarts it

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait until every part sent so far is written (or given up); False on timeout."""
        with self._state:
            return self._state.wait_for(lambda: not self._pending, timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Let the child write everything sent, then end it (idempotent)."""
        with self._send_lock:
            if self._closing:
                return
            self._closing = True
            if self._process is None:
                return
            with contextlib.suppress(OSError):  # the end: write what came before, then exit
                self._conn.send_bytes(b"")
        if not self._finished.wait(timeout):
            with self._state:
                lost = sum(entry[1] for entry in self._pending.values())
            log_.error(
                "The prediction log writer process of %s did not finish within %.0f s; "
                "%d rows may be lost.",
                self.deployment,
                timeout,
                lost,
            )
            self._process.kill()


_CHILD = "import sys; from keel.serving._logwriter import main; main(int(sys.argv[1]))"


def main(fd: int) -> None:
    """The writer process, on its end ``fd`` of the socket pair: write each part
    received, acknowledge it, end on an empty message or a closed pipe."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the server's stop reaches us by the pipe
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.set_blocking(fd, True)
    conn = Connection(fd)
    recipe, deployment, hashed = conn.recv()
    client = None
    try:
        while True:
            try:
                message = conn.recv_bytes()
            except (EOFError, OSError):
                break
            if not message:
                break
            seq = int.from_bytes(message[:8], "little")
            error, expected = None, True
            try:
                kind, payload = pickle.loads(message[8:])
                if client is None:
                    client = _client(recipe)
                write_part(client.predictions, deployment, kind, payload, hashed)
            except Exception as exc:
                error, expected = str(exc), isinstance(exc, KeelError)
            conn.send((seq, error, expected))
    finally:
        if client is not None:
            client.close()
        conn.close()


def _client(recipe: tuple[Any, str]) -> Any:
    from keel.client import Client

    config, project = recipe
    return Client(config=dataclasses.replace(config, project=project))
