"""The quickstart's serving stage: deploy the champion as config, serve it with a real model
server on a free loopback port, stream applications to it as live requests, and send their
labels back later, as a lender learns who defaulted.

One application is one request (its request id is the applicant id), so each label joins
its own prediction; requests go out from a few threads at once, which the server's
micro-batching gathers into batches.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import KeelError

from ._data import FEATURES

__all__ = ["DEPLOYMENT", "Server", "Streamed", "Traffic", "serve", "wait_logged"]

DEPLOYMENT = "credit-scoring"
SPEC = """\
name: credit-scoring
model: credit-default
routes:
  - {version: "@champion", weight: 100}
batching: {max_batch_size: 64, max_wait_ms: 2}
logging: {sample: 1.0}
probabilities: true   # answer P(no default), P(default): the monitor's ROC AUC needs them
"""
POLL_SECONDS = 0.2
"""How often the server looks at its deployment's record (a canary's step is judged then)."""


@dataclass
class Streamed:
    """What a stream of applications did: requests answered, by which versions, how fast,
    and how many labels went back."""

    requests: int = 0
    request_ids: list[str] = field(default_factory=list)
    versions: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    labels: int = 0

    @property
    def p50_ms(self) -> float:
        return float(np.median(self.latencies_ms)) if self.latencies_ms else 0.0


class Server:
    """A model server of the deployment running in this process, and an HTTP client to it.

    Counts every request it answered (``answered``), whoever sent it.
    """

    def __init__(self, url: str, http: Any, path: Path, rollout: Any) -> None:
        self.url = url
        self.http = http
        self.path = path
        self.rollout = rollout
        self._lock = threading.Lock()
        self.answered: Counter = Counter()

    def predict(self, record: dict[str, Any], request_id: str | None = None) -> tuple[str, str]:
        """Score one application; its request id and the version that answered.

        Raises:
            KeelError: the server answered with an error.
        """
        headers = {"x-request-id": request_id} if request_id else None
        answer = self.http.post("/predict", json=[record], headers=headers)
        if answer.status_code != 200:
            raise KeelError(
                f"The model server at {self.url} answered {answer.status_code} to an "
                f"application: {answer.text[:300]}"
            )
        version = answer.headers["keel-model-version"]
        with self._lock:
            self.answered[version] += 1
        return answer.json()["request_id"], version

    def feedback(self, labels: list[dict[str, Any]]) -> None:
        """Send ground truth (``request_id`` and ``label`` per row) to ``/feedback``."""
        answer = self.http.post("/feedback", json=labels)
        if answer.status_code >= 300:
            raise KeelError(
                f"The model server refused {len(labels)} labels ({answer.status_code}): "
                f"{answer.text[:300]}"
            )

    def stream(self, rows: pd.DataFrame, *, chunks: int = 6, workers: int = 8) -> Streamed:
        """Send ``rows`` (applications with ``applicant_id`` and ``default``) as live
        requests in ``chunks`` in time order; a chunk's labels go back after the
        predictions of the next chunk (the last chunk's at the end)."""
        done = Streamed()
        records = rows[FEATURES].to_dict("records")
        ids = rows["applicant_id"].astype(str).tolist()
        labels = rows["default"].astype(int).tolist()
        bounds = np.linspace(0, len(rows), chunks + 1).astype(int)
        pending: list[dict[str, Any]] = []

        def one(i: int) -> tuple[str, str, float]:
            started = time.perf_counter()
            request_id, version = self.predict(records[i], ids[i])
            return request_id, version, (time.perf_counter() - started) * 1000

        with ThreadPoolExecutor(workers, thread_name_prefix="keel-quickstart") as pool:
            for lo, hi in itertools.pairwise(bounds):
                answered = list(pool.map(one, range(lo, hi)))
                for request_id, version, ms in answered:
                    done.request_ids.append(request_id)
                    done.versions[version] += 1
                    done.latencies_ms.append(ms)
                if pending:
                    self.feedback(pending)
                    done.labels += len(pending)
                pending = [
                    {"request_id": request_id, "label": labels[i]}
                    for i, (request_id, _, _) in zip(range(lo, hi), answered, strict=True)
                ]
        if pending:
            self.feedback(pending)
            done.labels += len(pending)
        done.requests = len(done.request_ids)
        return done


class Traffic:
    """Live traffic in the background: ``workers`` threads send ``rows`` (cycling through
    them) until the block ends, pausing ``pause`` seconds between requests.

    Example::

        with Traffic(server, later_rows) as traffic:
            ...  # a canary walks its steps on these requests
        print(traffic.versions)
    """

    def __init__(
        self, server: Server, rows: pd.DataFrame, *, workers: int = 2, pause: float = 0.01
    ):
        self.server = server
        self.records = rows[FEATURES].to_dict("records")
        self.workers = workers
        self.pause = pause
        self.versions: Counter = Counter()
        self.errors: list[str] = []
        self._next = itertools.cycle(range(len(self.records)))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Traffic:
        for i in range(self.workers):
            thread = threading.Thread(target=self._send, name=f"keel-traffic-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def requests(self) -> int:
        return sum(self.versions.values())

    def _send(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                record = self.records[next(self._next)]
            try:
                _, version = self.server.predict(record)
            except Exception as exc:  # counted and shown; the canary judges the errors
                with self._lock:
                    self.errors.append(str(exc)[:200])
                    if len(self.errors) > 20:
                        return  # the server is gone: stop hammering it
            else:
                with self._lock:
                    self.versions[version] += 1
            self._stop.wait(self.pause)


@contextlib.contextmanager
def serve(client: Any, directory: Path) -> Iterator[Server]:
    """Write and apply ``deploy/credit-scoring.yaml``, then serve it on a free loopback port
    with a real HTTP server (uvicorn, in a thread) that follows the deployment's record:
    a canary applied later is walked on the traffic it gets. On exit the server stops the
    way SIGTERM stops it, flushing its prediction log."""
    import httpx

    from keel.deploy import parse_spec
    from keel.serving import create_app, serve_in_thread

    path = directory / "deploy" / f"{DEPLOYMENT}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SPEC)
    rollout = client.deployments.apply(parse_spec(path))
    app = create_app(rollout.spec, client, poll_seconds=POLL_SECONDS)
    with (
        serve_in_thread(app) as url,
        httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=16)) as http,
    ):
        yield Server(url, http, path, rollout)


def wait_logged(client: Any, *, predictions: int, feedback: int = 0, timeout: float = 30.0) -> None:
    """Wait until the lake holds at least ``predictions`` logged predictions and
    ``feedback`` labels of the deployment (the server writes them every
    ``predictions_flush_seconds``).

    Raises:
        KeelError: they did not all arrive within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        have = {
            kind: sum(int(p["rows"]) for p in client.predictions.parts(kind, deployment=DEPLOYMENT))
            for kind in ("predictions", "feedback")
        }
        if have["predictions"] >= predictions and have["feedback"] >= feedback:
            return
        if time.monotonic() > deadline:
            raise KeelError(
                f"The model server logged {have['predictions']} of {predictions} predictions "
                f"and {have['feedback']} of {feedback} labels in {timeout:g} s; its prediction "
                "log is not reaching the lake."
            )
        time.sleep(0.05)
