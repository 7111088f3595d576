"""Benchmark keel's experiment tracking against MLflow, both on SQLite, and over HTTP.

Run it from the repository root::

    .venv/bin/python benchmarks/tracking.py                 # full size, 45-65 min on 2 CPUs
    .venv/bin/python benchmarks/tracking.py --quick         # a tenth of every size, 1 round
    .venv/bin/python benchmarks/tracking.py --skip-mlflow   # keel alone (no peer, no ratio)
    .venv/bin/python benchmarks/tracking.py --repeat 1      # full size in <= 20 min (below)
    .venv/bin/python benchmarks/tracking.py --scale-only --scale-runs 1000000  # (c') alone

Full size within 20 minutes. The 44-65 minutes of the full runs are MLflow's: its side
does a fixed number of operations, each bound by a per-call latency (a SQLite commit or an
HTTP round trip), and at the rates of those runs (loaded machine) one full round of it
takes 12-16 minutes: 2,000 single calls in each of 2 modes, locally (40-70 s each) and
over HTTP (75-120 s each); 100,000 points through log_batch (45-85 s); 1,000 runs
locally (130-180 s) and over HTTP (290-370 s), run creation being the one rate that falls
as MLflow's store grows (49 runs/s at a tenth of the size, 5.5 at full size). keel's side
of a round takes well under a minute, (c') at 100,000 runs about two. So ``--repeat 1``
(the warm-up round at a tenth, then one round at full size) measures every full size in
about 20 minutes even at those loaded rates, and in a few minutes on a quiet machine (the
quick run's rates put MLflow's full round at 3-6 minutes). It is fair to MLflow: the same
operations, sizes, data, stores and order as the 3-round run, only fewer rounds (no
median, no spread: the verdicts then rest on one round, so re-run any row near its goal).
Shrinking MLflow's share instead (``--mlflow-runs 300``) would also be fair to it (a
smaller store only makes its run creation and its search faster, and rates are per run),
but it changes what is compared; prefer ``--repeat 1``. The 1,000,000-run (c') row is
measured apart with ``--scale-only`` (add ``--scale-pg URL`` with an empty database for
PostgreSQL's row). Its bulk load, measured on 2 CPUs at a load average of 14-20 (the
loader got about a tenth of a CPU: some 110 s of CPU for the first 700,000 runs), took
28 minutes on SQLite and 17 on PostgreSQL; expect a few minutes on a quiet machine.

MLflow (the latest release) is installed once into its own virtual environment,
``.bench-venvs/mlflow`` (git-ignored), with ``python3 -m venv`` and ``pip install mlflow``;
the install is skipped when ``mlflow`` already imports there. MLflow runs in that
environment as a subprocess (a script written to the work folder, one process per round)
and prints its timings as a JSON object on its last line; keel runs in this process,
through its SDK (``keel.start_run``, ``run.log_metric``, ``keel.search_runs``).

Both use SQLite: keel a store made by ``keel.store.init_project``, MLflow
``sqlite:///<work>/mlflow.db``, each in a fresh folder under ``--dir`` that is removed at
the end. ``KEEL_SYSTEM_METRICS=0``: no sampler thread. Every run is created with
``capture=True`` (keel's default: code and environment are recorded); the working
directory is the work folder, which is not a git repository, so neither tool records git
state (in a repository with uncommitted changes keel would also store the diff).

Measures, as the issue lists them:

(a) single ``log_metric`` calls in one run: 10,000 for keel (``run.log_metric``, buffered
    and written in the background), 2,000 for MLflow, both with its default synchronous
    calls and with ``synchronous=False``. Timed end to end: from the first call to the
    end of the run, so the final flush (keel) and ``flush_async_logging`` (MLflow) are in.
    Goal: keel >= 1,000x MLflow's points/s in both modes.
(b) bulk points: 1,000,000 through keel's ``run.log_metrics`` (100 keys a step, 10,000
    steps), 100,000 through MLflow's ``MlflowClient.log_batch`` in chunks of 1,000 (100
    keys, 10 steps a chunk); building the points is timed too, and so is ending the run.
    Goal: keel >= 50x MLflow's points/s. (b') the same 1,000,000 points as 100 curves of
    10,000 steps through ``run.log_metrics_array`` (one NumPy array a key), against the
    same MLflow figure.
(c) 1,000 runs, each created with 5 params and 5 metrics (keel: ``start_run(params=...)``
    then ``log_metrics``; MLflow: ``start_run`` then ``log_params`` and ``log_metrics``),
    ended FINISHED. Goal: keel >= 50x MLflow's runs/s. Then a search of those runs,
    ``metrics.m0 > 0.5 and params.p1 = 'x'`` ordered by ``metrics.m0 DESC``, at most 100
    rows, as a pandas DataFrame from both. Goal: keel >= 5x faster.
    Both tools get the same generated params and metrics (seeded), and both searches must
    return the same number of rows and the same top value, or the benchmark stops.
    A further row, "(c) deferred runs", makes the same runs through the opt-in
    ``start_run(..., deferred=True)`` (after the search, in an experiment of their own):
    each run is then one write transaction (one request over HTTP), created ended with
    its params, tags and metrics, instead of two; against the same MLflow figure.
(c') keel alone: the same search over ``--scale-runs`` runs (default 100,000) that use
    1,000 distinct metric keys (``m0`` and 5 of ``m1``..``m999`` each, plus 5 params).
    Creating 100,000 runs through the SDK would take most of an hour, so these runs are
    written straight into the store's tables (``keel.store.schema``) in bulk, untimed,
    after one run made through the tracking service. Goal: under 1 s; the row shows the
    1 s budget as its peer and ``ratio = 1 s / keel seconds``. ``--scale-runs 1000000``
    is the issue's size; ``--scale-pg URL`` adds the same row on PostgreSQL (an empty
    database at URL, e.g. ``postgresql+psycopg://127.0.0.1/bench``: its tables are
    created and left filled; they are analysed after the load, as autovacuum would).
(d) (a) and (c) again through each tool's server over HTTP on loopback: ``keel server``
    and ``mlflow server``, each over its own fresh SQLite file, both with one worker;
    the clients are the same SDK calls pointed at ``http://127.0.0.1:PORT``.

Method: rounds, with keel and MLflow taking turns within each round (keel local, MLflow
local, keel HTTP, MLflow HTTP), so that a slow spell of this shared machine hits both:
one warm-up round at a tenth of every size (imports, schema creation, first connections;
untimed), then ``--repeat`` timed rounds (default 3). Every round works in new experiments
of the same databases. Each figure is the median of the rounds (for a search, of 3 calls
per round after one untimed call), timed with ``time.perf_counter``; the table shows the
spread of the runs.

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "tracking", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": ..., "ratio": ..., "goal": ...}, ...]}

``ratio`` is keel / peer for a rate and peer / keel for seconds (above 1, keel is
faster); ``goal`` is the ratio the issue asks for, or null for context rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

import keel
import keel.client
import keel.config
import keel.tracking
from _common import (
    VENVS,
    add_dir_option,
    cpus_and_ram,
    ensure_venv,
    free_port,
    keel_commit,
    log,
    median,
    print_json,
    python_version,
    result_json,
    serve,
    spread,
    stdout_console,
    verdict,
)

MLFLOW_VENV = VENVS / "mlflow"
FILTER = "metrics.m0 > 0.5 and params.p1 = 'x'"
ORDER_BY = "metrics.m0 DESC"
MAX_RESULTS = 100
BULK_KEYS = 100  # metric keys per step in (b)
MLFLOW_CHUNK = 1000  # points per MLflow log_batch call in (b)
SCALE_KEYS = 1000  # distinct metric keys in (c')
SEARCH_CALLS = 3  # timed searches per round, after one untimed
GOAL_SINGLE = 1000.0
GOAL_BULK = 50.0
GOAL_RUNS = 50.0
GOAL_RUNS_HTTP = 20.0  # issue #17: run creation >= 50x on SQLite, >= 20x over HTTP
GOAL_SEARCH = 5.0
BUDGET_SCALE_S = 1.0


@dataclass(frozen=True)
class Sizes:
    keel_single: int = 10_000
    mlflow_single: int = 2_000
    keel_bulk: int = 1_000_000
    mlflow_bulk: int = 100_000
    keel_runs: int = 1_000
    mlflow_runs: int = 1_000
    scale_runs: int = 100_000

    def tenth(self) -> Sizes:
        """A tenth of every size; bulk sizes stay whole multiples of their chunks."""
        return Sizes(
            keel_single=max(self.keel_single // 10, 1),
            mlflow_single=max(self.mlflow_single // 10, 1),
            keel_bulk=max(self.keel_bulk // 10 // BULK_KEYS, 1) * BULK_KEYS,
            mlflow_bulk=max(self.mlflow_bulk // 10 // MLFLOW_CHUNK, 1) * MLFLOW_CHUNK,
            keel_runs=max(self.keel_runs // 10, 1),
            mlflow_runs=max(self.mlflow_runs // 10, 1),
            scale_runs=self.scale_runs // 10,
        )


@dataclass
class Figure:
    """A rate (``amount`` per second) or a time (``amount`` None) from several runs."""

    amount: int | None
    seconds: list[float]

    @property
    def value(self) -> float:
        seconds = median(self.seconds)
        return seconds if self.amount is None else self.amount / seconds

    @property
    def spread(self) -> float:
        """(slowest - fastest) / median run time."""
        return spread(self.seconds)


@dataclass
class Result:
    """One row of the table and of the JSON line: keel against one peer (or none)."""

    measure: str
    unit: str
    keel: Figure
    peer: Figure | None
    peer_name: str | None
    goal: float | None

    @property
    def ratio(self) -> float | None:
        if self.peer is None:
            return None
        if self.keel.amount is None:  # seconds: less is better
            return self.peer.value / self.keel.value
        return self.keel.value / self.peer.value

    @property
    def verdict(self) -> str:
        return verdict(self.ratio, self.goal)

    def to_json(self) -> dict[str, object]:
        ratio = None if self.ratio is None else round(self.ratio, 3)
        peer = None if self.peer is None else _round(self.peer.value)
        keel = _round(self.keel.value)
        return result_json(self.measure, keel, peer, self.peer_name, self.unit, ratio, self.goal)


def _round(value: float) -> float:
    return round(value, 4) if value < 10 else round(value, 1)


# Data


def make_run_data(n: int, seed: int = 0) -> list[tuple[dict[str, str], dict[str, float]]]:
    """Params and metrics of ``n`` runs: 5 params (p1 is 'x' or 'y'), 5 metrics m0..m4."""
    rng = random.Random(seed)
    data = []
    for i in range(n):
        params = {
            "p0": str(i),
            "p1": "x" if i % 2 == 0 else "y",
            "p2": rng.choice(["adam", "sgd", "rmsprop"]),
            "p3": f"{rng.random():.4f}",
            "p4": str(rng.randint(1, 10)),
        }
        metrics = {f"m{j}": round(rng.random(), 6) for j in range(5)}
        data.append((params, metrics))
    return data


def expected_search(data: Sequence[tuple[dict[str, str], dict[str, float]]]) -> tuple[int, float]:
    """What the search must return over ``data``: its row count and its first m0."""
    hits = sorted((m["m0"] for p, m in data if m["m0"] > 0.5 and p["p1"] == "x"), reverse=True)
    return min(len(hits), MAX_RESULTS), hits[0] if hits else float("nan")


# keel


def use_keel(uri: str, objects: str | None = None) -> None:
    """Point the SDK at a store (or a server), as a fresh process would see it."""
    keel.client.reset_default_client()
    os.environ["KEEL_URI"] = uri
    if objects:
        os.environ["KEEL_OBJECTS"] = objects
    else:
        os.environ.pop("KEEL_OBJECTS", None)
    keel.config.reset()


def keel_single(experiment: str, n: int) -> float:
    run = keel.start_run(experiment=experiment, capture=True)
    start = time.perf_counter()
    with run:  # leaving the block flushes the buffer and ends the run
        for i in range(n):
            run.log_metric("loss", i * 0.001)
    return time.perf_counter() - start


def keel_bulk(experiment: str, n: int) -> float:
    keys = [f"k{j}" for j in range(BULK_KEYS)]
    run = keel.start_run(experiment=experiment, capture=True)
    start = time.perf_counter()
    with run:
        for step in range(n // BULK_KEYS):
            run.log_metrics({k: step * 0.001 + j for j, k in enumerate(keys)}, step=step)
    return time.perf_counter() - start


def keel_arrays(experiment: str, n: int) -> float:
    import numpy as np

    steps = n // BULK_KEYS
    run = keel.start_run(experiment=experiment, capture=True)
    start = time.perf_counter()
    with run:
        base = np.arange(steps) * 0.001
        for j in range(BULK_KEYS):
            run.log_metrics_array(f"k{j}", base + j)
    return time.perf_counter() - start


def keel_runs(experiment: str, data: Sequence[tuple[dict, dict]]) -> float:
    start = time.perf_counter()
    for params, metrics in data:
        with keel.start_run(experiment=experiment, params=params, capture=True) as run:
            run.log_metrics(metrics)
    return time.perf_counter() - start


def keel_deferred_runs(experiment: str, data: Sequence[tuple[dict, dict]]) -> float:
    """(c) through the opt-in ``start_run(deferred=True)``: each run one write."""
    start = time.perf_counter()
    for params, metrics in data:
        with keel.start_run(
            experiment=experiment, params=params, capture=True, deferred=True
        ) as run:
            run.log_metrics(metrics)
    return time.perf_counter() - start


def keel_search(experiment: str, expected: tuple[int, float]) -> list[float]:
    """One untimed search, then SEARCH_CALLS timed ones; checks what comes back."""
    times = []
    for call in range(SEARCH_CALLS + 1):
        start = time.perf_counter()
        frame = keel.search_runs(
            experiment, filter=FILTER, order_by=[ORDER_BY], max_results=MAX_RESULTS
        )
        elapsed = time.perf_counter() - start
        check_search("keel", experiment, len(frame), _first(frame), expected)
        if call:
            times.append(elapsed)
    return times


def _first(frame) -> float:
    return float(frame["metrics.m0"].iloc[0]) if len(frame) else float("nan")


def check_search(tool: str, where: str, rows: int, first: float, expected: tuple[int, float]):
    want_rows, want_first = expected
    if rows != want_rows or (rows and abs(first - want_first) > 1e-9):
        raise RuntimeError(
            f"{tool} search in {where} returned {rows} rows, first m0 {first}; "
            f"expected {want_rows} rows, first m0 {want_first}"
        )


def populate_scale(n: int, seed: int = 1) -> tuple[str, tuple[int, float]]:
    """``n`` FINISHED runs in experiment 'scale' of the current local store, in bulk.

    The first run goes through the tracking service (creating the experiment); the rest
    are written straight into the schema's tables as tuples, 10,000 runs a transaction:
    ``executemany`` through the driver on SQLite, ``COPY`` on PostgreSQL (psycopg's
    ``executemany`` is a round trip a row). 1,000,000 runs take minutes, not an hour.
    """
    from keel.store import new_id, now_ms
    from keel.tracking._chunks import pack

    rng = random.Random(seed)
    backend = keel.client.default_client().runs
    first = backend.create_run("scale", params={"p0": "0", "p1": "y"}, tags={"keel.user": "b"})
    backend.log_batch(first.id, metrics=[("m0", 0.0, 0, now_ms())])
    backend.set_status(first.id, "FINISHED")
    hits: list[float] = []
    store = backend.store
    postgres = store.engine.dialect.name == "postgresql"
    chunk = 10_000
    optimizers = ["adam", "sgd", "rmsprop"]
    others = range(1, SCALE_KEYS)
    tables = {
        "runs": "id, experiment_id, name, status, created_at, started_at, ended_at",
        "run_params": "run_id, key, value",
        "run_tags": "run_id, key, value",
        "run_latest_metrics": "id, run_id, key, step, timestamp, value",
        # a chunk of one point per series (the latest row's id), see keel.tracking._chunks
        "run_metrics": "series_id, points, steps, timestamps, metric_values",
    }
    with store.read() as conn:
        series = conn.exec_driver_sql("SELECT MAX(id) FROM run_latest_metrics").scalar() or 0
    started = time.perf_counter()
    for begin in range(1, n, chunk):
        runs, params, tags, metrics, points = [], [], [], [], []
        now = now_ms()
        for i in range(begin, min(begin + chunk, n)):
            run_id = new_id()
            runs.append((run_id, first.experiment_id, f"run-{i}", "FINISHED", now, now, now))
            p1 = "x" if i % 2 == 0 else "y"
            params += (
                (run_id, "p0", str(i)),
                (run_id, "p1", p1),
                (run_id, "p2", rng.choice(optimizers)),
                (run_id, "p3", f"{rng.random():.4f}"),
                (run_id, "p4", str(rng.randint(1, 10))),
            )
            tags.append((run_id, "keel.user", "bench"))
            keys = rng.sample(others, 5)  # drawn first, then the values: the same data
            value = round(rng.random(), 6)  # as earlier versions of this script wrote
            series += 1
            metrics.append((series, run_id, "m0", 0, now, value))
            points.append((series, *pack(([value], [0], [now]))[0]))
            if value > 0.5 and p1 == "x":
                hits.append(value)
            for k in keys:
                series += 1
                value = round(rng.random(), 6)
                metrics.append((series, run_id, f"m{k}", 0, now, value))
                points.append((series, *pack(([value], [0], [now]))[0]))
        rows = {
            "runs": runs,
            "run_params": params,
            "run_tags": tags,
            "run_latest_metrics": metrics,
            "run_metrics": points,
        }
        with store.write() as conn:
            raw = conn.connection.driver_connection
            for table, columns in tables.items():
                if postgres:
                    with (
                        raw.cursor() as cursor,  # type: ignore[union-attr]
                        cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
                    ):
                        for row in rows[table]:
                            copy.write_row(row)
                else:
                    marks = ", ".join("?" * (columns.count(",") + 1))
                    cursor = raw.cursor()  # type: ignore[union-attr]
                    cursor.executemany(
                        f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows[table]
                    )
                    cursor.close()
        done = min(begin + chunk, n)
        if done % 100_000 < chunk or done == n:
            log.log(f"  scale: {done:,}/{n:,} runs written, {time.perf_counter() - started:.0f} s")
    if postgres:  # the statistics autovacuum would gather soon after such a load
        with store.write() as conn:  # and the ids given here are the sequence's past
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('run_latest_metrics', 'id'), "
                "(SELECT MAX(id) FROM run_latest_metrics))"
            )
            for table in ("runs", "run_params", "run_tags", "run_latest_metrics"):
                conn.exec_driver_sql(f"ANALYZE {table}")
    hits.sort(reverse=True)
    return "scale", (min(len(hits), MAX_RESULTS), hits[0] if hits else float("nan"))


def scale_search(runs: int, repeat: int) -> list[float]:
    """(c'): ``runs`` written in bulk into the current store, then searched ``repeat``
    times over (each :func:`keel_search`: an untimed call, then timed ones)."""
    experiment, expected = populate_scale(runs)
    times = keel_search(experiment, expected)
    for _ in range(repeat - 1):
        times += keel_search(experiment, expected)
    keel.client.reset_default_client()
    return times


# MLflow


MLFLOW_SCRIPT = r'''
"""MLflow's side of benchmarks/tracking.py: one round; prints its timings as JSON."""
import json, sys, time

cfg = json.loads(open(sys.argv[1]).read())
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

mlflow.set_tracking_uri(cfg["uri"])
client = MlflowClient()
tag = cfg["tag"]
out = {"version": mlflow.__version__, "python": sys.version.split()[0]}


def single(mode, n):
    mlflow.set_experiment(f"{tag}-single-{mode}")
    mlflow.start_run()
    start = time.perf_counter()
    if mode == "sync":
        for i in range(n):
            mlflow.log_metric("loss", i * 0.001, step=i)
    else:
        ops = [mlflow.log_metric("loss", i * 0.001, step=i, synchronous=False) for i in range(n)]
        if hasattr(mlflow, "flush_async_logging"):
            mlflow.flush_async_logging()
        for op in ops:
            if op is not None:
                op.wait()
    mlflow.end_run()
    return time.perf_counter() - start


def bulk(n, keys=100, chunk=1000):
    names = [f"k{j}" for j in range(keys)]
    mlflow.set_experiment(f"{tag}-bulk")
    run_id = mlflow.start_run().info.run_id
    start = time.perf_counter()
    steps_per_chunk = chunk // keys
    for first in range(0, n // keys, steps_per_chunk):
        ts = int(time.time() * 1000)
        batch = [
            Metric(k, step * 0.001 + j, ts, step)
            for step in range(first, first + steps_per_chunk)
            for j, k in enumerate(names)
        ]
        client.log_batch(run_id, metrics=batch)
    mlflow.end_run()
    return time.perf_counter() - start


def runs(data):
    mlflow.set_experiment(f"{tag}-runs")
    start = time.perf_counter()
    for params, metrics in data:
        with mlflow.start_run():
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
    return time.perf_counter() - start


def search(calls):
    times, shape = [], None
    for call in range(calls + 1):
        start = time.perf_counter()
        frame = mlflow.search_runs(
            experiment_names=[f"{tag}-runs"],
            filter_string=cfg["filter"],
            order_by=[cfg["order_by"]],
            max_results=cfg["max_results"],
        )
        elapsed = time.perf_counter() - start
        shape = [len(frame), float(frame["metrics.m0"].iloc[0]) if len(frame) else None]
        if call:
            times.append(elapsed)
    return times, shape


data = json.loads(open(cfg["data"]).read())[: cfg["runs"]]
out["single_sync"] = single("sync", cfg["single"])
out["single_async"] = single("async", cfg["single"])
if cfg["bulk"]:
    out["bulk"] = bulk(cfg["bulk"], cfg["bulk_keys"], cfg["chunk"])
out["runs"] = runs(data)
out["search"], out["search_shape"] = search(cfg["search_calls"])
print(json.dumps(out))
'''


def ensure_mlflow(venv: Path) -> Path:
    """The Python of a virtual environment with MLflow, created and installed if needed."""
    return ensure_venv(venv, "mlflow", ["mlflow"])


def run_mlflow(python: Path, work: Path, config: dict[str, object]) -> dict[str, object]:
    """One round of MLflow's side in its own environment; its JSON timings."""
    script = work / "mlflow_side.py"
    if not script.exists():
        script.write_text(MLFLOW_SCRIPT)
    cfg_path = work / "mlflow_round.json"
    cfg_path.write_text(json.dumps(config))
    proc = subprocess.run(
        [python, script, cfg_path], capture_output=True, text=True, cwd=work, env=_mlflow_env()
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
        raise RuntimeError(
            f"MLflow side failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}\n"
            f"{proc.stdout[-1000:]}"
        )
    return json.loads(lines[-1])


def _mlflow_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["PYTHONWARNINGS"] = "ignore"
    return env


# Servers


# Rounds


Times = dict[str, list[float]]


def keel_round(tag: str, sizes: Sizes, data, *, bulk: bool, times: Times, timed: bool) -> None:
    """keel's side of a round against whatever store the SDK points at."""

    def record(key: str, seconds: float | list[float]) -> None:
        if timed:
            times.setdefault(key, []).extend(seconds if isinstance(seconds, list) else [seconds])

    log.log(f"  keel {tag}: {sizes.keel_single:,} log_metric calls")
    record("single", keel_single(f"{tag}-single", sizes.keel_single))
    if bulk:
        log.log(f"  keel {tag}: {sizes.keel_bulk:,} points through log_metrics")
        record("bulk", keel_bulk(f"{tag}-bulk", sizes.keel_bulk))
        log.log(f"  keel {tag}: {sizes.keel_bulk:,} points through log_metrics_array")
        record("arrays", keel_arrays(f"{tag}-arrays", sizes.keel_bulk))
    log.log(f"  keel {tag}: {sizes.keel_runs:,} runs")
    runs_data = data[: sizes.keel_runs]
    record("runs", keel_runs(f"{tag}-runs", runs_data))
    record("search", keel_search(f"{tag}-runs", expected_search(runs_data)))
    log.log(f"  keel {tag}: {sizes.keel_runs:,} deferred runs")
    record("deferred", keel_deferred_runs(f"{tag}-deferred", runs_data))


def mlflow_round(
    python: Path,
    work: Path,
    uri: str,
    tag: str,
    sizes: Sizes,
    data,
    *,
    bulk: bool,
    times: Times,
    timed: bool,
) -> str:
    log.log(
        f"  MLflow {tag}: {sizes.mlflow_single:,} log_metric calls x 2 modes"
        + (f", {sizes.mlflow_bulk:,} points through log_batch" if bulk else "")
        + f", {sizes.mlflow_runs:,} runs, search"
    )
    out = run_mlflow(
        python,
        work,
        {
            "uri": uri,
            "tag": tag,
            "data": str(work / "runs.json"),
            "single": sizes.mlflow_single,
            "bulk": sizes.mlflow_bulk if bulk else 0,
            "bulk_keys": BULK_KEYS,
            "chunk": MLFLOW_CHUNK,
            "runs": sizes.mlflow_runs,
            "filter": FILTER,
            "order_by": ORDER_BY,
            "max_results": MAX_RESULTS,
            "search_calls": SEARCH_CALLS,
        },
    )
    rows, first = out["search_shape"]
    check_search(
        "MLflow", tag, rows, first or float("nan"), expected_search(data[: sizes.mlflow_runs])
    )
    if timed:
        for key in ("single_sync", "single_async", "bulk", "runs"):
            if key in out:
                times.setdefault(key, []).append(out[key])
        times.setdefault("search", []).extend(out["search"])
    return f"MLflow {out['version']} (Python {out['python']})"


# Report


def build_results(
    sizes: Sizes,
    keel_t: dict[str, Times],
    mlflow_t: dict[str, Times] | None,
    scale: list[float] | None,
    scale_pg: list[float] | None = None,
) -> list[Result]:
    results: list[Result] = []
    for where, label in (("local", "SQLite"), ("http", "HTTP server, SQLite")):
        k, m = keel_t[where], (mlflow_t or {}).get(where)
        if not k:
            continue

        def peer(key: str, amount: int | None, m: Times | None = m) -> Figure | None:
            return None if m is None else Figure(amount, m[key])

        single = Figure(sizes.keel_single, k["single"])
        results.append(
            Result(
                f"(a) log_metric single calls, {label}",
                "points/s",
                single,
                peer("single_sync", sizes.mlflow_single),
                "MLflow log_metric (synchronous)",
                GOAL_SINGLE,
            )
        )
        results.append(
            Result(
                f"(a) log_metric single calls, {label}",
                "points/s",
                single,
                peer("single_async", sizes.mlflow_single),
                "MLflow log_metric(synchronous=False) + flush",
                GOAL_SINGLE,
            )
        )
        if "bulk" in k:
            results.append(
                Result(
                    f"(b) bulk points, {label}",
                    "points/s",
                    Figure(sizes.keel_bulk, k["bulk"]),
                    peer("bulk", sizes.mlflow_bulk),
                    f"MLflow log_batch, {MLFLOW_CHUNK:,} a call",
                    GOAL_BULK,
                )
            )
        if "arrays" in k:
            results.append(
                Result(
                    f"(b') bulk points as arrays, {label}",
                    "points/s",
                    Figure(sizes.keel_bulk, k["arrays"]),
                    peer("bulk", sizes.mlflow_bulk),
                    f"MLflow log_batch, {MLFLOW_CHUNK:,} a call",
                    GOAL_BULK,
                )
            )
        results.append(
            Result(
                f"(c) runs with 5 params + 5 metrics, {label}",
                "runs/s",
                Figure(sizes.keel_runs, k["runs"]),
                peer("runs", sizes.mlflow_runs),
                "MLflow start_run + log_params + log_metrics",
                GOAL_RUNS if where == "local" else GOAL_RUNS_HTTP,
            )
        )
        if "deferred" in k:
            results.append(
                Result(
                    f"(c) deferred runs (opt-in, one write each), {label}",
                    "runs/s",
                    Figure(sizes.keel_runs, k["deferred"]),
                    peer("runs", sizes.mlflow_runs),
                    "MLflow start_run + log_params + log_metrics",
                    GOAL_RUNS if where == "local" else GOAL_RUNS_HTTP,
                )
            )
        results.append(
            Result(
                f"(c) search {sizes.keel_runs:,} runs, {label}",
                "s",
                Figure(None, k["search"]),
                peer("search", None),
                f"MLflow search_runs ({sizes.mlflow_runs:,} runs)",
                GOAL_SEARCH,
            )
        )
    for times, database in ((scale, "SQLite"), (scale_pg, "PostgreSQL")):
        if times:
            results.append(
                Result(
                    f"(c') search {sizes.scale_runs:,} runs, {SCALE_KEYS:,} metric keys, "
                    + database,
                    "s",
                    Figure(None, times),
                    Figure(None, [BUDGET_SCALE_S]),
                    "budget (issue)",
                    1.0,
                )
            )
    return results


def machine(peer: str | None) -> str:
    return (
        f"{cpus_and_ram()}, keel {keel.__version__} "
        f"({keel_commit()}, "
        f"Python {python_version()}, SQLite {sqlite3.sqlite_version}), "
        f"{peer or 'MLflow not run'}"
    )


def report(
    results: list[Result], sizes: Sizes, repeat: int, peer: str | None, load: list[float]
) -> None:
    out = stdout_console(170)
    table = Table(title="keel tracking vs MLflow (both on SQLite)")
    table.add_column("measure")
    table.add_column("unit")
    table.add_column("keel", justify="right")
    table.add_column("spread", justify="right")
    table.add_column("peer")
    table.add_column("peer", justify="right")
    table.add_column("spread", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("goal", justify="right")
    table.add_column("verdict")
    for r in results:
        fmt = (lambda v: f"{v:.3f}") if r.unit == "s" else (lambda v: f"{v:,.0f}")
        table.add_row(
            r.measure,
            r.unit,
            fmt(r.keel.value),
            f"{r.keel.spread:.0%}",
            r.peer_name or "-",
            "-" if r.peer is None else fmt(r.peer.value),
            "-" if r.peer is None or len(r.peer.seconds) < 2 else f"{r.peer.spread:.0%}",
            "-" if r.ratio is None else f"{r.ratio:,.2f}",
            "-" if r.goal is None else f">= {r.goal:g}",
            r.verdict,
        )
    out.print(f"machine: {machine(peer)}")
    out.print(
        "load average (1 min) sampled at each round's start and at the end: "
        + ", ".join(f"{x:.1f}" for x in load)
        + f" (on {os.cpu_count()} CPUs; above that, other processes competed for them)"
    )
    out.print(
        f"sizes: (a) keel {sizes.keel_single:,} calls, MLflow {sizes.mlflow_single:,}; "
        f"(b) keel {sizes.keel_bulk:,} points, MLflow {sizes.mlflow_bulk:,}; "
        f"(c) keel {sizes.keel_runs:,} runs, MLflow {sizes.mlflow_runs:,}; "
        f"(c') {sizes.scale_runs:,} runs written in bulk"
    )
    out.print(
        f"method: median of {repeat} timed round(s) after 1 warm-up round at a tenth of "
        f"the sizes; keel and MLflow take turns within each round; searches: median of "
        f"{SEARCH_CALLS} calls a round after an untimed one. Runs use capture=True; "
        "spread = (slowest - fastest) / median."
    )
    out.print(table)
    out.print(
        "ratio > 1: keel is faster (rates: keel / MLflow; seconds: MLflow / keel). "
        "(c') is keel alone against the issue's 1 s budget."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dir_option(parser)
    parser.add_argument("--quick", action="store_true", help="a tenth of every size, 1 round")
    parser.add_argument("--skip-mlflow", action="store_true", help="keel alone: no peer")
    parser.add_argument("--skip-http", action="store_true", help="leave out (d)")
    parser.add_argument(
        "--scale-only", action="store_true", help="(c') alone: no rounds, no peer, no server"
    )
    parser.add_argument(
        "--scale-runs", type=int, default=Sizes.scale_runs, help="runs for (c'); 0 skips it"
    )
    parser.add_argument(
        "--scale-pg",
        metavar="URL",
        help="also run (c') on this PostgreSQL database (empty; left filled afterwards)",
    )
    parser.add_argument(
        "--mlflow-runs", type=int, default=Sizes.mlflow_runs, help="runs MLflow creates in (c)"
    )
    parser.add_argument("--repeat", type=int, help="timed rounds (default 3; 1 with --quick)")
    parser.add_argument("--mlflow-venv", type=Path, default=MLFLOW_VENV, help="MLflow's venv")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    if repeat < 1 or args.scale_runs < 0 or args.mlflow_runs < 1:
        parser.error("--repeat and --mlflow-runs must be at least 1, --scale-runs at least 0")
    sizes = Sizes(mlflow_runs=args.mlflow_runs, scale_runs=args.scale_runs)
    if args.quick:
        sizes = sizes.tenth()
    warm = sizes.tenth()

    if args.scale_only:
        args.skip_mlflow = args.skip_http = True
    python = None if args.skip_mlflow else ensure_mlflow(args.mlflow_venv)
    work = Path(tempfile.mkdtemp(prefix="keel-bench-tracking-", dir=args.dir))
    home = Path.cwd()
    saved_env = {k: os.environ.get(k) for k in ("KEEL_URI", "KEEL_OBJECTS", "KEEL_SYSTEM_METRICS")}
    peer = None
    keel_t: dict[str, Times] = {"local": {}, "http": {}}
    mlflow_t: dict[str, Times] = {"local": {}, "http": {}}
    scale: list[float] | None = None
    scale_pg: list[float] | None = None
    load: list[float] = []
    try:
        os.chdir(work)  # not a git repository: no git state for either tool
        os.environ["KEEL_SYSTEM_METRICS"] = "0"
        log.log(f"working in {work}")
        data = make_run_data(max(sizes.keel_runs, sizes.mlflow_runs))
        (work / "runs.json").write_text(json.dumps(data))
        from keel.store import init_project

        local = init_project(work / "keel-local")
        remote = init_project(work / "keel-http")
        local_uri, local_objects = local.config.uri, local.config.objects
        remote_env = {
            **os.environ,
            "KEEL_URI": remote.config.uri,
            "KEEL_OBJECTS": remote.config.objects,
        }
        local.close()
        remote.close()

        with contextlib.ExitStack() as stack:
            keel_url = mlflow_url = None
            if not args.skip_http:
                port = free_port()
                keel_bin = str(Path(sys.executable).parent / "keel")
                stack.enter_context(
                    serve(
                        "keel-server",
                        [keel_bin, "server", "--port", str(port), "--workers", "1"],
                        remote_env,
                        f"http://127.0.0.1:{port}/api/v1/health",
                        work,
                    )
                )
                keel_url = f"http://127.0.0.1:{port}"
                if python is not None:
                    port = free_port()
                    stack.enter_context(
                        serve(
                            "mlflow-server",
                            [
                                str(python.parent / "mlflow"),
                                "server",
                                "--backend-store-uri",
                                f"sqlite:///{work / 'mlflow-http.db'}",
                                "--default-artifact-root",
                                str(work / "mlflow-http-artifacts"),
                                "--host",
                                "127.0.0.1",
                                "--port",
                                str(port),
                                "--workers",
                                "1",
                            ],
                            _mlflow_env(),
                            f"http://127.0.0.1:{port}/health",
                            work,
                        )
                    )
                    mlflow_url = f"http://127.0.0.1:{port}"

            for round_ in range(0 if args.scale_only else repeat + 1):
                timed = round_ > 0
                size = sizes if timed else warm
                log.log(f"round {round_}/{repeat}{'' if timed else ' (warm-up, a tenth)'}")
                load.append(os.getloadavg()[0])
                tag = f"r{round_}"
                use_keel(local_uri, local_objects)
                keel_round(
                    f"{tag}-local", size, data, bulk=True, times=keel_t["local"], timed=timed
                )
                if python is not None:
                    peer = mlflow_round(
                        python,
                        work,
                        f"sqlite:///{work / 'mlflow.db'}",
                        f"{tag}-local",
                        size,
                        data,
                        bulk=True,
                        times=mlflow_t["local"],
                        timed=timed,
                    )
                if keel_url:
                    use_keel(keel_url)
                    keel_round(
                        f"{tag}-http", size, data, bulk=False, times=keel_t["http"], timed=timed
                    )
                if mlflow_url:
                    mlflow_round(
                        python,
                        work,
                        mlflow_url,
                        f"{tag}-http",
                        size,
                        data,
                        bulk=False,
                        times=mlflow_t["http"],
                        timed=timed,
                    )
            keel.client.reset_default_client()

        if sizes.scale_runs:
            log.log(f"(c') writing {sizes.scale_runs:,} runs in bulk")
            use_keel(local_uri, local_objects)
            scale = scale_search(sizes.scale_runs, repeat)
            if args.scale_pg:
                log.log(f"(c') on PostgreSQL: writing {sizes.scale_runs:,} runs in bulk")
                pg = keel.config.resolve(uri=args.scale_pg, objects=local_objects)
                init_project(work / "keel-pg", pg).close()
                use_keel(args.scale_pg, local_objects)
                scale_pg = scale_search(sizes.scale_runs, repeat)
        results = build_results(
            sizes, keel_t, None if python is None else mlflow_t, scale, scale_pg
        )
        load.append(os.getloadavg()[0])
        report(results, sizes, repeat, peer, load)
    finally:
        keel.client.reset_default_client()
        os.chdir(home)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        keel.config.reset()
        shutil.rmtree(work)
        log.log(f"removed {work}")
    print_json("tracking", [r.to_json() for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
