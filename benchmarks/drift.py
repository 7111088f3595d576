"""Benchmark keel's data drift against Evidently's default data-drift preset.

Run it from the repository root (on a shared machine, behind the benchmark lock)::

    flock /tmp/keel-bench.lock .venv/bin/python benchmarks/drift.py   # full size, 15-25 min
    .venv/bin/python benchmarks/drift.py --rows 2000 --sketch-rows 20000  # a smoke run
    .venv/bin/python benchmarks/drift.py --skip-peer                   # keel alone

Evidently (the latest release, with pyarrow to read Parquet, and pandas below 3: Evidently
0.7.23 imports a pandas 2 internal) is installed once into its own virtual environment,
``.bench-venvs/evidently`` (git-ignored); the install is skipped when ``evidently`` already
imports there. It is not a keel dependency.

Data, for each of ``--rows`` (default 100,000 and 1,000,000): a reference and a current
table of that many rows, seeded. 20 float64 columns, normal with a different mean and std
each; in the current table columns ``num_0`` to ``num_4`` are shifted by half their std. 5
string columns of 10 categories, uniform; in the current table ``cat_0``'s first category
rises from 10 % to 30 %. The planted truth is therefore 6 drifted columns. Both tables are
written as Parquet in a fresh folder under ``--dir``, removed at the end.

Method: every (tool, size) runs in its own fresh process of the tool's interpreter (a
worker script written to the work folder), which reads both files with
``pandas.read_parquet`` (untimed), imports its tool, then times with ``time.perf_counter``:

- keel: ``keel.monitoring.drift(reference_df, current_df)``, all defaults (the test chosen
  per column; the reference summarised to 4,096 points per numeric column, its error
  bound reported per column); one warm-up, then the median of
  ``--repeat`` runs. Context rows, in the same process: the same from pyarrow Tables, and
  ``drift(reference, current_df)`` with a ``Reference`` built beforehand (untimed; its
  build time is printed), which is what a monitor pays per evaluation.
- Evidently: ``Report([DataDriftPreset()]).run(current_data=..., reference_data=...)``
  (0.7 API; all defaults: test chosen per column, ``drift_share=0.5``), with the verdicts
  read from the snapshot; one run (it is slow), killed after ``--timeout`` seconds
  (default 600): then its time is reported as at least the timeout, and the speed ratio as
  a lower bound, and said so.

Peak memory: the worker reads its resident size after loading (``VmRSS``), resets the
kernel's high-water mark (``/proc/self/clear_refs``), runs, and reports the high-water mark
(``VmHWM``) minus that baseline: the extra memory drift detection needed at its peak. When
Evidently is killed, the peak is the largest resident size sampled every 0.1 s from this
process (psutil) minus its baseline: a lower bound.

Agreement: the share of the 25 columns on which keel and Evidently give the same verdict
(goal: 100 %); both tools' flagged columns are printed beside the planted truth.

Sketches (context rows for the issue's question "adopt Apache DataSketches where it is as
fast or faster"): keel's hand-written sketches in ``keel.data._sketches`` against
``datasketches`` (installed with keel's dev tools), on ``--sketch-rows`` values (default
1,000,000), median of 3, in a fresh keel process: a KLL quantile sketch fed a float64
array (keel ``k=400``, DataSketches ``k=200``, its default; the measured largest rank
error of 99 quantiles is in the note), a HyperLogLog distinct count of float64 values
(keel hashes the array; DataSketches' ``hll_sketch`` takes one value per call), and
frequent items of a 10-category string column (both fed Arrow's ``value_counts``, which
the timing includes; DataSketches per value is in the note). ``ratio`` is DataSketches'
time / keel's: below 1, DataSketches is faster.

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "drift", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": ..., "ratio": ..., "goal": ...}, ...]}

Goals (issue #13): the same verdicts as Evidently (100 %), >= 50x faster at both sizes,
at most a third of its peak memory (ratio >= 3).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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
    print_json,
    result_json,
    rich_table,
    run_line,
    stdout_console,
    verdict,
    warn_if_busy,
)

EVIDENTLY_VENV = VENVS / "evidently"
# Evidently 0.7.23 imports pandas.core.dtypes.common.infer_dtype_from_object, gone in pandas 3
EVIDENTLY_PACKAGES = ["evidently", "pandas<3", "pyarrow"]
NUMERIC, SHIFTED, CATEGORICAL, CATEGORIES = 20, 5, 5, 10
GOAL_AGREEMENT, GOAL_SPEED, GOAL_MEMORY = 1.0, 50.0, 3.0
SAMPLE_EVERY_S = 0.1


# Data


def make_table(rows: int, seed: int, current: bool) -> pa.Table:
    """One table of the benchmark; ``current`` plants the drift."""
    rng = np.random.default_rng([seed, int(current)])
    columns: dict[str, np.ndarray] = {}
    for i in range(NUMERIC):
        mean, std = 10.0 * i, 1.0 + i / 4
        shift = 0.5 * std if current and i < SHIFTED else 0.0
        columns[f"num_{i}"] = rng.normal(mean + shift, std, rows)
    for i in range(CATEGORICAL):
        p = np.full(CATEGORIES, 1 / CATEGORIES)
        if current and i == 0:
            p = np.array([0.3, *[0.7 / (CATEGORIES - 1)] * (CATEGORIES - 1)])
        names = np.array([f"c{i}_v{k}" for k in range(CATEGORIES)], dtype=object)
        columns[f"cat_{i}"] = names[rng.choice(CATEGORIES, rows, p=p)]
    return pa.table(columns)


PLANTED = [f"num_{i}" for i in range(SHIFTED)] + ["cat_0"]
ALL_COLUMNS = [f"num_{i}" for i in range(NUMERIC)] + [f"cat_{i}" for i in range(CATEGORICAL)]


# Workers: one fresh process per (tool, size), in the tool's own interpreter

WORKER = r"""
import gc, json, sys, time

def status_mb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")

def reset_peak():
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")

def settle():
    gc.collect()
    import pyarrow
    pyarrow.default_memory_pool().release_unused()
    time.sleep(0.3)

def keel_tool(ref_path, cur_path):
    import pandas as pd, pyarrow.parquet as pq
    import keel
    from keel.monitoring import Reference, drift
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    def run():
        report = drift(ref, cur)
        return report.drifted_columns, {c.name: c.method for c in report.columns}
    def extras(repeat):
        out = {}
        ref_t, cur_t = pq.read_table(ref_path), pq.read_table(cur_path)
        drift(ref_t, cur_t)
        times = []
        for _ in range(repeat):
            start = time.perf_counter(); found = drift(ref_t, cur_t).drifted_columns
            times.append(time.perf_counter() - start)
        out["arrow_seconds"], out["arrow_drifted"] = times, found
        start = time.perf_counter(); reference = Reference.from_data(ref)
        out["reference_build_seconds"] = time.perf_counter() - start
        out["reference_bytes"] = len(reference.to_bytes())
        drift(reference, cur)
        times = []
        for _ in range(repeat):
            start = time.perf_counter(); found = drift(reference, cur).drifted_columns
            times.append(time.perf_counter() - start)
        out["stored_seconds"], out["stored_drifted"] = times, found
        return out
    return run, extras, {"keel": keel.__version__, "pandas": pd.__version__}

def evidently_tool(ref_path, cur_path):
    import pandas as pd
    import evidently
    from evidently import Report
    from evidently.presets import DataDriftPreset
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    def run():
        snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        return verdicts(snapshot.dict())
    return run, None, {"evidently": evidently.__version__, "pandas": pd.__version__}

def verdicts(data):
    # One ValueDrift metric per column (its score, method and threshold) and the preset's
    # DriftedColumnsCount, which the per-column verdicts read here must add up to.
    drifted, methods, count = [], {}, None
    for metric in data.get("metrics", []):
        config, value = metric.get("config", {}), metric.get("value")
        kind = config.get("type", "")
        if kind.endswith(":DriftedColumnsCount"):
            count = value["count"]
        elif kind.endswith(":ValueDrift"):
            column, method = config["column"], config["method"]
            methods[column] = method
            limit = config["threshold"]
            if "p_value" in method:
                hit = value <= limit if method.startswith("K-S") else value < limit
            else:
                hit = value >= limit
            if hit:
                drifted.append(column)
    if not methods or count is None or int(count) != len(drifted):
        found = json.dumps(data)[:2000]
        raise RuntimeError(f"could not read Evidently's verdicts ({count} drifted): " + found)
    return sorted(drifted), methods

def sketches(rows):
    import numpy as np, pyarrow as pa, pyarrow.compute as pc, datasketches as ds
    from keel.data._sketches import DistinctSketch, FrequentItems, QuantileSketch, hash_uint64
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, rows)
    names = np.array([f"category_{k}" for k in range(10)], dtype=object)
    strings = pa.array(names[rng.integers(0, 10, rows)])
    def timed(fn, repeat=3):
        fn(); times = []
        for _ in range(repeat):
            start = time.perf_counter(); out = fn(); times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2], out
    ranks = np.linspace(0.01, 0.99, 99)
    exact = np.sort(x)
    def rank_error(qs):
        return float(np.max(np.abs(np.searchsorted(exact, qs) / rows - ranks)))
    def keel_kll():
        s = QuantileSketch(400); s.update(x); return s
    def ds_kll():
        s = ds.kll_doubles_sketch(200); s.update(x); return s
    out = {}
    t, s = timed(keel_kll); out["kll"] = [t, rank_error(s.quantiles(list(ranks)))]
    t, s = timed(ds_kll); out["kll_ds"] = [t, rank_error(s.get_quantiles(ranks))]
    truth = len(np.unique(x))
    def keel_hll():
        s = DistinctSketch(14); s.update(hash_uint64(x)); return s.estimate()
    def ds_hll():
        s = ds.hll_sketch(14, ds.tgt_hll_type.HLL_8)
        for v in x.tolist():
            s.update(v)
        return s.get_estimate()
    t, e = timed(keel_hll); out["hll"] = [t, abs(e / truth - 1)]
    t, e = timed(ds_hll); out["hll_ds"] = [t, abs(e / truth - 1)]
    def keel_fi():
        vc = pc.value_counts(strings); f = FrequentItems(512)
        f.update(vc.field("values"), vc.field("counts").to_numpy()); return f.top(3)
    def ds_fi():
        vc = pc.value_counts(strings); f = ds.frequent_strings_sketch(10)
        for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
            f.update(v, c)
        return f.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_POSITIVES)[:3]
    def ds_fi_rows():
        f = ds.frequent_strings_sketch(10)
        for v in strings.to_pylist():
            f.update(v)
        return f.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_POSITIVES)[:3]
    t, top = timed(keel_fi); out["fi"] = [t, [v for v, _ in top]]
    t, top = timed(ds_fi); out["fi_ds"] = [t, [row[0] for row in top]]
    t, _ = timed(ds_fi_rows, repeat=1); out["fi_ds_rows"] = [t, None]
    from importlib.metadata import version
    out["datasketches"] = version("datasketches")
    return out

def main():
    config = json.loads(sys.argv[1])
    if config["tool"] == "sketches":
        print(json.dumps(sketches(config["rows"]))); return
    setup = {"keel": keel_tool, "evidently": evidently_tool}[config["tool"]]
    run, extras, versions = setup(config["ref"], config["cur"])
    settle()
    baseline = status_mb("VmRSS")
    with open(config["baseline_file"], "w") as fh:
        fh.write(str(baseline))
    reset_peak()
    if status_mb("VmHWM") > baseline + 1:
        raise RuntimeError("could not reset the peak resident size (/proc/self/clear_refs)")
    rounds = config["repeat"] + (1 if config["warmup"] else 0)
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        drifted, methods = run()
        elapsed = time.perf_counter() - start
        if i or not config["warmup"]:
            times.append(elapsed)
        print(f"{config['tool']}: {elapsed:.3f} s", file=sys.stderr, flush=True)
    peak = status_mb("VmHWM") - baseline
    out = {"seconds": times, "peak_mb": peak, "drifted": drifted, "methods": methods,
           "versions": versions}
    if extras:
        out |= extras(config["repeat"])
    print(json.dumps(out))

main()
"""


@dataclass
class Outcome:
    """What one worker reported, or that it ran out of time."""

    seconds: list[float]
    peak_mb: float
    drifted: list[str] | None
    finished: bool
    data: dict


def run_worker(
    python: Path, script: Path, work: Path, config: dict, timeout: float | None
) -> Outcome:
    """Run the worker; sample its RSS meanwhile, for a lower bound if it is killed."""
    import psutil

    baseline_file = work / f"baseline-{config['tool']}.txt"
    baseline_file.unlink(missing_ok=True)
    config = {**config, "baseline_file": str(baseline_file)}
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["PYTHONWARNINGS"] = "ignore"
    proc = subprocess.Popen(
        [str(python), str(script), json.dumps(config)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        process = psutil.Process(proc.pid)
        while not done.wait(SAMPLE_EVERY_S):
            try:
                peak[0] = max(peak[0], process.memory_info().rss / 2**20)
            except psutil.Error:
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        done.set()
        elapsed = time.monotonic() - start
        baseline = float(baseline_file.read_text()) if baseline_file.exists() else 0.0
        log.log(f"{config['tool']} did not finish in {timeout:.0f} s: killed")
        return Outcome([elapsed], max(0.0, peak[0] - baseline), None, False, {})
    finally:
        done.set()
    if proc.returncode != 0:
        raise RuntimeError(f"{config['tool']} worker failed:\n{stderr[-4000:]}")
    data = json.loads(stdout.strip().splitlines()[-1])
    return Outcome(
        data.get("seconds", []), data.get("peak_mb", 0.0), data.get("drifted"), True, data
    )


# Report


@dataclass
class Row:
    measure: str
    unit: str
    keel: float | None
    peer: float | None
    peer_name: str
    goal: float | None
    higher_is_better: bool = False
    note: str = ""
    lower_bound: bool = False

    @property
    def ratio(self) -> float | None:
        if self.keel is None or self.peer is None or not self.keel:
            return None
        return self.keel / self.peer if self.higher_is_better else self.peer / self.keel

    def cells(self) -> list[str]:
        ratio = self.ratio
        sign = ">= " if self.lower_bound else ""
        return [
            self.measure,
            self.unit,
            fmt(self.keel),
            self.peer_name,
            ("" if not self.lower_bound else ">= ") + fmt(self.peer),
            "-" if ratio is None else f"{sign}{ratio:,.2f}",
            "-" if self.goal is None else f">= {self.goal:g}",
            verdict(ratio, self.goal) + (" (lower bound)" if self.lower_bound and ratio else ""),
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


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


COLUMNS = ["measure", "unit", "keel", "peer", "peer value", "ratio", "goal", "verdict", "note"]
LEFT = {"measure", "unit", "peer", "verdict", "note"}


def size_rows(rows: int, k: Outcome, e: Outcome | None, timeout: float) -> list[Row]:
    """The rows of one table size."""
    label = f"{rows:,} rows x 25 columns"
    ks = median(k.seconds)
    extra = k.data
    out: list[Row] = []
    if e is not None:
        name = "Evidently `DataDriftPreset()`"
        if e.finished:
            same = sum((c in k.drifted) == (c in e.drifted) for c in ALL_COLUMNS)
            out.append(
                Row(
                    f"agreement with Evidently's verdicts, {label}",
                    "%",
                    100.0 * same / len(ALL_COLUMNS),
                    100.0,
                    name,
                    GOAL_AGREEMENT,
                    higher_is_better=True,
                    note=f"keel flags {k.drifted}; Evidently {e.drifted}",
                )
            )
        else:
            out.append(
                Row(
                    f"agreement with Evidently's verdicts, {label}",
                    "%",
                    None,
                    None,
                    name,
                    GOAL_AGREEMENT,
                    note=f"Evidently did not finish in {timeout:.0f} s",
                )
            )
        out.append(
            Row(
                f"drift of a pandas DataFrame, {label}",
                "s",
                ks,
                e.seconds[0],
                name,
                GOAL_SPEED,
                note="" if e.finished else f"Evidently killed after {timeout:.0f} s",
                lower_bound=not e.finished,
            )
        )
        out.append(
            Row(
                f"peak extra memory, {label}",
                "MB",
                k.peak_mb,
                e.peak_mb,
                name,
                GOAL_MEMORY,
                note="" if e.finished else "Evidently's: sampled until killed",
                lower_bound=not e.finished,
            )
        )
    if e is None:
        out.append(Row(f"drift of a pandas DataFrame, {label}", "s", ks, None, "-", None))
        out.append(Row(f"peak extra memory, {label}", "MB", k.peak_mb, None, "-", None))
    out.append(
        Row(
            f"drift of pyarrow Tables, {label}",
            "s",
            median(extra["arrow_seconds"]),
            ks,
            "keel on pandas",
            None,
            note=f"flags {extra['arrow_drifted']}",
        )
    )
    out.append(
        Row(
            f"drift against a stored Reference, {label}",
            "s",
            median(extra["stored_seconds"]),
            ks,
            "keel on pandas (reference table)",
            None,
            note=f"Reference built in {extra['reference_build_seconds']:.2f} s, "
            f"{extra['reference_bytes'] / 1e6:.2f} MB stored; flags {extra['stored_drifted']}",
        )
    )
    return out


def sketch_rows(data: dict, rows: int) -> list[Row]:
    peer = f"DataSketches {data['datasketches']}"
    kll, kll_ds = data["kll"], data["kll_ds"]
    hll, hll_ds = data["hll"], data["hll_ds"]
    fi, fi_ds = data["fi"], data["fi_ds"]
    return [
        Row(
            f"quantile sketch (KLL), {rows:,} float64",
            "s",
            kll[0],
            kll_ds[0],
            f"{peer} `kll_doubles_sketch(200).update(ndarray)`",
            None,
            note=f"largest rank error of 99 quantiles: keel {kll[1]:.4f}, DataSketches "
            f"{kll_ds[1]:.4f}",
        ),
        Row(
            f"distinct count (HyperLogLog p=14), {rows:,} float64",
            "s",
            hll[0],
            hll_ds[0],
            f"{peer} `hll_sketch(14, HLL_8)`, one update per value",
            None,
            note=f"relative error: keel {hll[1]:.4f}, DataSketches {hll_ds[1]:.4f}",
        ),
        Row(
            f"frequent items, {rows:,} strings of 10 categories",
            "s",
            fi[0],
            fi_ds[0],
            f"{peer} `frequent_strings_sketch`, fed value_counts",
            None,
            note=f"same top 3: {fi[1] == fi_ds[1]}; DataSketches one update per row: "
            f"{data['fi_ds_rows'][0]:.2f} s",
        ),
    ]


# Main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="table sizes"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed keel runs (median)")
    parser.add_argument("--timeout", type=float, default=600.0, help="Evidently's time limit")
    parser.add_argument("--sketch-rows", type=int, default=1_000_000, help="values per sketch")
    parser.add_argument("--skip-peer", action="store_true", help="run keel alone")
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown")
    add_dir_option(parser)
    args = parser.parse_args(argv)

    warn_if_busy("other work will slow keel and Evidently unevenly")
    peer_python = None
    if not args.skip_peer:
        peer_python = ensure_venv(EVIDENTLY_VENV, "evidently", EVIDENTLY_PACKAGES)
    commit = keel_commit()
    start_load = Load.now()
    work = Path(tempfile.mkdtemp(prefix="keel-bench-drift-", dir=args.dir))
    log.log(f"working in {work}")
    rows_out: list[Row] = []
    versions: dict[str, str] = {}
    flagged: list[str] = []
    try:
        script = work / "worker.py"
        script.write_text(WORKER)
        for rows in args.rows:
            ref, cur = work / f"ref-{rows}.parquet", work / f"cur-{rows}.parquet"
            log.log(f"writing {rows:,}-row reference and current tables")
            pq.write_table(make_table(rows, 1, False), ref)
            pq.write_table(make_table(rows, 1, True), cur)
            config = {"ref": str(ref), "cur": str(cur), "repeat": args.repeat}
            log.log(f"keel, {rows:,} rows")
            k = run_worker(
                Path(sys.executable), script, work, {**config, "tool": "keel", "warmup": True}, None
            )
            versions |= k.data["versions"]
            flagged.append(f"{rows:,} rows: planted {PLANTED}; keel {k.drifted}")
            e = None
            if peer_python is not None:
                log.log(f"Evidently, {rows:,} rows (up to {args.timeout:.0f} s)")
                e = run_worker(
                    peer_python,
                    script,
                    work,
                    {**config, "tool": "evidently", "warmup": False, "repeat": 1},
                    args.timeout,
                )
                if e.finished:
                    versions |= {"evidently": e.data["versions"]["evidently"]}
                    versions["pandas (Evidently)"] = e.data["versions"]["pandas"]
                    methods = sorted(set(e.data["methods"].values()))
                    flagged[-1] += f"; Evidently {e.drifted} (its tests: {methods})"
                else:
                    flagged[-1] += f"; Evidently did not finish in {args.timeout:.0f} s"
            rows_out += size_rows(rows, k, e, args.timeout)
            ref.unlink()
            cur.unlink()
        log.log(f"sketches, {args.sketch_rows:,} values")
        sketch = run_worker(
            Path(sys.executable),
            script,
            work,
            {"tool": "sketches", "rows": args.sketch_rows},
            None,
        )
        rows_out += sketch_rows(sketch.data, args.sketch_rows)
        load_line = load_summary(start_load, Load.now()) + "."
    finally:
        shutil.rmtree(work, ignore_errors=True)
        log.log(f"removed {work}")

    lines = [
        run_line("drift"),
        f"machine: {cpus_and_ram()}; "
        + ", ".join(f"{key} {value}" for key, value in versions.items())
        + f"; keel {commit}",
        "data: per size a reference and a current table (20 normal float64 columns, 5 "
        "shifted by half a std; 5 string columns of 10 categories, 1 with its first "
        "category at 30 % instead of 10 %), seeded, read with pandas.read_parquet",
        f"method: a fresh process per tool and size; keel median of {args.repeat} after a "
        "warm-up, Evidently one run; peak = high-water mark of resident memory minus the "
        "baseline after loading",
        *flagged,
        "sketch rows: ratio = DataSketches time / keel time (below 1, DataSketches is "
        "faster: adopt it there)",
        load_line,
    ]
    cells = [r.cells() for r in rows_out]
    console = stdout_console(200)
    console.print(rich_table("keel drift against Evidently", COLUMNS, cells, LEFT))
    for line in lines:
        console.print(line)
    if args.markdown:
        args.markdown.write_text(markdown(COLUMNS, cells, LEFT, lines))
    print_json("drift", [r.to_json() for r in rows_out])
    return 0


if __name__ == "__main__":
    sys.exit(main())
