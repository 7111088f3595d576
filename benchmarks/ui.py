"""Benchmark the dashboard's server side: the runs table's request against the MLflow UI's,
and the server time of every dashboard page against the issue's 300 ms budget.

Run it from the repository root::

    .venv/bin/python benchmarks/ui.py                       # full size (the lead's run)
    .venv/bin/python benchmarks/ui.py --runs 200 --predictions 10000 --keel-only  # smoke
    .venv/bin/python benchmarks/ui.py --markdown out.md     # also write the table

MLflow (the latest release) runs from its own virtual environment, ``.bench-venvs/mlflow``
(the one ``tracking.py``, ``registry.py`` and ``remote.py`` use; installed once with
scikit-learn, pandas and NumPy pinned to this environment's versions when ``mlflow`` does
not import there). ``--keel-only`` skips MLflow altogether (no venv, no server): the
ratio rows are then left out and only the page budgets are reported.

Data, generated (seeded) in a fresh folder under ``--dir`` (removed at the end), untimed:

* keel: a project made by ``keel.store.init_project`` (SQLite, local objects, keel's
  defaults) holding ``--runs`` runs (default 10,000) in experiment ``bench``, each with
  2 params and ``--metrics`` metrics (default 20, one value each), made through the
  tracking service (``create_run``, ``log_batch``, ``set_status``); a training dataset,
  a model registered from one run and a deployment of it with ``--predictions`` logged
  predictions (default 1,000,000, written to the prediction log in one-hour windows of
  at most 100,000 rows), and a drift monitor evaluated over every window (so the
  Monitoring, Deployment and Overview pages have results and alerts to show).
* MLflow: the same runs (same names, params and metric values) written into a SQLite
  file with ``MlflowClient(tracking_uri="sqlite:///...")`` in the MLflow venv, then
  served by ``mlflow server --backend-store-uri sqlite:///... --workers 1``.

Servers on 127.0.0.1, one worker each: ``keel server --workers 1`` (no auth, as ``keel
ui``) and ``mlflow server``. The client is this process, with one keep-alive
``httpx.Client`` per server.

Measures (each request warmed up once, then ``--repeat`` samples, default 7; the median,
timed with ``time.perf_counter`` around the whole HTTP exchange on loopback):

1. the runs table's page: keel's ``POST /api/v1/projects/default/runs/search`` with the
   body the Runs page sends by default (experiment ``bench``, 25 rows, newest first)
   against the MLflow UI's ``POST /ajax-api/2.0/mlflow/runs/search`` (``experiment_ids``
   of the same experiment, ``max_results`` 25, ``order_by`` ``attributes.start_time
   DESC``, ``run_view_type`` ``ACTIVE_ONLY``: what its experiment page asks for). Both
   answers are checked: 25 runs, each with every metric. Goal: keel >= 10x faster.
   Context rows: the page sorted by a metric (``metrics.m0 DESC`` on both), and keel's
   page with its total (``/runs/count`` too: the table shows "1-25 of N runs").
2. each page's server time: the page's HTML shell plus every REST request its script
   makes when it opens (listed in ``PAGES``: the same paths as ``src/keel/ui/static``),
   one after another, summed. The browser sends some of them in parallel, so the sum is
   an upper bound of what a user waits for on the server. Budget: under 300 ms a page;
   the row shows the budget as its peer and ``ratio = 300 ms / keel ms``.

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "ui", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": ..., "ratio": ..., "goal": ...}, ...]}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from _common import (
    VENVS,
    Load,
    add_dir_option,
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
    serve,
    spread,
    stdout_console,
    verdict,
    warn_if_busy,
)

MLFLOW_VENV = VENVS / "mlflow"
EXPERIMENT = "bench"
DEPLOYMENT = "credit-scoring"
PAGE_SIZE = 25
GOAL_SEARCH = 10.0
BUDGET_MS = 300.0
HOUR = 3_600_000
T0 = 1_800_000_000_000
WINDOW_ROWS = 100_000
API = "/api/v1/projects/default"


# The MLflow side: a script run in MLflow's venv that writes the same runs into SQLite.

MLFLOW_FILL = r'''
"""Write the runs of benchmarks/ui.py into an MLflow SQLite store: ``fill.py URI SPEC``
(SPEC: a JSON file of {"experiment", "runs": [{"name", "params", "metrics"}]});
prints the experiment id."""
import json, sys, time, warnings

warnings.filterwarnings("ignore")
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

uri, spec = sys.argv[1:3]
data = json.load(open(spec))
client = MlflowClient(tracking_uri=uri)
experiment = client.create_experiment(data["experiment"])
now = int(time.time() * 1000)
for i, run in enumerate(data["runs"]):
    made = client.create_run(experiment, start_time=now + i, run_name=run["name"])
    run_id = made.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now + i, 0) for k, v in run["metrics"].items()],
        params=[Param(k, v) for k, v in run["params"].items()],
    )
    client.set_terminated(run_id, "FINISHED", end_time=now + i)
print(experiment)
'''


def ensure_mlflow() -> Path:
    pins = [f"{dist}=={version(dist)}" for dist in ("scikit-learn", "pandas", "numpy")]
    return ensure_venv(MLFLOW_VENV, "mlflow", ["mlflow", *pins])


# Data


def make_runs(n: int, metrics: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` runs' names, params and metric values (seeded), the same for both tools."""
    rng = random.Random(seed)
    return [
        {
            "name": f"run-{i:05d}",
            "params": {"lr": f"{rng.choice([0.001, 0.01, 0.1])}", "depth": str(rng.randint(2, 9))},
            "metrics": {f"m{k}": round(rng.random(), 6) for k in range(metrics)},
        }
        for i in range(n)
    ]


def fill_keel_runs(client: Any, runs: list[dict[str, Any]]) -> list[str]:
    """The runs through keel's tracking service; their ids, oldest first."""
    from keel.store import now_ms

    backend = client.runs
    ids = []
    for run in runs:
        made = backend.create_run(EXPERIMENT, name=run["name"], params=run["params"])
        at = now_ms()
        points = [(k, v, 0, at) for k, v in run["metrics"].items()]
        backend.log_batch(made.id, metrics=points)
        backend.set_status(made.id, "FINISHED")
        ids.append(made.id)
    return ids


def population(rows: int, seed: int, shift: float = 0.0) -> tuple[Any, Any]:
    """Credit-like inputs (income, debt, region) and labels; ``shift`` moves income."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    income = rng.normal(50, 10, rows) + shift * 10
    debt = rng.uniform(0, 1, rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    logit = 4 * (debt - 0.5) + 0.08 * (income - 50)
    label = (rng.uniform(0, 1, rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"income": income, "debt": debt, "region": region}), label


def fill_keel_serving(client: Any, predictions: int) -> int:
    """A dataset, a training run that read it, a model from that run, its deployment,
    ``predictions`` logged predictions in one-hour windows from T0, and a drift monitor
    run over each window (its reference: the model's training data); the number of
    windows."""
    import pyarrow as pa
    from sklearn.linear_model import LogisticRegression

    from keel.deploy import DeploymentSpec
    from keel.monitoring import parse_monitor_text

    frame, label = population(5000, 0)
    train = frame.assign(label=label)
    dataset = client.datasets.log(train, "credit-train", description="training rows")
    features = frame[["income", "debt"]]
    model = LogisticRegression().fit(features, label)
    with client.tracker.start_run("training", name="logreg") as run:
        run.log_input(dataset)
        run.log_metric("auc", 0.8)
    client.tracker.flusher.flush()
    version = client.models.register(model, "credit", input_example=features.head(), run=run.id)
    client.models.set_alias(version.ref, "champion")
    client.deployments.apply(DeploymentSpec.for_model("credit@champion", name=DEPLOYMENT))
    windows = max(1, -(-predictions // WINDOW_ROWS))
    left = predictions
    for w in range(windows):
        rows = min(WINDOW_ROWS, left)
        left -= rows
        inputs, _ = population(rows, w + 1, shift=0.5 if w % 2 else 0.0)
        proba = model.predict_proba(inputs[["income", "debt"]])
        start = T0 + w * HOUR
        table = pa.table(
            {
                "request_id": pa.array([f"req-{w}-{i}" for i in range(rows)]),
                "at": pa.array(
                    start + np.arange(rows) * (HOUR // max(rows, 1)), pa.timestamp("ms", tz="UTC")
                ),
                "deployment": pa.array([DEPLOYMENT] * rows),
                "model_version": pa.array([version.ref] * rows),
                "route": pa.array(["route"] * rows),
                "key": pa.array([None] * rows, pa.string()),
                "latency_ms": pa.array(np.random.default_rng(w).gamma(2.0, 2.5, rows)),
                "row": pa.array(np.zeros(rows, np.int32)),
                "input": pa.StructArray.from_arrays(
                    [pa.array(inputs[c].to_numpy()) for c in inputs.columns], list(inputs.columns)
                ),
                "prediction": pa.array(proba.argmax(axis=1).astype(np.int64)),
                "probabilities": pa.array(list(proba), pa.list_(pa.float64())),
            }
        )
        client.predictions.write("predictions", DEPLOYMENT, table)
    client.monitors.apply(
        parse_monitor_text(
            f"name: credit-drift\ndeployment: {DEPLOYMENT}\nwindow: {{size: 1h}}\n"
            "drift: {share_of_columns: 0.3}\non_alert: [{log: true}]\n"
        )
    )
    for w in range(windows):
        client.monitors.run("credit-drift", now_ms=T0 + (w + 1) * HOUR)
    return windows


# What each page asks the server for when it opens (see src/keel/ui/static/*.js)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any = None


def pages(runs: list[str]) -> dict[str, list[Request]]:
    """Each page's HTML shell, then the REST requests its script makes on opening."""
    start = [Request("GET", "/api/v1/whoami"), Request("GET", "/api/v1/projects")]
    search = {"experiments": [EXPERIMENT], "order_by": [], "max_results": PAGE_SIZE, "offset": 0}
    newest, other = runs[-1], runs[-2]
    ui = "/ui/p/default"

    def page(path: str, *requests: Request) -> list[Request]:
        return [Request("GET", f"{ui}/{path}"), *start, *requests]

    def get(path: str) -> Request:
        return Request("GET", f"{API}{path}")

    return {
        "overview": page(
            "",
            get("/experiments"),
            get("/datasets"),
            get("/models"),
            get("/deployments"),
            get("/alerts?status=open&limit=20"),
            get("/activity?limit=20"),
            get("/approvals?status=pending&limit=20"),
        ),
        "runs": page(
            "runs",
            get("/experiments"),
            Request("POST", f"{API}/runs/search", search),
            Request("POST", f"{API}/runs/count", search),
        ),
        "run": page(f"runs/{newest}", get(f"/runs/{newest}")),
        "compare": page(
            f"compare?ids={newest},{other}", get(f"/runs/{newest}"), get(f"/runs/{other}")
        ),
        "models": page("models", get("/models")),
        "model": page(
            "models/credit",
            get("/models/credit/versions"),
            get("/models/credit/history"),
            get("/models/credit/policy"),
            get("/models/credit/versions/1/approvals"),
            get("/models/credit/versions/1/evaluations"),
        ),
        "deployments": page("deployments", get("/deployments")),
        "deployment": page(
            f"deployments/{DEPLOYMENT}",
            get(f"/deployments/{DEPLOYMENT}"),
            get(f"/deployments/{DEPLOYMENT}/history"),
            get(f"/deployments/{DEPLOYMENT}/stats?limit=500"),
        ),
        "datasets": page("datasets", get("/datasets")),
        "dataset": page(
            "datasets/credit-train",
            get("/datasets/credit-train/versions"),
            get("/dataset-versions/credit-train:v1/profile"),
            get("/validation/reports?subject=credit-train%3Av1"),
        ),
        "monitoring": page(
            "monitoring",
            get("/monitors"),
            get("/monitors/credit-drift/report"),
            get("/alerts?status=open&limit=100"),
        ),
        "lineage": page("lineage?ref=credit-train:v1", get("/lineage?ref=credit-train%3Av1")),
        "pipelines": page(
            "pipelines",
            get("/pipelines"),
            get("/pipelines/-/runs?limit=20"),
            get("/approvals?status=pending"),
            Request("GET", "/api/v1/agent"),
        ),
    }


# Timing


def timed(http: httpx.Client, request: Request) -> tuple[float, httpx.Response]:
    """Seconds for one request and its answer (an error status stops the benchmark)."""
    began = time.perf_counter()
    response = http.request(request.method, request.path, json=request.body)
    seconds = time.perf_counter() - began
    if response.status_code >= 400:
        answer = f"{response.status_code} {response.text[:500]}"
        raise RuntimeError(f"{request.method} {request.path}: {answer}")
    return seconds, response


def samples(measure: Callable[[], float], repeat: int) -> list[float]:
    """One untimed warm-up, then ``repeat`` samples."""
    measure()
    return [measure() for _ in range(repeat)]


def check_page(tool: str, runs: list[dict[str, Any]], metrics: int) -> None:
    if len(runs) != PAGE_SIZE or any(len(r) != metrics for r in runs):
        raise RuntimeError(
            f"{tool}'s runs page has {len(runs)} runs with {sorted({len(r) for r in runs})} "
            f"metrics; expected {PAGE_SIZE} runs with {metrics} each"
        )


# Report


@dataclass
class Row:
    measure: str
    keel: list[float]
    peer: list[float]
    peer_name: str
    goal: float | None
    note: str = ""
    unit: str = "ms"
    budget: bool = field(default=False)

    @property
    def ratio(self) -> float | None:
        k = median(self.keel)
        return None if k == 0 or not self.peer else median(self.peer) / k

    def cells(self) -> list[str]:
        ratio = self.ratio
        peer = median(self.peer) if self.peer else None
        return [
            self.measure,
            self.unit,
            f"{median(self.keel):,.1f}",
            f"±{spread(self.keel) * 100:.0f}%",
            self.peer_name,
            "-" if peer is None else f"{peer:,.1f}",
            "-" if self.budget or not self.peer else f"±{spread(self.peer) * 100:.0f}%",
            "-" if ratio is None else f"{ratio:,.2f}",
            "-" if self.goal is None else f">= {self.goal:g}",
            verdict(ratio, self.goal),
            self.note,
        ]

    def to_json(self) -> dict[str, object]:
        ratio = self.ratio
        return result_json(
            self.measure,
            float(f"{median(self.keel):.4g}"),
            float(f"{median(self.peer):.4g}") if self.peer else None,
            self.peer_name if self.peer else None,
            self.unit,
            None if ratio is None else round(ratio, 3),
            self.goal,
        )


COLUMNS = [
    "measure",
    "unit",
    "keel",
    "spread",
    "peer",
    "peer value",
    "peer spread",
    "ratio",
    "goal",
    "verdict",
    "note",
]
LEFT = {"measure", "unit", "peer", "verdict", "note"}


# Main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the experiment")
    parser.add_argument("--metrics", type=int, default=20, help="metrics per run")
    parser.add_argument(
        "--predictions", type=int, default=1_000_000, help="logged predictions of the deployment"
    )
    parser.add_argument("--repeat", type=int, default=7, help="samples of every measure")
    parser.add_argument("--keel-only", action="store_true", help="no MLflow: page budgets only")
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown")
    add_dir_option(parser)
    args = parser.parse_args(argv)
    if args.runs < PAGE_SIZE + 2 or args.metrics < 1 or args.predictions < 1:
        parser.error(f"--runs must be at least {PAGE_SIZE + 2}; --metrics, --predictions >= 1")

    warn_if_busy("other work will slow keel, MLflow and their servers unevenly")
    python = None if args.keel_only else ensure_mlflow()
    commit = keel_commit()
    start_load = Load.now()
    work = Path(tempfile.mkdtemp(prefix="keel-bench-ui-", dir=args.dir))
    log.log(f"working in {work}")
    t: dict[str, list[float]] = {}
    try:
        import keel
        from keel.store import init_project

        runs = make_runs(args.runs, args.metrics)
        project = init_project(work / "keel")
        config = project.config
        project.close()
        began = time.perf_counter()
        with keel.Client(config=config) as client:
            log.log(f"keel: {args.runs:,} runs with {args.metrics} metrics each")
            ids = fill_keel_runs(client, runs)
            log.log(f"keel: {args.predictions:,} predictions, a model, a deployment, a monitor")
            windows = fill_keel_serving(client, args.predictions)
        log.log(f"keel's project filled in {time.perf_counter() - began:,.0f} s")
        keel_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        keel_env |= {"KEEL_URI": config.uri, "KEEL_OBJECTS": config.objects}
        keel_env["KEEL_AGENT_TICK_SECONDS"] = "0"  # no agent passes while pages are timed
        keel_bin = str(Path(sys.executable).parent / "keel")
        kport = free_port()
        kurl = f"http://127.0.0.1:{kport}"
        argv_keel = [keel_bin, "server", "--port", str(kport), "--workers", "1"]
        search = {"experiments": [EXPERIMENT], "max_results": PAGE_SIZE}
        by_metric = {**search, "order_by": ["metrics.m0 desc"]}
        with (
            serve("keel-server", argv_keel, keel_env, f"{kurl}/api/v1/health", work),
            httpx.Client(base_url=kurl, timeout=120) as http,
        ):
            found = http.post(f"{API}/runs/search", json=search).json()
            check_page("keel", [r["metrics"] for r in found], args.metrics)
            if found[0]["id"] != ids[-1]:
                raise RuntimeError("keel's runs page does not start with the newest run")
            page_of = Request("POST", f"{API}/runs/search", search)
            count = Request("POST", f"{API}/runs/count", search)
            t["keel search"] = samples(lambda: timed(http, page_of)[0], args.repeat)
            sorted_page = Request("POST", f"{API}/runs/search", by_metric)
            t["keel sorted"] = samples(lambda: timed(http, sorted_page)[0], args.repeat)
            t["keel search+count"] = samples(
                lambda: timed(http, page_of)[0] + timed(http, count)[0], args.repeat
            )
            for name, requests in pages(ids).items():
                total = samples(lambda rs=requests: sum(timed(http, r)[0] for r in rs), args.repeat)
                t[f"page {name}"] = total
                took = f"{median(total) * 1000:,.1f} ms"
                log.log(f"  page {name}: {took} ({len(requests)} requests)")
        mlflow_version = None
        if python is not None:
            spec = work / "runs.json"
            spec.write_text(json.dumps({"experiment": EXPERIMENT, "runs": runs}))
            script = work / "mlflow_fill.py"
            script.write_text(MLFLOW_FILL)
            uri = f"sqlite:///{work / 'mlflow.db'}"
            log.log(f"MLflow: {args.runs:,} runs with {args.metrics} metrics each")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "MLFLOW_"))}
            env["PYTHONWARNINGS"] = "ignore"
            made = subprocess.run(
                [python, script, uri, spec], env=env, capture_output=True, text=True, check=True
            )
            experiment = made.stdout.strip().splitlines()[-1]
            mlflow_version = subprocess.run(
                [python, "-c", "import mlflow; print(mlflow.__version__)"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            mport = free_port()
            murl = f"http://127.0.0.1:{mport}"
            argv_mlflow = [
                str(Path(python).parent / "mlflow"),
                "server",
                "--backend-store-uri",
                uri,
                "--host",
                "127.0.0.1",
                "--port",
                str(mport),
                "--workers",
                "1",
            ]
            body = {
                "experiment_ids": [experiment],
                "max_results": PAGE_SIZE,
                "order_by": ["attributes.start_time DESC"],
                "run_view_type": "ACTIVE_ONLY",
            }
            sorted_body = {**body, "order_by": ["metrics.m0 DESC"]}
            ajax = "/ajax-api/2.0/mlflow/runs/search"
            with (
                serve("mlflow-server", argv_mlflow, env, f"{murl}/health", work),
                httpx.Client(base_url=murl, timeout=120) as http,
            ):
                answer = http.post(ajax, json=body).json()["runs"]
                check_page("MLflow", [r["data"].get("metrics", []) for r in answer], args.metrics)
                if answer[0]["info"]["run_name"] != runs[-1]["name"]:
                    raise RuntimeError("MLflow's runs page does not start with the newest run")
                ui_page = Request("POST", ajax, body)
                t["mlflow search"] = samples(lambda: timed(http, ui_page)[0], args.repeat)
                ui_sorted = Request("POST", ajax, sorted_body)
                t["mlflow sorted"] = samples(lambda: timed(http, ui_sorted)[0], args.repeat)
        load_line = load_summary(start_load, Load.now()) + "."
    finally:
        shutil.rmtree(work, ignore_errors=True)
        log.log(f"removed {work}")

    ms = {key: [s * 1000 for s in values] for key, values in t.items()}
    peer = "MLflow UI `runs/search`"
    label = f"{PAGE_SIZE} of {args.runs:,} runs x {args.metrics} metrics"
    rows = []
    if python is not None:
        rows += [
            Row(
                f"runs table page, newest first ({label})",
                ms["keel search"],
                ms["mlflow search"],
                peer,
                GOAL_SEARCH,
            ),
            Row(
                f"runs table page by `metrics.m0` desc ({label})",
                ms["keel sorted"],
                ms["mlflow sorted"],
                peer,
                None,
            ),
        ]
    rows.append(
        Row(
            f"runs table page + its total (`/runs/count`) ({label})",
            ms["keel search+count"],
            ms.get("mlflow search", []),
            peer + " (no total)" if python is not None else "",
            None,
        )
    )
    for name in pages(["a", "b"]):
        rows.append(
            Row(
                f"page `{name}`: shell + its REST requests",
                ms[f"page {name}"],
                [BUDGET_MS],
                "300 ms budget (issue)",
                1.0,
                budget=True,
            )
        )
    tools = f"keel {commit}" + (f", MLflow {mlflow_version}" if mlflow_version else ", no MLflow")
    lines = [
        run_line("ui"),
        f"machine: {cpus_and_ram()}; {tools}",
        f"data: {args.runs:,} runs x {args.metrics} metrics and 2 params (seeded, the same for "
        f"both tools); {args.predictions:,} logged predictions in {windows} one-hour windows, "
        "a drift monitor evaluated over each",
        f"method: one warm-up, then the median of {args.repeat} samples; each request timed "
        "around the whole HTTP exchange on 127.0.0.1, one keep-alive client per server; a "
        "page's figure is its shell and its requests one after another, summed",
        "servers on 127.0.0.1, one worker each: `keel server` (SQLite, no auth) and "
        "`mlflow server` (SQLite)"
        if python is not None
        else "keel only (`--keel-only`)",
        load_line,
    ]
    console = stdout_console(200)
    console.print(rich_table("dashboard server side", COLUMNS, [r.cells() for r in rows], LEFT))
    for line in lines:
        console.print(line)
    if args.markdown:
        args.markdown.write_text(markdown(COLUMNS, [r.cells() for r in rows], LEFT, lines))
    print_json("ui", [r.to_json() for r in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
