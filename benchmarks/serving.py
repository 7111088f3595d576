"""Benchmark ``keel serve`` against MLflow, BentoML and MLServer on one scikit-learn model.

Run it from the repository root, on a quiet machine, behind the benchmark lock (the script
takes it itself when not started under ``flock``)::

    .venv/bin/python benchmarks/serving.py                       # full run (about 15 minutes)
    .venv/bin/python benchmarks/serving.py --seconds 1 --concurrency 1,4 --rows 20000
                                                                 # a smoke run (a few minutes)
    .venv/bin/python benchmarks/serving.py --only mlflow,mlserver,floor  # some parts only
    .venv/bin/python benchmarks/serving.py --markdown out.md      # also write the tables

Model: one ``LogisticRegression(max_iter=10_000)`` fitted in this process on scikit-learn's
breast-cancer data (569 rows, 30 float features; column names made SQL/JSON-safe, e.g.
``mean_radius``). Every server serves this one fitted object, saved in its own format:

* keel: ``Client.models.register(model, "cancer", input_example=X.head())`` in a fresh
  project (``keel.store.init_project``: SQLite and a local object store, in the work
  folder), ``set_alias(..., "champion")``; served by ``keel serve cancer@champion --workers
  1`` (its defaults, so prediction logging is on), the same with ``--workers 2`` (a context
  row: the load generator shares the two CPUs), and ``keel serve FILE`` where FILE is a
  deployment spec of ``cancer@champion`` with ``logging: false`` (the cost of logging).
* MLflow (``.bench-venvs/mlflow``, the venv ``registry.py`` uses): ``mlflow.sklearn.
  save_model(model, dir, input_example=...)``, served by ``mlflow models serve -m dir
  --env-manager local --workers 1``.
* BentoML 1.4 (``.bench-venvs/bentoml``): ``bentoml.sklearn.save_model("cancer", model)``
  in a fresh ``BENTOML_HOME``; a three-line service (``@bentoml.service(workers=1)``, one
  ``@bentoml.api`` taking a NumPy array) served by ``bentoml serve service:Svc``.
* MLServer (``.bench-venvs/mlserver``, with ``mlserver-sklearn``): ``model.joblib`` and
  ``model-settings.json`` for ``mlserver_sklearn.SKLearnModel``, ``settings.json`` with
  ``parallel_workers: 0`` (inference in the server process), served by ``mlserver start``;
  then again with its adaptive batching (``max_batch_size: 32``, ``max_batch_time: 0.002``).
  Its default, ``parallel_workers: 1``, does not work with the uvloop pip installs beside it
  (MLServer 1.7.1, uvloop 0.23.0): each inference worker dies at start in
  ``asyncio.get_event_loop()`` ("There is no current event loop in thread 'MainThread'"),
  the model never loads, ``/v2/health/ready`` still answers 200 and every infer answers 404
  (``--mlserver-workers 1`` shows it; the run then stops at the answer check). Readiness is
  therefore awaited on ``/v2/models/cancer/ready`` (keel's too).

The peers' venvs are made once with ``python3 -m venv`` and pip, scikit-learn, pandas and
NumPy pinned to this environment's versions (the model is pickled here), and skipped when
their module already imports there.

Load: wrk (Debian's package; installed with apt-get when missing, else an asyncio/httpx
load generator in this process; the report says which), one thread (``-t1``), N
connections for concurrency N, each sending the same one-row request in the server's own
format, as fast as answers come: MLflow ``{"dataframe_split": ...}`` on ``/invocations``;
BentoML ``{"data": [[...]]}`` on ``/predict``; MLServer and keel the same Open Inference
Protocol v2 body, one FP64 tensor of shape [1, 30], on ``/v2/models/cancer/infer`` (keel also
``{"records": [...]}`` on ``/predict``, a context row). Each server answers once, checked
against the in-process prediction, before any timing. Then ``--warmup`` seconds at the
highest concurrency, untimed, and ``--seconds`` at each ``--concurrency``: requests/s, p50
and p99 latency (wrk's exact percentiles, printed by its Lua ``done`` hook), socket errors
and non-2xx answers. One run per setting (the figure is that run's, not a median). Servers
run one at a time, each in its own process group, stopped before the next starts.

Floor: ``model.predict`` of one NumPy row in this process: median of 50 samples, each the
mean of enough calls to last about 20 ms.

Batch scoring: ``--rows`` rows (default 1,000,000) sampled from the data with Gaussian noise
(5% of each column's standard deviation), one Parquet file, logged as dataset
``cancer-rows`` (untimed). keel: ``keel predict cancer@champion cancer-rows:v1 --batch-rows
B --json``; MLflow: ``mlflow.pyfunc.load_model(dir).predict`` over the same file read with
``pyarrow.parquet.ParquetFile.iter_batches(B)``, predictions written with a
``ParquetWriter``, in its venv. Both timed as whole processes (start to exit, imports and
model load included), peak RSS of each by ``getrusage(RUSAGE_CHILDREN)`` in a small wrapper
process started afresh for it (see :func:`run_measured`). MLflow's predictions are checked
against this process's on the same file; keel's when its ``--json`` names the output version.

Output: a table of every server and setting, the ratio table, then, as the last line of
stdout, one JSON object::

    {"benchmark": "serving", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": ..., "ratio": ..., "goal": ...}, ...]}

``ratio`` is how many times better keel is (throughput keel / peer; time and memory peer /
keel); ``goal`` is the ratio the issue asks for, or null for context rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape

from _common import (
    REPO,
    VENVS,
    Load,
    add_dir_option,
    bench_lock,
    cpus_and_ram,
    ensure_venv,
    free_port,
    keel_commit,
    load_summary,
    log,
    markdown,
    median,
    print_json,
    result_json,
    rich_table,
    run_line,
    run_measured,
    serve,
    stdout_console,
    verdict,
    warn_if_busy,
)

SRC = REPO / "src"
SERVERS = ("mlflow", "bentoml", "mlserver", "keel")
PARTS = (*SERVERS, "floor", "batch")
GOAL_RPS = {"mlflow": 50.0, "bentoml": 10.0, "mlserver": 3.0}
GOAL_P99 = {"mlflow": 10.0, "bentoml": 10.0, "mlserver": 3.0}
GOAL_P50_C1 = 1.0  # below MLServer's
GOAL_LOGGING = 0.9  # logging on keeps >= 90% of the throughput
GOAL_BATCH = 3.0
NOISE = 0.05

MLFLOW = "MLflow `mlflow models serve`"
BENTOML = "BentoML `bentoml serve`"
MLSERVER = "MLServer `mlserver start`"
MLSERVER_BATCHING = "MLServer, adaptive batching"
KEEL = "keel `keel serve cancer@champion`"
KEEL_2W = "keel, `--workers 2`"
KEEL_NOLOG = "keel, `logging: false`"
KEEL_PREDICT = "keel, `/predict` records"


# The model and its data


def cancer_data() -> tuple[Any, Any]:
    """Breast-cancer features as a DataFrame with SQL/JSON-safe column names, and labels."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame.columns = [c.strip().lower().replace(" ", "_") for c in frame.columns]
    return frame.astype("float64"), data.target.to_numpy()


def fit(frame: Any, labels: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=10_000).fit(frame.to_numpy(), labels)


def floor_ms(model: Any, row: np.ndarray, samples: int = 50) -> float:
    """Median over ``samples`` of the mean time of one ``model.predict(row)``, in ms."""
    timer = timeit.Timer(lambda: model.predict(row))
    number, total = timer.autorange()  # also the warm-up
    number = max(1, round(number * 0.02 / total))
    return median(timer.repeat(samples, number)) / number * 1000


def write_rows(path: Path, frame: Any, rows: int, seed: int = 0) -> None:
    """``rows`` rows sampled from ``frame`` with Gaussian noise, as one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    base = frame.to_numpy()
    scale = base.std(axis=0) * NOISE
    with pq.ParquetWriter(path, pa.schema([(c, pa.float64()) for c in frame.columns])) as out:
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            block = (
                base[rng.integers(0, len(base), n)] + rng.normal(size=(n, base.shape[1])) * scale
            )
            out.write_table(pa.table(dict(zip(frame.columns, block.T, strict=True))))


# Requests in each server's own format


@dataclass
class Target:
    """One server setting to load: how to start it, where to send what, how to read it."""

    name: str  # of its log file in the work folder
    label: str  # the name in the tables
    argv: list[str]
    env: dict[str, str]
    health: str
    url: str
    body: bytes
    answer: Callable[[Any], Any]  # the prediction read from the decoded JSON answer
    extra: list[tuple[str, str, bytes, Callable[[Any], Any]]] = field(default_factory=list)


def oip_body(row: list[float]) -> bytes:
    tensor = {"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}
    return json.dumps({"inputs": [tensor]}).encode()


def oip_answer(doc: Any) -> Any:
    return doc["outputs"][0]["data"][0]


def mlflow_body(columns: list[str], row: list[float]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns, "data": [row]}}).encode()


def post(url: str, body: bytes) -> Any:
    """POST a JSON body, return the decoded answer; a non-2xx answer raises with its text."""
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"{url} answered {err.code}: {err.read()[:500]!r}") from None


def check_answer(label: str, url: str, body: bytes, read: Callable[[Any], Any], want: int) -> None:
    doc = post(url, body)
    try:
        got = read(doc)
    except (KeyError, IndexError, TypeError) as err:
        raise RuntimeError(f"{label}: unexpected answer shape {doc!r} ({err!r})") from None
    if int(got) != want:
        raise RuntimeError(f"{label} predicted {got!r}, the model in this process {want}")
    log.log(f"{label} answers {got} at {url}, as the model does in this process")


# Load generators


@dataclass
class Timed:
    """One timed load run against one URL at one concurrency."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors and timeouts
    non_2xx: int


WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, " ..
    "\\"p99_us\\": %%d, \\"errors\\": %%d, \\"non_2xx\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def find_wrk() -> str | None:
    """wrk's path; installed from Debian's packages when missing and we are root."""
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log.log("wrk is missing: apt-get install wrk")
        for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(step, capture_output=True)
        found = shutil.which("wrk")
    return found


def run_wrk(wrk: str, work: Path, url: str, body: bytes, concurrency: int, seconds: float) -> Timed:
    """wrk -t1 -cN -dS with a Lua script posting ``body``; its ``done`` hook's figures."""
    script = work / "post.lua"
    script.write_text(WRK_LUA % body.decode())
    timeout = max(10, int(seconds) + 5)
    argv = [wrk, "-t1", f"-c{concurrency}", f"-d{seconds}s", f"--timeout={timeout}s"]
    done = subprocess.run(
        [*argv, "--latency", "-s", str(script), url], capture_output=True, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr}")
    out = json.loads(lines[-1].split(" ", 1)[1])
    return Timed(
        rps=out["requests"] / (out["duration_us"] / 1e6),
        p50_ms=out["p50_us"] / 1000,
        p99_ms=out["p99_us"] / 1000,
        requests=out["requests"],
        errors=out["errors"],
        non_2xx=out["non_2xx"],
    )


def run_httpx(url: str, body: bytes, concurrency: int, seconds: float) -> Timed:
    """The fallback: ``concurrency`` asyncio tasks on one httpx client, each posting in turn."""
    import httpx

    async def main() -> Timed:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        headers = {"Content-Type": "application/json"}
        latencies: list[float] = []
        errors = non_2xx = 0
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal errors, non_2xx
                while (start := time.perf_counter()) < deadline:
                    try:
                        response = await client.post(url, content=body, headers=headers)
                    except httpx.HTTPError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - start)
                    non_2xx += not 200 <= response.status_code < 300

            begin = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            wall = time.perf_counter() - begin
        ordered = sorted(latencies) or [float("nan")]
        pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
        return Timed(len(latencies) / wall, pick(0.5), pick(0.99), len(latencies), errors, non_2xx)

    return asyncio.run(main())


# Peers


def pins() -> list[str]:
    return [f"{dist}=={version(dist)}" for dist in ("scikit-learn", "pandas", "numpy")]


def peer_python(key: str) -> Path:
    packages = {
        "mlflow": ("mlflow", ["mlflow"]),
        "bentoml": ("bentoml", ["bentoml>=1.4,<1.5"]),
        "mlserver": ("mlserver_sklearn", ["mlserver", "mlserver-sklearn"]),
    }
    module, names = packages[key]
    return ensure_venv(VENVS / key, module, [*names, *pins()])


def peer_versions(python: Path, dists: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))"
    )
    done = subprocess.run([python, "-c", code, *dists], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def peer_env(python: Path) -> dict[str, str]:
    """The environment of a peer's processes: its venv activated (``mlflow models serve``
    runs ``uvicorn`` from ``PATH``), no keel or MLflow settings, telemetry off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "MLFLOW_"))}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    env |= {"PYTHONWARNINGS": "ignore", "DO_NOT_TRACK": "1", "BENTOML_DO_NOT_TRACK": "True"}
    return env | {"MLFLOW_DISABLE_TELEMETRY": "true"}


MLFLOW_SAVE = """
import pickle, sys
import mlflow.sklearn, pandas as pd
model = pickle.load(open(sys.argv[1], "rb"))
example = pd.read_parquet(sys.argv[2])
mlflow.sklearn.save_model(model, sys.argv[3], input_example=example)
"""

MLFLOW_BATCH = """
import json, sys, time
import mlflow.pyfunc, pyarrow as pa, pyarrow.parquet as pq
model_dir, source, dest, batch_rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
start = time.perf_counter()
model = mlflow.pyfunc.load_model(model_dir)
rows = positives = 0
writer = None
for batch in pq.ParquetFile(source).iter_batches(batch_size=batch_rows):
    pred = model.predict(batch.to_pandas())
    table = pa.table({"prediction": pa.array(pred)})
    writer = writer or pq.ParquetWriter(dest, table.schema)
    writer.write_table(table)
    rows += len(pred)
    positives += int(pred.sum())
writer.close()
seconds = time.perf_counter() - start
print(json.dumps({"rows": rows, "positives": positives, "seconds": seconds}))
"""

BENTO_SAVE = """
import pickle, sys
import bentoml
bentoml.sklearn.save_model("cancer", pickle.load(open(sys.argv[1], "rb")))
"""

BENTO_SERVICE = """
import bentoml
import numpy as np


@bentoml.service(workers=1)
class Svc:
    def __init__(self) -> None:
        self.model = bentoml.sklearn.load_model("cancer:latest")

    @bentoml.api
    def predict(self, data: np.ndarray) -> np.ndarray:
        return self.model.predict(data)
"""


def mlflow_target(python: Path, model_dir: Path, columns: list, row: list) -> Target:
    port = free_port()
    argv = [str(python.parent / "mlflow"), "models", "serve", "-m", str(model_dir)]
    argv += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    return Target(
        "mlflow-server",
        MLFLOW,
        [*argv, "--workers", "1"],
        peer_env(python),
        f"{base}/ping",
        f"{base}/invocations",
        mlflow_body(columns, row),
        lambda doc: doc["predictions"][0],
    )


def bentoml_target(python: Path, work: Path, row: list) -> Target:
    folder = work / "bentoml"
    folder.mkdir()
    (folder / "service.py").write_text(BENTO_SERVICE)
    env = peer_env(python) | {"BENTOML_HOME": str(work / "bentoml-home")}
    subprocess.run(
        [str(python), "-c", BENTO_SAVE, str(work / "model.pkl")], env=env, check=True, cwd=folder
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [str(python.parent / "bentoml"), "serve", "service:Svc", "--host", "127.0.0.1"]
    return Target(
        "bentoml-server",
        BENTOML,
        [*argv, "--port", str(port), "--working-dir", str(folder)],
        env,
        f"{base}/readyz",
        f"{base}/predict",
        json.dumps({"data": [row]}).encode(),
        lambda doc: doc[0],
    )


def mlserver_target(python: Path, work: Path, row: list, workers: int, batching: bool) -> Target:
    name = "mlserver-batching" if batching else "mlserver"
    folder = work / name
    (folder / "cancer").mkdir(parents=True)
    shutil.copy(work / "model.joblib", folder / "cancer" / "model.joblib")
    model_settings: dict[str, Any] = {
        "name": "cancer",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"},
    }
    if batching:
        model_settings |= {"max_batch_size": 32, "max_batch_time": 0.002}
    (folder / "cancer" / "model-settings.json").write_text(json.dumps(model_settings))
    port = free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": workers,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    base = f"http://127.0.0.1:{port}"
    return Target(
        f"{name}-server",
        MLSERVER_BATCHING if batching else MLSERVER,
        [str(python.parent / "mlserver"), "start", str(folder)],
        peer_env(python),
        f"{base}/v2/models/cancer/ready",
        f"{base}/v2/models/cancer/infer",
        oip_body(row),
        oip_answer,
    )


def keel_predict_answer(doc: Any) -> Any:
    """The first prediction of a ``/predict`` answer: ``predictions`` (or OIP ``outputs``)."""
    if isinstance(doc, dict) and "predictions" in doc:
        return doc["predictions"][0]
    return oip_answer(doc)


NO_LOGGING_SPEC = """\
name: cancer-nolog
model: cancer
routes:
  - {version: "@champion", weight: 100}
logging: false
"""


def keel_target(env: dict, what: str, row: list, columns: list, workers: int = 1) -> Target:
    keel_bin = str(Path(sys.executable).parent / "keel")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    label = KEEL_NOLOG if what == "nolog" else KEEL_2W if workers > 1 else KEEL
    served = "cancer@champion" if what == "default" else "nolog.yaml"
    extra = []
    if what == "default" and workers == 1:
        records = json.dumps({"records": [dict(zip(columns, row, strict=True))]}).encode()
        extra.append((KEEL_PREDICT, f"{base}/predict", records, keel_predict_answer))
    return Target(
        f"keel-{what}-{workers}w",
        label,
        [
            keel_bin,
            "serve",
            served,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env,
        f"{base}/v2/models/cancer/ready",
        f"{base}/v2/models/cancer/infer",
        oip_body(row),
        oip_answer,
        extra,
    )


# Results


@dataclass
class Row:
    measure: str
    unit: str
    keel: float | None
    peer: float | None
    peer_name: str
    goal: float | None
    higher_is_better: bool
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.keel is None or self.peer is None or 0 in (self.keel, self.peer):
            return None
        return self.keel / self.peer if self.higher_is_better else self.peer / self.keel

    def cells(self) -> list[str]:
        ratio = self.ratio
        ran = self.keel is not None and self.peer is not None
        return [
            self.measure,
            self.unit,
            fmt(self.keel),
            self.peer_name,
            fmt(self.peer),
            "-" if ratio is None else f"{ratio:,.2f}",
            "-" if self.goal is None else f">= {self.goal:g}",
            verdict(ratio, self.goal) if ran else "not run",
            self.note,
        ]

    def to_json(self) -> dict[str, object]:
        ratio = self.ratio
        return result_json(
            self.measure,
            None if self.keel is None else float(f"{self.keel:.4g}"),
            None if self.peer is None else float(f"{self.peer:.4g}"),
            self.peer_name,
            self.unit,
            None if ratio is None else round(ratio, 3),
            self.goal,
        )


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


COLUMNS = ["measure", "unit", "keel", "peer", "peer value", "ratio", "goal", "verdict", "note"]
LEFT = {"measure", "unit", "peer", "verdict", "note"}
RAW_COLUMNS = ["server", "endpoint", "c", "requests/s", "p50 ms", "p99 ms", "requests", "errors"]
RAW_LEFT = {"server", "endpoint"}


def ratio_rows(
    loads: dict[tuple[str, int], Timed], floor: float | None, batch: dict[str, Any], high: int
) -> list[Row]:
    """The issue's goals as rows, then the context rows (goal None)."""

    def get(label: str, c: int, what: str) -> float | None:
        timed = loads.get((label, c))
        return None if timed is None else getattr(timed, what)

    def rps(peer: str, c: int, goal: float | None, note: str = "", keel: str = KEEL) -> Row:
        k, p = get(keel, c, "rps"), get(peer, c, "rps")
        return Row(f"throughput, c={c}", "requests/s", k, p, peer, goal, True, note)

    def latency(q: str, peer: str, c: int, goal: float | None, note: str = "") -> Row:
        k, p = get(KEEL, c, f"{q}_ms"), get(peer, c, f"{q}_ms")
        return Row(f"{q} latency, c={c}", "ms", k, p, peer, goal, False, note)

    peers = [(MLFLOW, "mlflow"), (BENTOML, "bentoml"), (MLSERVER, "mlserver")]
    peers.append((MLSERVER_BATCHING, "mlserver"))
    rows = [rps(peer, high, GOAL_RPS[key]) for peer, key in peers]
    rows += [latency("p99", peer, high, GOAL_P99[key]) for peer, key in peers]
    rows.append(latency("p50", MLSERVER, 1, GOAL_P50_C1, "goal: below MLServer's"))
    rows.append(
        Row(
            f"throughput with prediction logging, c={high}",
            "requests/s",
            get(KEEL, high, "rps"),
            get(KEEL_NOLOG, high, "rps"),
            KEEL_NOLOG,
            GOAL_LOGGING,
            True,
            "goal: logging costs at most 10%",
        )
    )
    rows.append(
        Row(
            f"batch scoring, {batch.get('rows', 0):,} rows (whole process)",
            "s",
            batch.get("keel_s"),
            batch.get("mlflow_s"),
            "MLflow `pyfunc.load_model(...).predict` in chunks",
            GOAL_BATCH,
            False,
            batch.get("note", ""),
        )
    )
    # context
    rows += [rps(peer, 1, None) for peer, _ in peers]
    rows += [latency("p50", peer, 1, None) for peer, _ in peers if peer != MLSERVER]
    rows += [latency("p99", peer, 1, None) for peer, _ in peers]
    rows.append(rps(KEEL_NOLOG, 1, None, "logging on against off"))
    for c in sorted({c for _, c in loads}):
        k, p = get(KEEL_2W, c, "rps"), get(KEEL, c, "rps")
        note = "the load generator shares the CPUs"
        measure = f"throughput, 2 workers against 1, c={c}"
        rows.append(Row(measure, "requests/s", k, p, f"{KEEL} (1 worker)", None, True, note))
    rows.append(
        Row(
            f"throughput, `/predict` records against OIP v2, c={high}",
            "requests/s",
            get(KEEL_PREDICT, high, "rps"),
            get(KEEL, high, "rps"),
            "keel, OIP v2 infer",
            None,
            True,
        )
    )
    rows.append(
        Row(
            "p50 latency c=1 against the floor",
            "ms",
            get(KEEL, 1, "p50_ms"),
            floor,
            "in-process one-row NumPy `predict`",
            None,
            False,
            "what no server can beat",
        )
    )
    rows.append(
        Row(
            "batch scoring, model load + scoring inside the process",
            "s",
            batch.get("keel_inside_s"),
            batch.get("mlflow_inside_s"),
            "MLflow `pyfunc` in chunks",
            None,
            False,
            "imports left out: keel's --json `seconds`, MLflow's timed in its script",
        )
    )
    rows.append(
        Row(
            "batch scoring, peak RSS",
            "MB",
            batch.get("keel_mb"),
            batch.get("mlflow_mb"),
            "MLflow `pyfunc` in chunks",
            None,
            False,
            "ru_maxrss of each process, read in a fresh wrapper per run",
        )
    )
    return rows


# Main


def load_server(
    target: Target,
    work: Path,
    want: int,
    concurrency: list[int],
    seconds: float,
    warmup: float,
    generate: Callable[[str, bytes, int, float], Timed],
) -> dict[tuple[str, int], Timed]:
    """Start one server, check its answer, warm it up, then time each concurrency."""
    out: dict[tuple[str, int], Timed] = {}
    with serve(target.name, target.argv, target.env, target.health, work):
        endpoints = [(target.label, target.url, target.body, target.answer), *target.extra]
        for label, url, body, read in endpoints:
            try:
                check_answer(label, url, body, read, want)
            except RuntimeError as err:
                tail = (work / f"{target.name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{err}\n{target.name}.log ends:\n{tail}") from None
        for label, url, body, _ in endpoints:
            if warmup > 0:
                generate(url, body, max(concurrency), warmup)
            for c in concurrency:
                timed = generate(url, body, c, seconds)
                out[(label, c)] = timed
                log.log(
                    f"  {label}, c={c}: {timed.rps:,.0f} requests/s, p50 {timed.p50_ms:.2f} ms, "
                    f"p99 {timed.p99_ms:.2f} ms, {timed.errors + timed.non_2xx} errors"
                )
    return out


def keel_batch(env: dict, work: Path, batch_rows: int) -> dict[str, Any]:
    """``keel predict`` over the logged rows: whole-process seconds and peak MB, and what its
    ``--json`` summary says (``output``: the new version, ``seconds``: inside the process)."""
    keel_bin = str(Path(sys.executable).parent / "keel")
    argv = [keel_bin, "predict", "cancer@champion", "cancer-rows:v1"]
    child = run_measured([*argv, "--batch-rows", str(batch_rows), "--json"], env, work)
    out: dict[str, Any] = {"keel_s": child.seconds, "keel_mb": child.peak_rss_mb}
    try:
        summary = json.loads(child.stdout)
    except ValueError:
        summary = {}
    if isinstance(summary, dict):
        out["keel_output"] = summary.get("output")
        out["keel_inside_s"] = summary.get("seconds")
    return out


def check_keel_output(env: dict, ref: str | None, positives: int) -> str:
    """Compare keel's ``prediction`` column with this process's predictions; the note."""
    if not isinstance(ref, str):
        return "keel's output not checked: its --json named no output version"
    import keel

    with keel.Client(env["KEEL_URI"], objects=env["KEEL_OBJECTS"]) as client:
        table = client.datasets.load(ref, format="arrow")
    got = int(np.asarray(table.column("prediction")).sum())
    if got != positives:
        raise RuntimeError(f"keel's {ref} has {got} positive predictions, this process {positives}")
    return f"both outputs checked (keel's {ref} also has proba_ columns)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="load time per setting")
    parser.add_argument("--warmup", type=int, default=5, help="untimed load before timing")
    parser.add_argument("--concurrency", default="1,32", help="comma-separated (default 1,32)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for batch scoring")
    parser.add_argument("--batch-rows", type=int, default=65_536, help="rows per batch")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all); without "
        "keel, only the peers' figures are printed",
    )
    parser.add_argument(
        "--mlserver-workers", type=int, default=0, help="MLServer's parallel_workers (default 0)"
    )
    parser.add_argument(
        "--loadgen", choices=("wrk", "httpx"), default="wrk", help="load generator (default wrk)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown")
    add_dir_option(parser)
    args = parser.parse_args(argv)
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    if only - set(PARTS):
        parser.error(f"--only: unknown {sorted(only - set(PARTS))}; choose from {PARTS}")
    try:
        concurrency = sorted({int(c) for c in args.concurrency.split(",")})
    except ValueError:
        parser.error(f"--concurrency: expected numbers like 1,32, got {args.concurrency!r}")
    if not concurrency or min(concurrency) < 1 or args.seconds <= 0 or args.rows < 1:
        parser.error("--concurrency, --seconds and --rows must be positive")

    with bench_lock():
        return run(args, only, concurrency)


def run(args: argparse.Namespace, only: set[str], concurrency: list[int]) -> int:
    warn_if_busy("other work slows the servers and the load generator unevenly")
    wrk = find_wrk() if args.loadgen == "wrk" else None
    if wrk is not None:
        loadgen = f"wrk ({wrk}, 1 thread)"

        def generate(url: str, body: bytes, c: int, seconds: float) -> Timed:
            return run_wrk(wrk, work, url, body, c, seconds)
    else:
        loadgen = "asyncio + httpx in the benchmark process (wrk not found)"
        if args.loadgen == "httpx":
            loadgen = "asyncio + httpx in the benchmark process (--loadgen httpx)"
        generate = run_httpx
    log.log(f"load generator: {loadgen}")

    pythons = {key: peer_python(key) for key in ("mlflow", "bentoml", "mlserver") if key in only}
    if "batch" in only and "mlflow" not in pythons:
        pythons["mlflow"] = peer_python("mlflow")
    versions: dict[str, str] = {}
    dists = {"mlflow": ["mlflow"], "bentoml": ["bentoml"]}
    dists["mlserver"] = ["mlserver", "mlserver-sklearn", "uvloop"]
    for key, python in pythons.items():
        versions |= peer_versions(python, dists[key])
    commit = keel_commit()
    start_load = Load.now()
    work = Path(tempfile.mkdtemp(prefix="keel-bench-serving-", dir=args.dir))
    log.log(f"working in {work}")
    loads: dict[tuple[str, int], Timed] = {}
    batch: dict[str, Any] = {}
    floor = None
    failed: list[str] = []
    try:
        import joblib
        import pandas as pd

        frame, labels = cancer_data()
        model = fit(frame, labels)
        columns = list(frame.columns)
        first = frame.iloc[[0]]
        row = [float(v) for v in first.to_numpy()[0]]
        want = int(model.predict(first.to_numpy())[0])
        (work / "model.pkl").write_bytes(pickle.dumps(model))
        joblib.dump(model, work / "model.joblib")
        frame.head().to_parquet(work / "example.parquet")
        if "floor" in only:
            floor = floor_ms(model, first.to_numpy())
            log.log(f"floor: one-row NumPy predict in this process, {floor * 1000:.1f} us")

        targets: list[Target] = []
        keel_env = {}
        if "keel" in only:
            if str(SRC) not in sys.path:
                sys.path.insert(0, str(SRC))
            import keel
            from keel.deploy.spec import parse_spec
            from keel.store import init_project

            project = init_project(work / "keel")
            keel_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
            keel_env |= {"KEEL_URI": project.config.uri, "KEEL_OBJECTS": project.config.objects}
            keel_env["KEEL_SYSTEM_METRICS"] = "0"
            keel_env["PYTHONPATH"] = str(SRC)  # the keel of this checkout, as keel_commit says
            project.close()
            with keel.Client(keel_env["KEEL_URI"], objects=keel_env["KEEL_OBJECTS"]) as client:
                registered = client.models.register(model, "cancer", input_example=frame.head())
                client.models.set_alias(registered, "champion")
            log.log(f"keel: registered {registered.ref} as cancer@champion")
            (work / "nolog.yaml").write_text(NO_LOGGING_SPEC)
            parse_spec(work / "nolog.yaml")  # a mistake here stops the run before any server
            targets += [
                keel_target(keel_env, "default", row, columns),
                keel_target(keel_env, "nolog", row, columns),
                keel_target(keel_env, "default", row, columns, workers=2),
            ]
        if "mlflow" in pythons:
            model_dir = work / "mlflow-model"
            save = [str(work / "model.pkl"), str(work / "example.parquet"), str(model_dir)]
            subprocess.run(
                [str(pythons["mlflow"]), "-c", MLFLOW_SAVE, *save],
                env=peer_env(pythons["mlflow"]),
                cwd=work,
                check=True,
            )
        if "mlflow" in only:
            targets.append(mlflow_target(pythons["mlflow"], model_dir, columns, row))
        if "bentoml" in only:
            targets.append(bentoml_target(pythons["bentoml"], work, row))
        if "mlserver" in only:
            for batching in (False, True):
                python = pythons["mlserver"]
                targets.append(mlserver_target(python, work, row, args.mlserver_workers, batching))

        for target in targets:
            log.log(f"{target.label}: {' '.join(target.argv)}")
            try:
                loads |= load_server(
                    target, work, want, concurrency, args.seconds, args.warmup, generate
                )
            except RuntimeError as err:  # one server failing does not lose the others' figures
                log.print(f"[red]{escape(target.label)} failed:[/] {escape(str(err))}")
                failed.append(f"{target.label}: {str(err).splitlines()[0]}")

        if "batch" in only:
            source = work / "rows.parquet"
            log.log(f"batch scoring: writing {args.rows:,} rows to {source.name}")
            write_rows(source, frame, args.rows)
            expected = int(model.predict(pd.read_parquet(source).to_numpy()).sum())
            batch["rows"] = args.rows
            dest = work / "mlflow-predictions.parquet"
            batch_args = [str(model_dir), str(source), str(dest), str(args.batch_rows)]
            child = run_measured(
                [str(pythons["mlflow"]), "-c", MLFLOW_BATCH, *batch_args],
                peer_env(pythons["mlflow"]),
                work,
            )
            report = json.loads(child.stdout.strip().splitlines()[-1])
            inside = report.pop("seconds")
            if report != {"rows": args.rows, "positives": expected}:
                raise RuntimeError(f"MLflow's batch predictions differ: {report}, {expected}")
            batch |= {"mlflow_s": child.seconds, "mlflow_mb": child.peak_rss_mb}
            batch["mlflow_inside_s"] = inside
            log.log(f"  MLflow: {child.seconds:.1f} s, peak {child.peak_rss_mb:,.0f} MB")
            if "keel" in only:
                with keel.Client(keel_env["KEEL_URI"], objects=keel_env["KEEL_OBJECTS"]) as c:
                    c.datasets.log(source, "cancer-rows")
                try:
                    batch |= keel_batch(keel_env, work, args.batch_rows)
                    batch["note"] = check_keel_output(keel_env, batch.get("keel_output"), expected)
                except RuntimeError as err:
                    log.print(f"[red]keel predict failed:[/] {escape(str(err))}")
                    failed.append(f"keel predict: {str(err).splitlines()[0]}")
                else:
                    log.log(
                        f"  keel: {batch['keel_s']:.1f} s, peak {batch['keel_mb']:,.0f} MB "
                        f"({batch['note']})"
                    )
        load_line = load_summary(start_load, Load.now()) + "."
    finally:
        shutil.rmtree(work, ignore_errors=True)
        log.log(f"removed {work}")

    raw = [
        [
            label,
            f"c={c}",
            str(c),
            f"{t.rps:,.0f}",
            f"{t.p50_ms:.2f}",
            f"{t.p99_ms:.2f}",
            f"{t.requests:,}",
            f"{t.errors + t.non_2xx:,}",
        ]
        for (label, c), t in loads.items()
    ]
    for cells in raw:
        cells[1] = "OIP v2 infer" if "`/predict`" not in cells[0] else "/predict"
        if cells[0].startswith("MLflow"):
            cells[1] = "/invocations"
        elif cells[0].startswith("BentoML"):
            cells[1] = "/predict"
    high = max(concurrency)
    rows = ratio_rows(loads, floor, batch, high)
    shown = [r for r in rows if r.keel is not None or r.peer is not None]
    ver = ", ".join(f"{k} {v}" for k, v in versions.items())
    lines = [
        run_line("serving"),
        f"machine: {cpus_and_ram()}; Python {sys.version.split()[0]}; scikit-learn "
        f"{version('scikit-learn')}; {ver or 'no peers'}; keel {commit}",
        "model: LogisticRegression(max_iter=10_000) on scikit-learn's breast-cancer data "
        "(569 rows, 30 features); each answer checked once against the in-process predict",
        f"load generator: {loadgen}; {args.warmup:g} s warm-up at c={high}, then "
        f"{args.seconds:g} s at each of c={', '.join(map(str, concurrency))}; one run per "
        "setting; every server on 127.0.0.1, one worker (keel `--workers 2` as context), "
        "started and stopped in turn",
        "keel: prediction logging on (its default) unless `logging: false`"
        + (f"; MLServer: parallel_workers {args.mlserver_workers}" if "mlserver" in only else ""),
        load_line,
    ]
    lines += [f"FAILED, so not measured: {failure}" for failure in failed]
    if batch:
        lines.append(
            f"batch scoring: {args.rows:,} rows x 30 from one Parquet file, batches of "
            f"{args.batch_rows:,} rows, whole processes timed (imports and model load included)"
        )
    console = stdout_console(200)
    console.print(rich_table("servers under load", RAW_COLUMNS, raw, RAW_LEFT))
    console.print(rich_table("keel against its peers", COLUMNS, [r.cells() for r in shown], LEFT))
    for line in lines:
        console.print(line, markup=False)
    if args.markdown:
        text = markdown(RAW_COLUMNS, raw, RAW_LEFT, lines) + "\n"
        text += markdown(COLUMNS, [r.cells() for r in shown], LEFT, [])
        args.markdown.write_text(text)
    print_json("serving", [r.to_json() for r in shown])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
