"""Benchmark keel's platform server against MLflow's tracking server, over HTTP on loopback.

Run it from the repository root::

    .venv/bin/python benchmarks/remote.py                  # full size: 2,000 files, 1 GiB
    .venv/bin/python benchmarks/remote.py --size-mib 64    # a quick check (about 2 minutes)
    .venv/bin/python benchmarks/remote.py --markdown out.md  # also write the table
    .venv/bin/python benchmarks/remote.py --keel-only --files 100 --size-mib 4 --repeat 1
                                                           # keel alone, a quick check

MLflow (the latest release) runs from its own virtual environment, ``.bench-venvs/mlflow``
(the one ``registry.py`` and ``tracking.py`` use; installed once with scikit-learn, pandas
and NumPy pinned to this environment's versions when ``mlflow`` does not import there).

Servers, each in a fresh folder under ``--dir`` (removed at the end), on 127.0.0.1, one
worker process each:

* ``keel server --auth`` over a project made by ``keel.store.init_project`` (SQLite and a
  local object store, keel's default ``fsync = true``: every object and the database are
  fsynced; ``--keel-fsync false`` to measure what fsync costs), with a ``writer`` token
  from ``keel token create --role writer --json``;
* ``mlflow server --serve-artifacts`` with ``--backend-store-uri sqlite:///...`` and
  ``--artifacts-destination <folder>`` (artifacts proxied through the server, stored as
  plain files). MLflow does not fsync artifact files (its local artifact repository copies
  them with ``shutil``); its SQLite database uses SQLite's default (synchronous FULL).

Clients: each tool runs in its own long-lived worker process (keel in ``.venv``, MLflow in
its venv), started from one script written to the work folder and driven by this process
over a pipe, one command at a time. The keel worker uses ``keel.Client(url, token=...)``;
the MLflow worker ``mlflow.set_tracking_uri(url)`` (progress bars off). Both workers first
push and pull a 10-file warm-up folder and register a first model, untimed.

Data: ``--files`` files (default 2,000) of seeded random bytes, lognormal sizes totalling
``--size-mib`` MiB (default 1024), generated once; every pull is checked file by file
(names, sizes, blake3) against what was generated, untimed, or the benchmark stops.

Measures (all single calls timed with ``time.perf_counter`` in the worker):

1. first push: ``client.datasets.log(folder, "bench")`` against ``mlflow.start_run()`` +
   ``mlflow.log_artifacts(folder, "data")`` + end of the run. One sample each (a second
   push of the same bytes is measure 2). Goal: keel >= 3x faster.
2. unchanged re-push: a new ``client.datasets.log`` of the same folder (keel's push stat
   cache, kept in the work folder, knows every file unchanged, so none is read; it asks the
   server which objects it lacks: none; the server gives back the same version, as the
   content is unchanged) against MLflow
   logging the same folder into a *new run* (MLflow has no content addressing: a new run
   or the same run uploads every byte again, and a new run is what a new version is).
   Median of ``--repeat``. Goal: keel >= 50x faster.
3. pull into an empty folder: ``client.datasets.get(ref, to=...)`` against
   ``mlflow.artifacts.download_artifacts(run_id=..., artifact_path="data", dst_path=...)``
   of the first push. Median of ``--repeat``, the folder removed after each, untimed.
   Goal: keel >= 3x faster.
4. register a scikit-learn pipeline: ``client.models.register(model, "credit",
   input_example=X.head())`` against ``mlflow.sklearn.log_model(model, name="model",
   input_example=..., registered_model_name="credit")`` (no active run, MLflow's defaults).
   A different fitted model each time; median of ``--repeat``. Goal: keel >= 5x faster.
   Load: a fresh process per sample imports the API (``keel.registry`` and makes the
   ``keel.Client``; ``mlflow.pyfunc`` and sets the tracking URI), then
   times ``client.models.load("credit:1")`` / ``mlflow.pyfunc.load_model(
   "models:/credit/1")`` (fetching over HTTP, verifying (keel), importing scikit-learn,
   deserialising); both must predict exactly what the pickled model predicts. Median of
   ``--repeat``, the tools alternating. Goal: keel >= 5x faster. Context row: the same
   with scikit-learn imported before the clock starts.
5. the keel server's peak RSS (its process and any children, sampled with psutil every
   50 ms from start to stop, every measure above included). Budget: under 300 MB. MLflow's
   server (process tree: gunicorn/uvicorn and workers) is sampled the same way, as context.

Context rows: bytes that crossed loopback during each push (``lo`` counters; nothing else
runs on the machine) and blake3 of the folder in the keel worker (one thread), the floor
of a re-push that hashes its files.

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "remote", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": ..., "ratio": ..., "goal": ...}, ...]}

``ratio`` is peer / keel (above 1, keel is faster or smaller); ``goal`` is the ratio the
issue asks for, or null for context rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import psutil

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
MIB = 1024 * 1024
FEATURES = 20
ROWS = 2_000
GOAL_PUSH = 3.0
GOAL_REPUSH = 50.0
GOAL_PULL = 3.0
GOAL_REGISTER = 5.0
GOAL_LOAD = 5.0
BUDGET_RSS_MB = 300.0
SAMPLE_EVERY_S = 0.05


# The worker: the same script for both tools, run in each tool's environment.

WORKER_SCRIPT = r'''
"""A worker of benchmarks/remote.py for one tool (keel or mlflow).

``worker.py serve TOOL WORK URL``: one JSON command a line on stdin, one JSON answer a line
on stdout. ``worker.py cold TOOL WORK URL``: one cold load of credit:1, then exits.
"""
import json, os, pickle, sys, time, warnings

warnings.filterwarnings("ignore")
mode, tool, work, url = sys.argv[1:5]
answer_fd = os.dup(1)
os.dup2(2, 1)  # whatever the libraries print goes to stderr
answers = os.fdopen(answer_fd, "w", buffering=1)


def reply(obj):
    answers.write(json.dumps(obj) + "\n")
    answers.flush()


def frame(name):
    import numpy as np
    import pandas as pd
    array = np.load(os.path.join(work, name))
    return pd.DataFrame(array, columns=[f"f{i}" for i in range(array.shape[1])])


def fingerprint(pred):
    import hashlib
    import numpy as np
    arr = np.asarray(pred).astype("int64").ravel()
    return [int(arr.sum()), hashlib.sha256(arr.tobytes()).hexdigest()[:16]]


if tool == "keel":
    def client():
        import keel
        global _client
        if "_client" not in globals():
            _client = keel.Client(url, token=os.environ["BENCH_KEEL_TOKEN"])
        return _client

    def import_api():
        import keel.registry  # noqa: F401
        client()  # no request yet: the connection is opened by the first call

    def push(folder, name):
        return client().datasets.log(folder, name).ref

    def pull(ref, dest):
        client().datasets.get(ref, to=dest)
        return dest

    def register(model, example):
        return client().models.register(model, "credit", input_example=example).version

    def load():
        return client().models.load("credit:1")

    def versions():
        import keel
        return {"keel": keel.__version__}
else:
    def import_api():
        import mlflow, mlflow.pyfunc  # noqa: F401
        mlflow.set_tracking_uri(url)

    def push(folder, name):
        import mlflow
        mlflow.set_experiment(name)
        with mlflow.start_run() as run:
            mlflow.log_artifacts(folder, artifact_path="data")
        return run.info.run_id

    def pull(ref, dest):
        import mlflow.artifacts
        mlflow.artifacts.download_artifacts(run_id=ref, artifact_path="data", dst_path=dest)
        return os.path.join(dest, "data")

    def register(model, example):
        import mlflow.sklearn
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=example, registered_model_name="credit"
        )
        return int(info.registered_model_version)

    def load():
        import mlflow.pyfunc
        return mlflow.pyfunc.load_model("models:/credit/1")

    def versions():
        import mlflow
        return {"mlflow": mlflow.__version__}


if mode == "cold":
    begin = time.perf_counter()
    import_api()
    imported = time.perf_counter() - begin
    if sys.argv[5] == "1":  # scikit-learn imported before the clock starts
        import sklearn.linear_model, sklearn.pipeline, sklearn.preprocessing  # noqa: F401
    start = time.perf_counter()
    loaded = load()
    seconds = time.perf_counter() - start
    pred = fingerprint(loaded.predict(frame("X.npy")))
    reply({"seconds": seconds, "import": imported, "fingerprint": pred})
    sys.exit(0)

import_api()
with open(os.path.join(work, "models.pkl"), "rb") as fh:
    models = pickle.load(fh)
X = frame("X.npy")
example = X.head()
for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    try:
        if op == "versions":
            import numpy, pandas, sklearn
            reply({"python": sys.version.split()[0], "scikit-learn": sklearn.__version__,
                   "pandas": pandas.__version__, "numpy": numpy.__version__, **versions()})
        elif op == "push":
            start = time.perf_counter()
            ref = push(cmd["folder"], cmd["name"])
            reply({"seconds": time.perf_counter() - start, "ref": ref})
        elif op == "pull":
            start = time.perf_counter()
            where = pull(cmd["ref"], cmd["dest"])
            reply({"seconds": time.perf_counter() - start, "where": where})
        elif op == "register":
            start = time.perf_counter()
            number = register(models[cmd["model"]], example)
            reply({"seconds": time.perf_counter() - start, "version": number})
        elif op == "hash":
            import blake3
            start = time.perf_counter()
            for root, _, names in os.walk(cmd["folder"]):
                for n in names:
                    h = blake3.blake3()
                    with open(os.path.join(root, n), "rb") as fh:
                        while chunk := fh.read(1 << 20):
                            h.update(chunk)
                    h.hexdigest()
            reply({"seconds": time.perf_counter() - start})
        elif op == "quit":
            reply({"bye": True})
            break
        else:
            reply({"error": f"unknown op {op}"})
    except Exception as exc:
        import traceback
        reply({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
'''


class Worker:
    """One tool's long-lived worker process, driven one JSON command at a time."""

    def __init__(self, tool: str, python: Path, script: Path, work: Path, url: str, env: dict):
        self.tool = tool
        self.stderr_path = work / f"worker-{tool}.log"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [str(python), str(script), "serve", tool, str(work), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=work,
            env=env,
            text=True,
            bufsize=1,
        )

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            tail = self.stderr_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.tool} worker died on {cmd}:\n{tail}")
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"{self.tool} worker failed on {cmd}: {out.get('trace')}")
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                self.ask(op="quit")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


# Servers and their memory


class PeakRss:
    """Samples a process tree's resident memory (sum over the process and its children)."""

    def __init__(self, pid: int, every: float = SAMPLE_EVERY_S) -> None:
        self.proc = psutil.Process(pid)
        self.every = every
        self.peak = 0
        self.samples = 0
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self.processes = max(self.processes, len(procs))
            self.samples += 1
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def server(name: str, argv: list[str], env: dict, health: str, work: Path) -> Iterator[PeakRss]:
    """Run a server until the block ends (see _common.serve); yield its peak memory."""
    with serve(name, argv, env, health, work) as proc:
        rss = PeakRss(proc.pid)
        try:
            yield rss
        finally:
            rss.stop()


def loopback_bytes() -> int:
    return psutil.net_io_counters(pernic=True)["lo"].bytes_sent


# Data


def make_files(folder: Path, size: int, nfiles: int, seed: int = 0) -> dict[str, tuple[int, str]]:
    """``nfiles`` files of seeded random bytes, lognormal sizes totalling ``size`` bytes
    (as objects.py makes them); returns {relative path: (size, blake3)}."""
    import blake3

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    weights = rng.lognormal(mean=0.0, sigma=1.0, size=nfiles)
    sizes = np.maximum(np.floor(weights / weights.sum() * size).astype(np.int64), 1)
    sizes[np.argmax(sizes)] += size - int(sizes.sum())
    truth = {}
    for i, n in enumerate(sizes):
        data = rng.bytes(int(n))
        name = f"part{i // 500:02d}/f{i:05d}.bin"  # a few sub-folders, as real data has
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(data)
        truth[name] = (len(data), blake3.blake3(data).hexdigest())
    os.sync()
    return truth


def check_tree(where: Path, truth: dict[str, tuple[int, str]], what: str) -> None:
    """Stop the benchmark unless ``where`` holds exactly the generated files."""
    import blake3

    found = {p.relative_to(where).as_posix() for p in where.rglob("*") if p.is_file()}
    if found != set(truth):
        extra, lacking = sorted(found - set(truth))[:3], sorted(set(truth) - found)[:3]
        raise RuntimeError(f"{what}: files differ (extra {extra}, lacking {lacking})")
    for name, (size, digest) in truth.items():
        data = (where / name).read_bytes()
        if len(data) != size or blake3.blake3(data).hexdigest() != digest:
            raise RuntimeError(f"{what}: {name} differs from what was pushed")


def make_models(work: Path, models: int, seed: int = 0) -> list:
    """Fitted pipelines (another C each), pickled once; rows to predict; the expected
    fingerprint of model 0's predictions."""
    import hashlib

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(ROWS, FEATURES))
    y = (X @ rng.normal(size=FEATURES) + rng.normal(scale=0.5, size=ROWS) > 0).astype(int)
    fitted = [
        make_pipeline(StandardScaler(), LogisticRegression(C=0.5 + i)).fit(X, y)
        for i in range(models)
    ]
    np.save(work / "X.npy", X)
    (work / "models.pkl").write_bytes(pickle.dumps(fitted))
    pred = np.asarray(fitted[0].predict(X)).astype("int64").ravel()
    return [int(pred.sum()), hashlib.sha256(pred.tobytes()).hexdigest()[:16]]


# Results


@dataclass
class Row:
    measure: str
    unit: str
    keel: list[float]
    peer: list[float]
    peer_name: str
    goal: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.peer:  # --keel-only
            return None
        k, p = median(self.keel), median(self.peer)
        if k == 0:
            return None
        return p / k

    def cells(self) -> list[str]:
        ratio = self.ratio
        return [
            self.measure,
            self.unit,
            fmt(median(self.keel)),
            spread_text(self.keel),
            self.peer_name,
            fmt(median(self.peer)) if self.peer else "-",
            spread_text(self.peer) if self.peer else "-",
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
            self.peer_name,
            self.unit,
            None if ratio is None else round(ratio, 3),
            self.goal,
        )


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def spread_text(values: list[float]) -> str:
    return f"{spread(values):.0%}" if len(values) > 1 and median(values) else "-"


COLUMNS = [
    "measure",
    "unit",
    "keel",
    "spread",
    "peer",
    "peer value",
    "spread",
    "ratio",
    "goal",
    "verdict",
    "note",
]
LEFT = {"measure", "unit", "peer", "verdict", "note"}


# Main


def ensure_mlflow() -> Path:
    pins = [f"{dist}=={version(dist)}" for dist in ("scikit-learn", "pandas", "numpy")]
    return ensure_venv(MLFLOW_VENV, "mlflow", ["mlflow", *pins])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="total size of the files")
    parser.add_argument("--files", type=int, default=2000, help="number of files")
    parser.add_argument("--repeat", type=int, default=3, help="samples of every repeated measure")
    parser.add_argument(
        "--keel-fsync",
        choices=("true", "false"),
        default="true",
        help="the keel server's fsync setting (default: true, keel's default)",
    )
    parser.add_argument(
        "--keel-only",
        action="store_true",
        help="measure keel alone (no MLflow installed or started; no ratios): a quick check",
    )
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown")
    add_dir_option(parser)
    args = parser.parse_args(argv)
    repeat = args.repeat
    fsync = args.keel_fsync == "true"

    warn_if_busy("other work will slow keel, MLflow and their servers unevenly")
    keel_only = args.keel_only
    python = Path(sys.executable) if keel_only else ensure_mlflow()
    commit = keel_commit()
    start_load = Load.now()
    work = Path(tempfile.mkdtemp(prefix="keel-bench-remote-", dir=args.dir))
    workers: list[Worker] = []
    log.log(f"working in {work}")
    try:
        size = args.size_mib * MIB
        data = work / "data"
        log.log(f"generating {args.files:,} files, {args.size_mib} MiB in total")
        truth = make_files(data, size, args.files)
        small_truth = make_files(work / "warmup", 10 * 4096, 10, seed=1)
        expected = make_models(work, repeat + 1)
        script = work / "worker.py"
        script.write_text(WORKER_SCRIPT)

        from keel.store import init_project

        project = init_project(work / "keel")
        keel_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        keel_env |= {"KEEL_URI": project.config.uri, "KEEL_OBJECTS": project.config.objects}
        keel_env["KEEL_FSYNC"] = args.keel_fsync
        project.close()
        keel_bin = str(Path(sys.executable).parent / "keel")
        made = subprocess.run(
            [keel_bin, "token", "create", "--role", "writer", "--json"],
            env=keel_env,
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        )
        token = json.loads(made.stdout)["token"]
        client_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        client_env["BENCH_KEEL_TOKEN"] = token
        client_env["KEEL_CACHE_DIR"] = str(work / "client-cache")  # the push stat cache
        mlflow_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        mlflow_env |= {"PYTHONWARNINGS": "ignore", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}

        with contextlib.ExitStack() as stack:
            kport, mport = free_port(), free_port()
            keel_rss = stack.enter_context(
                server(
                    "keel-server",
                    [keel_bin, "server", "--auth", "--port", str(kport), "--workers", "1"],
                    keel_env,
                    f"http://127.0.0.1:{kport}/api/v1/health",
                    work,
                )
            )
            mlflow_rss = (
                None
                if keel_only
                else stack.enter_context(
                    server(
                        "mlflow-server",
                        [
                            str(python.parent / "mlflow"),
                            "server",
                            "--backend-store-uri",
                            f"sqlite:///{work / 'mlflow.db'}",
                            "--serve-artifacts",
                            "--artifacts-destination",
                            str(work / "mlflow-artifacts"),
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(mport),
                            "--workers",
                            "1",
                        ],
                        mlflow_env,
                        f"http://127.0.0.1:{mport}/health",
                        work,
                    )
                )
            )
            k = Worker(
                "keel", Path(sys.executable), script, work, f"http://127.0.0.1:{kport}", client_env
            )
            workers.append(k)
            kv, mv = k.ask(op="versions"), {}
            both: tuple[Worker, ...] = (k,)
            if not keel_only:
                m = Worker("mlflow", python, script, work, f"http://127.0.0.1:{mport}", mlflow_env)
                workers.append(m)
                mv = m.ask(op="versions")
                for key in ("python", "scikit-learn", "pandas", "numpy"):
                    if kv[key] != mv[key]:
                        log.print(f"[yellow]warning: {key} {kv[key]} (keel) != {mv[key]}[/]")
                both = (k, m)

            log.log("warm-up (untimed): push and pull 10 files, register credit:1")
            for w in both:
                ref = w.ask(op="push", folder=str(work / "warmup"), name="warmup")["ref"]
                dest = work / f"pull-{w.tool}"
                got = Path(w.ask(op="pull", ref=ref, dest=str(dest))["where"])
                check_tree(got, small_truth, f"{w.tool} warm-up pull")
                shutil.rmtree(dest)
                if w.ask(op="register", model=0)["version"] != 1:
                    raise RuntimeError(f"{w.tool}: the first registration is not version 1")

            t: dict[tuple[str, str], list[float]] = {}
            wire: dict[tuple[str, str], list[float]] = {}
            refs = {}

            def push(w: Worker, what: str) -> str:
                os.sync()
                before = loopback_bytes()
                out = w.ask(op="push", folder=str(data), name="bench")
                wire.setdefault((w.tool, what), []).append((loopback_bytes() - before) / MIB)
                t.setdefault((w.tool, what), []).append(out["seconds"])
                log.log(f"  {w.tool} {what}: {out['seconds']:.2f} s -> {out['ref']}")
                return out["ref"]

            log.log("first push")
            for w in both:
                refs[w.tool] = push(w, "push")
            log.log("unchanged re-push")
            for _ in range(repeat):
                for w in both:
                    push(w, "repush")
            log.log("pull into an empty folder")
            for i in range(repeat):
                for w in both:
                    dest = work / f"pull-{w.tool}"
                    os.sync()
                    out = w.ask(op="pull", ref=refs[w.tool], dest=str(dest))
                    t.setdefault((w.tool, "pull"), []).append(out["seconds"])
                    log.log(f"  {w.tool} pull {i + 1}/{repeat}: {out['seconds']:.2f} s")
                    check_tree(Path(out["where"]), truth, f"{w.tool} pull")
                    shutil.rmtree(dest)
            log.log("blake3 of the folder in the keel worker (context)")
            hashing = [k.ask(op="hash", folder=str(data))["seconds"] for _ in range(repeat)]
            log.log("register")
            for i in range(1, repeat + 1):
                for w in both:
                    out = w.ask(op="register", model=i)
                    t.setdefault((w.tool, "register"), []).append(out["seconds"])
                    log.log(f"  {w.tool} register {i}/{repeat}: {out['seconds']:.2f} s")
            for w in workers:
                w.close()
            workers.clear()
            log.log("load in fresh processes, the tools taking turns")
            urls = {"keel": f"http://127.0.0.1:{kport}", "mlflow": f"http://127.0.0.1:{mport}"}
            pythons = {"keel": Path(sys.executable), "mlflow": python}
            envs = {"keel": client_env, "mlflow": mlflow_env}
            for i, pre in [(i, pre) for i in range(repeat) for pre in ("0", "1")]:
                for tool in [w.tool for w in both]:
                    # a cold load: keel's client keeps a loaded package on disk by digest, so
                    # a second process would read it from there instead of the server
                    shutil.rmtree(work / "client-cache" / "models", ignore_errors=True)
                    cold = [str(pythons[tool]), str(script), "cold", tool, str(work), urls[tool]]
                    done = subprocess.run(
                        [*cold, pre],
                        cwd=work,
                        env=envs[tool],
                        capture_output=True,
                        text=True,
                    )
                    if done.returncode != 0:
                        raise RuntimeError(f"{tool} cold load failed:\n{done.stderr[-3000:]}")
                    out = json.loads(done.stdout.strip().splitlines()[-1])
                    if out["fingerprint"] != expected:
                        raise RuntimeError(f"{tool} cold load predicts otherwise: {out}")
                    what = "load" if pre == "0" else "load sklearn first"
                    t.setdefault((tool, what), []).append(out["seconds"])
                    if pre == "0":
                        both_s = out["import"] + out["seconds"]
                        t.setdefault((tool, "import + load"), []).append(both_s)
                    log.log(f"  {tool} {what} {i + 1}/{repeat}: {out['seconds']:.2f} s")
            keel_bytes = sum(p.stat().st_size for p in (work / "keel").rglob("*") if p.is_file())
            log.log(f"keel's project folder holds {keel_bytes / MIB:,.0f} MiB")
        keel_peak = keel_rss.peak / 1e6
        mlflow_peak = mlflow_rss.peak / 1e6 if mlflow_rss is not None else None
        procs = (keel_rss.processes, mlflow_rss.processes if mlflow_rss is not None else 0)
        samples = keel_rss.samples
        load_line = load_summary(start_load, Load.now()) + "."
    finally:
        for w in workers:
            w.close()
        shutil.rmtree(work, ignore_errors=True)
        log.log(f"removed {work}")

    label = f"{args.files:,} files, {args.size_mib:,} MiB"
    rows = [
        Row(
            f"first push, {label}",
            "s",
            t[("keel", "push")],
            t.get(("mlflow", "push"), []),
            "MLflow `log_artifacts` (new run)",
            GOAL_PUSH,
        ),
        Row(
            f"unchanged re-push, {label}",
            "s",
            t[("keel", "repush")],
            t.get(("mlflow", "repush"), []),
            "MLflow `log_artifacts` (new run)",
            GOAL_REPUSH,
        ),
        Row(
            f"pull into an empty folder, {label}",
            "s",
            t[("keel", "pull")],
            t.get(("mlflow", "pull"), []),
            "MLflow `download_artifacts`",
            GOAL_PULL,
        ),
        Row(
            "register a scikit-learn pipeline",
            "s",
            t[("keel", "register")],
            t.get(("mlflow", "register"), []),
            "MLflow `sklearn.log_model(registered_model_name=)`",
            GOAL_REGISTER,
        ),
        Row(
            "load `credit:1` (fresh process, API imported)",
            "s",
            t[("keel", "load")],
            t.get(("mlflow", "load"), []),
            "MLflow `pyfunc.load_model`",
            GOAL_LOAD,
        ),
        Row(
            "load `credit:1`, scikit-learn imported first (fresh process)",
            "s",
            t[("keel", "load sklearn first")],
            t.get(("mlflow", "load sklearn first"), []),
            "MLflow `pyfunc.load_model`",
            None,
            "what is left of a load without importing the model's library",
        ),
        Row(
            "import the API + load `credit:1` (fresh process)",
            "s",
            t[("keel", "import + load")],
            t.get(("mlflow", "import + load"), []),
            "MLflow `import mlflow.pyfunc` + `pyfunc.load_model`",
            None,
            "keel: `import keel.registry` + `keel.Client(url, token=)`",
        ),
        Row(
            "keel server peak RSS (whole run)",
            "MB",
            [keel_peak],
            [BUDGET_RSS_MB],
            "300 MB budget (issue)",
            1.0,
            f"{samples:,} samples every 50 ms",
        ),
        Row(
            "server peak RSS (whole run)",
            "MB",
            [keel_peak],
            [] if mlflow_peak is None else [mlflow_peak],
            "MLflow server (process tree)",
            None,
            f"sum of RSS over {procs[0]} keel / {procs[1]} MLflow processes",
        ),
        Row(
            "bytes over loopback, first push",
            "MiB",
            wire[("keel", "push")],
            wire.get(("mlflow", "push"), []),
            "MLflow",
            None,
        ),
        Row(
            "bytes over loopback, unchanged re-push",
            "MiB",
            wire[("keel", "repush")],
            wire.get(("mlflow", "repush"), []),
            "MLflow",
            None,
        ),
        Row(
            "unchanged re-push against blake3 of the folder (client, 1 thread)",
            "s",
            t[("keel", "repush")],
            hashing,
            "blake3 of every file, in the keel worker",
            None,
            "the hashing floor of a re-push",
        ),
    ]
    versions = ", ".join(f"{key} {value}" for key, value in {**kv, **mv}.items())
    lines = [
        run_line("remote"),
        f"machine: {cpus_and_ram()}; {versions}; keel {commit}",
        f"data: {label} of seeded random bytes (lognormal sizes), in 4 sub-folders; every "
        "pull checked file by file (names, sizes, blake3)",
        f"method: first push one sample per tool; re-push, pull, register and load: median of "
        f"{repeat}, the tools taking turns; load in a fresh process per sample; page cache "
        "warm for the source folder, `sync` before each push and pull",
        "servers on 127.0.0.1, one worker each: `keel server --auth` (SQLite, local objects, "
        f"fsync = {args.keel_fsync}{': objects and database fsynced' if fsync else ''}) and "
        "`mlflow server --serve-artifacts` "
        "(SQLite, artifacts proxied to a local folder, not fsynced)",
        "MLflow's re-push logs into a new run (a new run or the same run: it uploads every "
        "byte again either way)",
        load_line,
    ]
    console = stdout_console(200)
    console.print(
        rich_table("keel server against MLflow server", COLUMNS, [r.cells() for r in rows], LEFT)
    )
    for line in lines:
        console.print(line)
    if args.markdown:
        args.markdown.write_text(markdown(COLUMNS, [r.cells() for r in rows], LEFT, lines))
    print_json("remote", [r.to_json() for r in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
