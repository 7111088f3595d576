"""Benchmark keel's model registry against MLflow's on the same scikit-learn model.

Run it from the repository root (full size takes 5 to 10 minutes on 2 CPUs)::

    flock /tmp/keel-bench.lock .venv/bin/python benchmarks/registry.py   # full size
    .venv/bin/python benchmarks/registry.py --quick    # 1 registration, 5 samples
    .venv/bin/python benchmarks/registry.py --markdown out.md  # also write the table

MLflow (the latest release) is installed once into its own virtual environment,
``.bench-venvs/mlflow`` (git-ignored), with ``python3 -m venv`` and ``pip install mlflow``
plus scikit-learn, pandas and NumPy pinned to this environment's versions; the install is
skipped when ``mlflow`` already imports there (the tracking benchmark uses the same
environment). The benchmark warns when the two environments' versions differ.

Model and data: 20 float features (``f0``..``f19``, seeded normal draws), a binary label
from a fixed linear combination plus noise, 10,000 training rows and 10,000 rows to
predict. This process fits ``make_pipeline(StandardScaler(), LogisticRegression(C=...))``
``--repeat`` + 1 times (another ``C`` each, so that no timed registration finds its files
already stored) and pickles the models once into a fresh folder under ``--dir`` (removed
at the end); both tools register the same unpickled models, and every load of both (warm,
by alias, native, cold) must predict exactly what the pickled model predicts, or the
benchmark stops.

Each tool runs in its own long-lived worker process (keel in ``.venv``, MLflow in its
venv), started from the same script (written to the work folder) and driven by this
process over a pipe, one command at a time, so that samples of the two tools alternate
and a slow spell of a shared machine hits both. keel uses its SDK on a store made by
``keel.store.init_project`` (SQLite and a local object store); MLflow uses
``sqlite:///<work>/mlflow.db`` with its artifacts in ``<work>/mlruns``.

Measures (the issue's goals first; the other rows are context):

* register: ``keel.register_model(model, "credit", input_example=X.head())`` against
  ``mlflow.sklearn.log_model(model, name="model", input_example=X.head(),
  registered_model_name="credit")`` (no active run; MLflow's defaults, so it infers the
  requirements). Model 0 is registered untimed in each worker first (imports, database
  tables; it becomes ``credit:1``, aliased ``champion``), then ``--repeat`` timed ones.
  Goal: keel >= 10x faster.
* cold load: a fresh process per sample imports the tool's API (``keel.registry``,
  ``mlflow.pyfunc``), then times the first ``keel.load_model("credit:1")`` /
  ``mlflow.pyfunc.load_model("models:/credit/1")``: opening the database, resolving the
  reference, reading (keel: verifying) the files, importing the flavor's libraries
  (scikit-learn, and skops for keel) and deserialising. Goal: keel no slower. Context rows:
  the import plus the load, and the load with scikit-learn imported beforehand (what is
  left when the model's own library is already there). The files are in the page cache
  for both tools.
* warm load: the same call again in the process that has loaded the model (keel resolves
  ``credit:1`` to its package once, then serves it from memory by digest; MLflow has no
  cache and reads it again). Goal: keel under 1 ms (the row's peer is the 1 ms budget).
  Context: MLflow's warm load, and keel's by alias (``credit@champion``, one query a
  call, since an alias can move).
* predict one row (a one-row DataFrame) and 10,000 rows through the loaded object:
  ``LoadedModel.predict`` against MLflow's ``PyFuncModel.predict``, both enforcing their
  signatures. Goal: >= 4x faster for one row; 10,000 rows is a context row.
* signature enforcement: ``LoadedModel.predict(df)`` against the model's own
  ``predict(df)`` (``loaded.native.predict``) on the same DataFrame, in the same process.
  Goals: at most 50 microseconds more for one row, at most 10% more for 10,000 rows. Each
  row's peer is the allowance (native time + 50 us, native time x 1.10), so a ratio >= 1
  meets the goal; the note column gives the overhead itself (negative when keel's
  predict is faster than the model's own, which happens: keel hands scikit-learn a NumPy
  array once it has checked the columns). Context rows time the check alone
  (``LoadedModel.enforce``, against the same allowances) and compare keel's predict with
  scikit-learn's predict on a NumPy row or array, the floor.

Method: every in-process figure is a median over ``--samples`` samples, each the mean of
``number`` calls timed with ``timeit`` (garbage collection off, as ``timeit`` does);
``number`` is set per contestant from one untimed call, so a sample lasts about 20 ms,
and each sample follows one more untimed call (the other worker has just had the CPU).
Contestants take turns within each round of samples. Registrations and cold loads are
single calls, the median of ``--repeat``; cold-load processes of the two tools alternate.
The table shows the spread of the samples: (slowest - fastest) / median.

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "registry", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": ..., "ratio": ..., "goal": ...}, ...]}

``ratio`` is peer / keel (all figures are times: above 1, keel is faster); ``goal`` is the
ratio the issue asks for, or null for context rows.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from _common import (
    VENVS,
    Load,
    add_dir_option,
    cpus_and_ram,
    ensure_venv,
    keel_commit,
    load_summary,
    log,
    markdown,
    median,
    print_json,
    result_json,
    rich_table,
    run_line,
    spread,
    stdout_console,
    verdict,
    warn_if_busy,
)

MLFLOW_VENV = VENVS / "mlflow"
FEATURES = 20
ROWS = 10_000
SAMPLE_S = 0.02  # target length of one timed sample
GOAL_REGISTER = 10.0
GOAL_COLD = 1.0
BUDGET_WARM_S = 1e-3
GOAL_ONE_ROW = 4.0
BUDGET_ONE_ROW_S = 50e-6
BUDGET_BULK = 0.10


# The worker: the same script for both tools, run in each tool's environment.

WORKER_SCRIPT = r'''
"""A worker of benchmarks/registry.py for one tool (keel or mlflow).

``worker.py serve TOOL WORK``: reads one JSON command a line on stdin, answers one JSON
object a line on stdout. ``worker.py cold TOOL WORK PREIMPORT``: one cold load, then exits.
"""
import json, os, pickle, sys, time, timeit, warnings

warnings.filterwarnings("ignore")
mode, tool, work = sys.argv[1], sys.argv[2], sys.argv[3]
# Answers go to the original stdout; anything the libraries print goes to stderr.
answer_fd = os.dup(1)
os.dup2(2, 1)
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
    def import_api():
        import keel.registry  # noqa: F401

    def register(model, example):
        import keel
        return keel.register_model(model, "credit", input_example=example).version

    def set_alias():
        import keel.registry
        keel.registry.registry().set_alias("credit:1", "champion")

    def load(ref="credit:1"):
        import keel
        return keel.load_model(ref)

    def load_alias():
        return load("credit@champion")

    def native_of(loaded):
        return loaded.native

    def versions():
        import keel, skops
        return {"keel": keel.__version__, "skops": skops.__version__}
else:
    def import_api():
        import mlflow.pyfunc  # noqa: F401

    def register(model, example):
        import mlflow.sklearn
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=example, registered_model_name="credit"
        )
        return int(info.registered_model_version)

    def set_alias():
        from mlflow import MlflowClient
        MlflowClient().set_registered_model_alias("credit", "champion", "1")

    def load(ref="models:/credit/1"):
        import mlflow.pyfunc
        return mlflow.pyfunc.load_model(ref)

    def load_alias():
        return load("models:/credit@champion")

    def native_of(loaded):
        return loaded.get_raw_model()

    def versions():
        import mlflow
        return {"mlflow": mlflow.__version__}


if mode == "cold":
    start = time.perf_counter()
    import_api()
    imported = time.perf_counter()
    if sys.argv[4] == "1":
        import sklearn.linear_model, sklearn.pipeline, sklearn.preprocessing  # noqa: F401
    begin = time.perf_counter()
    loaded = load()
    end = time.perf_counter()
    reply({
        "import": imported - start,
        "load": end - begin,
        "fingerprint": fingerprint(loaded.predict(frame("X_predict.npy"))),
    })
    sys.exit(0)

with open(os.path.join(work, "models.pkl"), "rb") as fh:
    models = pickle.load(fh)  # the same pickled models for both tools
example = frame("X_example.npy")
Xp = frame("X_predict.npy")
import_api()
one = Xp.iloc[[0]]
one_np = one.to_numpy()
all_np = Xp.to_numpy()
loaded = native = None
for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    try:
        if op == "versions":
            import numpy, pandas, sklearn
            reply({
                "python": sys.version.split()[0],
                "scikit-learn": sklearn.__version__,
                "pandas": pandas.__version__,
                "numpy": numpy.__version__,
                **versions(),
            })
        elif op == "register":
            model = models[cmd["model"]]
            start = time.perf_counter()
            number = register(model, example)
            reply({"seconds": time.perf_counter() - start, "version": number})
        elif op == "alias":
            set_alias()
            reply({"ok": True})
        elif op == "load":
            loaded = load()
            native = native_of(loaded)
            reply({
                "fingerprint": fingerprint(loaded.predict(Xp)),
                "native_fingerprint": fingerprint(native.predict(Xp)),
                "alias_fingerprint": fingerprint(load_alias().predict(Xp)),
            })
        elif op == "time":
            fn = {
                "warm_load": load,
                "warm_load_alias": load_alias,
                "predict_1": lambda: loaded.predict(one),
                "native_1": lambda: native.predict(one),
                "native_np_1": lambda: native.predict(one_np),
                "predict_n": lambda: loaded.predict(Xp),
                "native_n": lambda: native.predict(Xp),
                "native_np_n": lambda: native.predict(all_np),
                "enforce_1": lambda: loaded.enforce(one),
                "enforce_n": lambda: loaded.enforce(Xp),
            }[cmd["what"]]
            number = cmd["number"]
            fn()  # untimed: caches were the other worker's a moment ago
            reply({"seconds": timeit.Timer(fn).timeit(number) / number})
        elif op == "quit":
            reply({"bye": True})
            break
        else:
            reply({"error": f"unknown op {op}"})
    except Exception as exc:  # report it to the controller, which stops the benchmark
        import traceback
        reply({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
'''


class Worker:
    """One tool's long-lived worker process, driven one JSON command at a time."""

    def __init__(self, tool: str, python: Path, script: Path, work: Path, env: dict[str, str]):
        self.tool = tool
        self.stderr_path = work / f"worker-{tool}.log"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [str(python), str(script), "serve", tool, str(work)],
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
            raise RuntimeError(f"{self.tool} worker died on {cmd}:\n{self._tail()}")
        out = json.loads(line)
        if "error" in out:
            raise RuntimeError(f"{self.tool} worker failed on {cmd}: {out.get('trace')}")
        return out

    def _tail(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-3000:]

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


# Figures and results


@dataclass
class Figure:
    """A time in seconds from several samples: the median, and how far they spread."""

    seconds: list[float]

    @property
    def value(self) -> float:
        return median(self.seconds)

    @property
    def spread(self) -> float | None:
        if len(self.seconds) < 2:
            return None
        return spread(self.seconds)


UNITS = {"s": 1.0, "ms": 1e3, "µs": 1e6}


@dataclass
class Result:
    """One row of the table and of the JSON line: keel against one peer (or a budget)."""

    measure: str
    unit: str
    keel: Figure
    peer: Figure
    peer_name: str
    goal: float | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.peer.value / self.keel.value

    @property
    def verdict(self) -> str:
        return verdict(self.ratio, self.goal)

    def to_json(self) -> dict[str, object]:
        scale = UNITS[self.unit]
        keel, peer = _round(self.keel.value * scale), _round(self.peer.value * scale)
        ratio = round(self.ratio, 3)
        return result_json(self.measure, keel, peer, self.peer_name, self.unit, ratio, self.goal)


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def fmt(seconds: float, unit: str) -> str:
    value = seconds * UNITS[unit]
    return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"


# Setup


def ensure_mlflow(venv: Path) -> Path:
    """The Python of a virtual environment with MLflow, created and installed if needed."""
    # The model's libraries pinned to this environment's versions, so both tools run
    # the same scikit-learn, pandas and NumPy code.
    pins = [f"{dist}=={version(dist)}" for dist in ("scikit-learn", "pandas", "numpy")]
    return ensure_venv(venv, "mlflow", ["mlflow", *pins])


def make_data(work: Path, models: int, seed: int = 0) -> list:
    """Rows to predict and an input example (.npy), and ``models`` fitted pipelines, pickled
    once (``models.pkl``) for both workers; returns the first model's predictions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=FEATURES)
    names = [f"f{i}" for i in range(FEATURES)]
    X = pd.DataFrame(rng.normal(size=(ROWS, FEATURES)), columns=names)
    y = (X.to_numpy() @ weights + rng.normal(size=ROWS) > 0).astype(np.int64)
    X_predict = rng.normal(size=(ROWS, FEATURES))
    np.save(work / "X_predict.npy", X_predict)
    np.save(work / "X_example.npy", X.head().to_numpy())
    # Distinct models (another C each), so that no timed registration finds its files stored.
    fitted = [
        make_pipeline(StandardScaler(), LogisticRegression(C=1.0 / (i + 1))).fit(X, y)
        for i in range(models)
    ]
    with open(work / "models.pkl", "wb") as fh:
        pickle.dump(fitted, fh)
    return fingerprint(fitted[0].predict(pd.DataFrame(X_predict, columns=names)))


def fingerprint(pred: Any) -> list:
    """The same as the worker's: the sum and a hash of the predicted labels."""
    arr = np.asarray(pred).astype("int64").ravel()
    return [int(arr.sum()), hashlib.sha256(arr.tobytes()).hexdigest()[:16]]


def keel_env(uri: str, objects: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "MLFLOW_"))}
    env.update(KEEL_URI=uri, KEEL_OBJECTS=objects, KEEL_SYSTEM_METRICS="0")
    env["PYTHONWARNINGS"] = "ignore"
    return env


def mlflow_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "MLFLOW_"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    env["PYTHONWARNINGS"] = "ignore"
    return env


# Measures


def check_same(what: str, got: list, expected: list) -> None:
    if got != expected:
        raise RuntimeError(f"{what}: predicted {got}, the pickled model {expected}")


def calibrate(worker: Worker, what: str) -> int:
    """Calls per sample so that one sample lasts about SAMPLE_S (one untimed call first)."""
    once = worker.ask(op="time", what=what, number=1)["seconds"]
    return max(1, min(10_000, round(SAMPLE_S / max(once, 1e-9))))


def sample_rounds(
    contestants: list[tuple[Worker, str]], samples: int, label: str
) -> dict[tuple[str, str], list[float]]:
    """Per-call seconds of each (worker, what), ``samples`` rounds, turns within each."""
    numbers = {(w.tool, what): calibrate(w, what) for w, what in contestants}
    times: dict[tuple[str, str], list[float]] = {key: [] for key in numbers}
    for i in range(samples):
        if i % 10 == 0:
            log.log(f"  {label}: sample round {i + 1}/{samples}")
        for worker, what in contestants:
            key = (worker.tool, what)
            times[key].append(worker.ask(op="time", what=what, number=numbers[key])["seconds"])
    return times


def cold_load(python: Path, script: Path, tool: str, work: Path, env, preimport: bool):
    proc = subprocess.run(
        [str(python), str(script), "cold", tool, str(work), "1" if preimport else "0"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"{tool} cold load failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


# Report


def machine(keel_v: dict[str, str], mlflow_v: dict[str, str], commit: str) -> str:
    return (
        f"{cpus_and_ram()}; keel {keel_v['keel']} "
        f"({commit}; Python {keel_v['python']}, skops {keel_v['skops']}, "
        f"SQLite {sqlite3.sqlite_version}); MLflow {mlflow_v['mlflow']} (Python "
        f"{mlflow_v['python']}); both: scikit-learn {keel_v['scikit-learn']}, pandas "
        f"{keel_v['pandas']}, numpy {keel_v['numpy']}"
    )


def load_text(start: Load, end: Load) -> str:
    """How much CPU other processes and the hypervisor took; the stages' load follows."""
    return load_summary(start, end, steal=True) + "; 1-minute load average at each stage: "


COLUMNS = ("measure", "unit", "keel", "spread", "peer", "peer figure", "spread", "ratio")
COLUMNS += ("goal", "verdict", "note")
RIGHT = {"keel", "spread", "peer figure", "ratio", "goal"}


def cells(r: Result) -> tuple[str, ...]:
    ks, ps = r.keel.spread, r.peer.spread
    return (
        r.measure,
        r.unit,
        fmt(r.keel.value, r.unit),
        "-" if ks is None else f"{ks:.0%}",
        r.peer_name,
        fmt(r.peer.value, r.unit),
        "-" if ps is None else f"{ps:.0%}",
        f"{r.ratio:,.2f}",
        "-" if r.goal is None else f">= {r.goal:g}",
        r.verdict,
        r.note or "-",
    )


LEFT = [column for column in COLUMNS if column not in RIGHT]


def report(results: list[Result], lines: list[str]) -> None:
    out = stdout_console(230)
    title = "keel model registry vs MLflow (same scikit-learn model)"
    table = rich_table(title, COLUMNS, (cells(r) for r in results), LEFT)
    for line in lines:
        out.print(line)
    out.print(table)
    out.print("ratio = peer / keel (every figure is a time): above 1, keel is faster.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dir_option(parser)
    parser.add_argument("--quick", action="store_true", help="--repeat 1 --samples 5")
    parser.add_argument(
        "--repeat", type=int, help="timed registrations and cold loads per tool (default 5)"
    )
    parser.add_argument("--samples", type=int, help="samples per in-process figure (default 50)")
    parser.add_argument("--mlflow-venv", type=Path, default=MLFLOW_VENV, help="MLflow's venv")
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown here")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 5)
    samples = args.samples or (5 if args.quick else 50)
    if repeat < 1 or samples < 2:
        parser.error("--repeat must be at least 1 and --samples at least 2")

    warn_if_busy("other work will slow keel and MLflow unevenly")
    pythons = {"keel": Path(sys.executable), "mlflow": ensure_mlflow(args.mlflow_venv)}
    commit = keel_commit()  # now: others may commit while this runs
    work = Path(tempfile.mkdtemp(prefix="keel-bench-registry-", dir=args.dir))
    workers: list[Worker] = []
    loadavg: list[str] = []

    def stage(name: str) -> None:
        loadavg.append(f"{name} {os.getloadavg()[0]:.1f}")

    try:
        log.log(f"working in {work}: fitting and pickling {repeat + 1} models")
        expected = make_data(work, repeat + 1)
        script = work / "worker.py"
        script.write_text(WORKER_SCRIPT)
        from keel.store import init_project

        store = init_project(work / "keel-project")
        envs = {
            "keel": keel_env(store.config.uri, store.config.objects),
            "mlflow": mlflow_env(work),
        }
        store.close()
        start = Load.now()
        stage("start")
        log.log("starting the workers (imports, unpickling the models)")
        k = Worker("keel", pythons["keel"], script, work, envs["keel"])
        workers.append(k)
        m = Worker("mlflow", pythons["mlflow"], script, work, envs["mlflow"])
        workers.append(m)
        keel_v, mlflow_v = k.ask(op="versions"), m.ask(op="versions")
        for key in ("python", "scikit-learn", "pandas", "numpy"):
            if keel_v[key] != mlflow_v[key]:
                log.print(f"[yellow]warning: {key} {keel_v[key]} (keel) != {mlflow_v[key]}[/]")

        # Register: model 0 untimed in each worker (version 1, the one loaded below).
        log.log("register: warm-up (untimed) -> credit:1 in both, aliased champion")
        for w in (k, m):
            if w.ask(op="register", model=0)["version"] != 1:
                raise RuntimeError(f"{w.tool}: the first registration is not version 1")
            w.ask(op="alias")
        register: dict[str, list[float]] = {"keel": [], "mlflow": []}
        for i in range(1, repeat + 1):
            for w in (k, m):
                log.log(f"register {i}/{repeat}: {w.tool}")
                register[w.tool].append(w.ask(op="register", model=i)["seconds"])
        stage("after register")

        # Load in each worker (untimed here), and check both predict as the pickled model.
        for w in (k, m):
            got = w.ask(op="load")
            for key in ("fingerprint", "native_fingerprint", "alias_fingerprint"):
                check_same(f"{w.tool} {key}", got[key], expected)

        log.log("warm load")
        warm = sample_rounds(
            [(k, "warm_load"), (k, "warm_load_alias"), (m, "warm_load")], samples, "warm load"
        )
        stage("after warm load")
        log.log("predict, one row")
        one = sample_rounds(
            [(w, what) for w in (k, m) for what in ("predict_1", "native_1", "native_np_1")]
            + [(k, "enforce_1")],
            samples,
            "predict one row",
        )
        stage("after one-row predict")
        log.log(f"predict, {ROWS:,} rows")
        bulk = sample_rounds(
            [(w, what) for w in (k, m) for what in ("predict_n", "native_n", "native_np_n")]
            + [(k, "enforce_n")],
            samples,
            f"predict {ROWS:,} rows",
        )
        stage(f"after {ROWS:,}-row predict")
        for w in workers:
            w.close()
        workers.clear()

        log.log("cold load: fresh processes, the tools taking turns")
        cold: dict[tuple[str, str], list[float]] = {}
        for i in range(repeat):
            for preimport in (False, True):
                for tool in ("keel", "mlflow"):
                    log.log(f"  cold load {i + 1}/{repeat}: {tool}, sklearn imported={preimport}")
                    out = cold_load(pythons[tool], script, tool, work, envs[tool], preimport)
                    check_same(f"{tool} cold load", out["fingerprint"], expected)
                    if preimport:
                        cold.setdefault((tool, "sklearn first"), []).append(out["load"])
                    else:
                        cold.setdefault((tool, "load"), []).append(out["load"])
                        cold.setdefault((tool, "import"), []).append(out["import"])
                        cold.setdefault((tool, "both"), []).append(out["import"] + out["load"])
        stage("end")
        load_line = load_text(start, Load.now()) + ", ".join(loadavg) + "."
    finally:
        for w in workers:
            w.close()
        shutil.rmtree(work, ignore_errors=True)
        log.log(f"removed {work}")

    results = build_results(register, cold, warm, one, bulk)
    native = {key: Figure(times).value for key, times in {**one, **bulk}.items()}
    lines = [
        run_line("registry"),
        f"machine: {machine(keel_v, mlflow_v, commit)}",
        f"model: make_pipeline(StandardScaler(), LogisticRegression()) fitted on {ROWS:,} rows "
        f"x {FEATURES} float features and pickled once; both tools register the unpickled "
        f"model; predictions on {ROWS:,} other rows checked equal to the pickled model's for "
        "every load (warm, by alias, native, cold) of both tools",
        f"method: registrations and cold loads: median of {repeat} (after 1 untimed "
        f"registration per tool); warm loads and predicts: median of {samples} samples, "
        "each the mean of as many calls as fill about 20 ms after one untimed call, the "
        "contestants taking turns; spread = (slowest - fastest) / median. Cold loads: one "
        "fresh process per sample, the tools alternating; the load call is timed after "
        "importing `keel.registry` / `mlflow.pyfunc`; the import is timed separately.",
        f"cold start: importing the API took {Figure(cold[('keel', 'import')]).value:.2f} s "
        f"(keel) and {Figure(cold[('mlflow', 'import')]).value:.2f} s (MLflow)",
        f"the model's own predict, in MLflow's worker / keel's: "
        f"{native[('mlflow', 'native_1')] * 1e3:.3f} / {native[('keel', 'native_1')] * 1e3:.3f}"
        f" ms on the one-row DataFrame, {native[('mlflow', 'native_np_1')] * 1e3:.3f} / "
        f"{native[('keel', 'native_np_1')] * 1e3:.3f} ms on the NumPy row, "
        f"{native[('mlflow', 'native_n')] * 1e3:.2f} / {native[('keel', 'native_n')] * 1e3:.2f}"
        f" ms on {ROWS:,} rows (the two processes ran under comparable conditions when these "
        "agree)",
        load_line,
    ]
    report(results, lines)
    if args.markdown:
        args.markdown.write_text(markdown(COLUMNS, [cells(r) for r in results], LEFT, lines))
    print_json("registry", [r.to_json() for r in results])
    return 0


Samples = dict[tuple[str, str], list[float]]


def build_results(
    register: dict[str, list[float]], cold: Samples, warm: Samples, one: Samples, bulk: Samples
) -> list[Result]:
    """The table's rows: the issue's goals first, then context rows (goal None)."""

    def fig(samples: Samples, tool: str, what: str) -> Figure:
        return Figure(samples[(tool, what)])

    native_1, native_n = one[("keel", "native_1")], bulk[("keel", "native_n")]
    over_1 = fig(one, "keel", "predict_1").value - Figure(native_1).value
    over_n = fig(bulk, "keel", "predict_n").value / Figure(native_n).value - 1
    mlflow_load = "MLflow `mlflow.pyfunc.load_model`"
    return [
        Result(
            "register",
            "s",
            Figure(register["keel"]),
            Figure(register["mlflow"]),
            "MLflow `mlflow.sklearn.log_model(..., registered_model_name=)`",
            GOAL_REGISTER,
        ),
        Result(
            "cold load `credit:1` (fresh process, API imported)",
            "ms",
            fig(cold, "keel", "load"),
            fig(cold, "mlflow", "load"),
            mlflow_load,
            GOAL_COLD,
        ),
        Result(
            "warm load `credit:1` (same process)",
            "ms",
            fig(warm, "keel", "warm_load"),
            Figure([BUDGET_WARM_S]),
            "1 ms budget (issue)",
            1.0,
        ),
        Result(
            "predict 1 row (DataFrame)",
            "ms",
            fig(one, "keel", "predict_1"),
            fig(one, "mlflow", "predict_1"),
            "MLflow `PyFuncModel.predict`",
            GOAL_ONE_ROW,
        ),
        Result(
            "signature enforcement, 1 row",
            "µs",
            fig(one, "keel", "predict_1"),
            Figure([t + BUDGET_ONE_ROW_S for t in native_1]),
            "model's own `predict` on the same DataFrame + 50 µs (budget)",
            1.0,
            f"overhead {over_1 * 1e6:+,.0f} µs "
            f"(model's own: {Figure(native_1).value * 1e6:,.0f} µs)",
        ),
        Result(
            f"signature enforcement, {ROWS:,} rows",
            "ms",
            fig(bulk, "keel", "predict_n"),
            Figure([t * (1 + BUDGET_BULK) for t in native_n]),
            "model's own `predict` on the same DataFrame + 10% (budget)",
            1.0,
            f"overhead {over_n:+.1%} (model's own: {Figure(native_n).value * 1e3:,.2f} ms)",
        ),
        Result(
            "cold start: import the API + load (fresh process)",
            "ms",
            fig(cold, "keel", "both"),
            fig(cold, "mlflow", "both"),
            "MLflow `import mlflow.pyfunc` + `load_model`",
            None,
        ),
        Result(
            "cold load, scikit-learn imported first (fresh process)",
            "ms",
            fig(cold, "keel", "sklearn first"),
            fig(cold, "mlflow", "sklearn first"),
            mlflow_load,
            None,
        ),
        Result(
            "warm load `credit:1` (same process)",
            "ms",
            fig(warm, "keel", "warm_load"),
            fig(warm, "mlflow", "warm_load"),
            f"{mlflow_load} again (no cache)",
            None,
        ),
        Result(
            "warm load `credit@champion` (alias: one query a call)",
            "ms",
            fig(warm, "keel", "warm_load_alias"),
            Figure([BUDGET_WARM_S]),
            "1 ms budget (issue)",
            None,
        ),
        Result(
            f"predict {ROWS:,} rows (DataFrame)",
            "ms",
            fig(bulk, "keel", "predict_n"),
            fig(bulk, "mlflow", "predict_n"),
            "MLflow `PyFuncModel.predict`",
            None,
        ),
        Result(
            "signature check alone (`LoadedModel.enforce`), 1 row",
            "µs",
            fig(one, "keel", "enforce_1"),
            Figure([BUDGET_ONE_ROW_S]),
            "50 µs budget (issue)",
            None,
        ),
        Result(
            f"signature check alone (`LoadedModel.enforce`), {ROWS:,} rows",
            "µs",
            fig(bulk, "keel", "enforce_n"),
            Figure([t * BUDGET_BULK for t in native_n]),
            "10% of the model's own `predict` on the same DataFrame (budget)",
            None,
        ),
        Result(
            "predict 1 row, against scikit-learn on a NumPy row",
            "ms",
            fig(one, "keel", "predict_1"),
            fig(one, "keel", "native_np_1"),
            "model's own `predict` on a NumPy row (no names, no checks)",
            None,
        ),
        Result(
            f"predict {ROWS:,} rows, against scikit-learn on a NumPy array",
            "ms",
            fig(bulk, "keel", "predict_n"),
            fig(bulk, "keel", "native_np_n"),
            "model's own `predict` on a NumPy array (no names, no checks)",
            None,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
