"""Benchmark keel's data validation against pandera and Great Expectations.

Run it from the repository root (on a shared machine, behind the benchmark lock)::

    flock /tmp/keel-bench.lock .venv/bin/python benchmarks/validation.py   # full size
    .venv/bin/python benchmarks/validation.py --rows 100000 --repeat 3      # a quick check
    .venv/bin/python benchmarks/validation.py --skip-peers                  # keel alone

The peers are installed once, each into its own virtual environment (git-ignored), with
``python3 -m venv`` and pip: ``.bench-venvs/pandera`` (``pandera[pandas]``, ``pyarrow``)
and ``.bench-venvs/gx`` (``great_expectations``, ``pyarrow``), the latest releases; the
install is skipped when the package already imports there. Neither is a keel dependency.

Data: one seeded table of ``--rows`` rows (default 1,000,000) x 25 columns: 15 float64
columns (uniform, normal, lognormal, exponential, beta, clipped to known bounds), 5 int64
columns and 5 string columns of 5 to 50 categories; and a copy of it with violations
planted in several columns (nulls in 3 float and 2 string columns, values outside the range
in 3 numeric columns, unknown categories in 2 string columns, one float column stored as
float32: a wrong dtype). Both are written once as Parquet files in a fresh folder under
``--dir``, removed at the end. The planted counts are known, so every tool's answer is
checked against the truth, not only against the others'.

Checks, the same in every tool, for each of the 25 columns: dtype, not null, and a range
(numbers, inclusive) or an allowed set (strings): 75 checks.

- keel: ``keel.validate(data, Schema([...]), record=False)`` with ``checks.dtype``,
  ``checks.not_null``, ``checks.in_range``, ``checks.in_set``.
- pandera: ``DataFrameSchema({col: Column(dtype, nullable=False, checks=[Check.in_range]
  or [Check.isin])})``, ``schema.validate(df, lazy=True)`` so that every failure is
  collected (failing rows counted from ``SchemaErrors.failure_cases``).
- Great Expectations (1.x API): an ephemeral context, a pandas data source with a
  dataframe asset and a whole-dataframe batch definition, one expectation suite with
  ``expect_column_values_to_be_of_type`` / ``_to_not_be_null`` / ``_to_be_between`` /
  ``_to_be_in_set``, ``batch.validate(suite, result_format="BASIC")`` (counts the failing
  rows, as keel and pandera do, with a few examples); progress bars off.

Method: every (tool, table) pair runs in its own fresh subprocess (the tool's own
interpreter, a worker script written to the work folder). The worker imports its tool,
reads the Parquet file into the tool's natural in-memory form (pandas ``read_parquet`` for
pandera and GE; for keel a pyarrow ``read_table``, and, in a second process, the same
pandas DataFrame the peers get, so the conversion to Arrow is inside keel's time), builds
the schema, then validates once untimed (warm-up) and ``--repeat`` times (default 5) timed
with ``time.perf_counter``; the figure is the **median** (the notes also give the median
CPU time of all the worker's threads: keel runs its column checks on a thread per CPU, the
peers on one thread). Only validation is timed:
imports, reading and building the schema are not. Peak memory: the worker reads its
resident size (``VmRSS``) after loading and building the schema (and after handing the
pages Arrow's allocator freed while reading back to the system), resets the kernel's
high-water mark of its resident size (``/proc/self/clear_refs``), validates (warm-up and
repeats), and reports the high-water mark (``VmHWM``, what ``ru_maxrss`` reads) minus that
baseline: the extra memory validation needed at its peak, by one method for all tools.
``ru_maxrss`` itself is not used: a process started by ``subprocess`` (vfork + exec)
inherits its parent's peak there, which clear_refs does not reset, and the parent, which
generated the table, peaks higher than any worker. Tools run in turns (keel Arrow,
keel pandas, pandera, GE) for the clean table, then for the planted one.

Every tool must reach the same verdict (clean: pass, planted: fail) and the same result
for every check, with the same number of failing rows for each not-null, range and set
check (the dtype checks count no rows); otherwise the benchmark stops with the differences.

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "validation", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": ..., "ratio": ..., "goal": ...}, ...]}

``ratio`` is how many times better keel is: peer seconds / keel seconds, and peer peak /
keel peak for memory. Goals (issue #5): >= 10x faster than GE, >= 3x faster than pandera,
peak memory no more than either (ratio >= 1); they apply to keel on Arrow and on pandas.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from _common import (
    VENVS,
    Load,
    cpus_and_ram,
    ensure_venv,
    git_changes,
    git_head,
    log,
    markdown,
    print_json,
    python_version,
    result_json,
    rich_table,
    stdout_console,
    verdict,
)

PEERS = {
    "pandera": (VENVS / "pandera", ["pandera[pandas]", "pyarrow"], "pandera.pandas"),
    "gx": (VENVS / "gx", ["great_expectations", "pyarrow"], "great_expectations"),
}
PEER_NAMES = {"pandera": "pandera", "gx": "Great Expectations"}
GOALS = {"gx": 10.0, "pandera": 3.0}
MEMORY_GOAL = 1.0


# Data


@dataclass(frozen=True)
class Column:
    """One column of the table and its checks."""

    name: str
    dtype: str  # double | int64 | string
    low: float | None = None
    high: float | None = None
    values: tuple[str, ...] = ()

    def spec(self) -> dict[str, object]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "low": self.low,
            "high": self.high,
            "values": list(self.values),
        }


def make_columns() -> list[Column]:
    floats = [
        Column(f"f{i:02d}", "double", *FLOAT_BOUNDS[i % len(FLOAT_BOUNDS)]) for i in range(15)
    ]
    ints = [Column(f"i{i}", "int64", 0, 10 ** (i + 1)) for i in range(5)]
    cats = [
        Column(f"c{i}", "string", values=tuple(f"{p}{j:02d}" for j in range(k)))
        for i, (p, k) in enumerate([("a", 5), ("b", 10), ("c", 20), ("d", 30), ("e", 50)])
    ]
    return floats + ints + cats


# (low, high) of each kind of float column, in the order make_float draws them
FLOAT_BOUNDS = [(0.0, 100.0), (-60.0, 60.0), (0.0, 1000.0), (0.0, 50.0), (0.0, 1.0)]


def make_float(rng: np.random.Generator, kind: int, n: int) -> np.ndarray:
    if kind == 0:
        values = rng.uniform(0.0, 100.0, n)
    elif kind == 1:
        values = rng.normal(0.0, 10.0, n)
    elif kind == 2:
        values = rng.lognormal(2.0, 1.0, n)
    elif kind == 3:
        values = rng.exponential(5.0, n)
    else:
        values = rng.beta(2.0, 5.0, n)
    low, high = FLOAT_BOUNDS[kind]
    return np.clip(values, low, high)


def make_clean(columns: Sequence[Column], rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    arrays = {}
    for i, col in enumerate(columns):
        if col.dtype == "double":
            arrays[col.name] = pa.array(make_float(rng, i % len(FLOAT_BOUNDS), rows))
        elif col.dtype == "int64":
            arrays[col.name] = pa.array(rng.integers(0, int(col.high) + 1, rows, dtype=np.int64))
        else:
            # skewed categories: a Zipf-like weight per category
            weights = 1.0 / np.arange(1, len(col.values) + 1)
            codes = rng.choice(len(col.values), rows, p=weights / weights.sum())
            arrays[col.name] = pa.array(np.array(col.values, dtype=object)[codes], pa.string())
    return pa.table(arrays)


# What is planted in the second table: (column, kind, rows). "null" empties rows,
# "high"/"low" puts values outside the range, "unknown" writes a category not in the set,
# "float32" stores the column with the wrong dtype. Planted rows never overlap in a column.
PLANTS = [
    ("f00", "null", 1000),
    ("f01", "high", 2000),
    ("f02", "null", 500),
    ("f02", "low", 700),
    ("f05", "null", 1),
    ("f06", "high", 1),
    ("i1", "high", 300),
    ("i3", "low", 50),
    ("c0", "unknown", 1500),
    ("c1", "null", 400),
    ("c2", "null", 250),
    ("c2", "unknown", 600),
    ("f14", "float32", 0),
]


def plant(
    table: pa.Table, columns: Sequence[Column], seed: int
) -> tuple[pa.Table, dict[str, int | None]]:
    """The table with PLANTS applied, and the expected failing rows of every check."""
    rng = np.random.default_rng(seed + 1)
    rows = table.num_rows
    by_name = {c.name: c for c in columns}
    expected: dict[str, int | None] = {}
    for col in columns:
        expected[f"dtype({col.name})"] = None  # passes; no rows counted
        expected[f"not_null({col.name})"] = 0
        expected[f"{'in_set' if col.dtype == 'string' else 'in_range'}({col.name})"] = 0
    free = {c.name: rng.permutation(rows) for c in columns}  # rows not used yet, per column
    used = dict.fromkeys(free, 0)
    for name, kind, count in PLANTS:
        col = by_name[name]
        index = table.column_names.index(name)
        if kind == "float32":
            array = table.column(name).cast(pa.float32())
            table = table.set_column(index, name, array)
            expected[f"dtype({name})"] = -1  # fails; no rows counted
            continue
        count = min(count, rows - used[name])
        picked = np.sort(free[name][used[name] : used[name] + count])
        used[name] += count
        mask = np.zeros(rows, dtype=bool)
        mask[picked] = True
        array = table.column(name).combine_chunks()
        if kind == "null":
            array = pa.array(array.to_numpy(zero_copy_only=False), mask=mask, type=array.type)
            expected[f"not_null({name})"] += count
        elif kind in ("high", "low"):
            values = array.to_numpy(zero_copy_only=False).copy()
            span = col.high - col.low
            values[mask] = col.high + span / 2 if kind == "high" else col.low - span / 2
            array = pa.array(
                values, type=array.type, mask=~array.is_valid().to_numpy(zero_copy_only=False)
            )
            expected[f"in_range({name})"] += count
        else:  # unknown category
            values = np.array(array.to_pylist(), dtype=object)
            values[mask] = "UNKNOWN"
            array = pa.array(values, pa.string())
            expected[f"in_set({name})"] += count
        table = table.set_column(index, name, array)
    return table, expected


# Workers: one process per (tool, table), in the tool's own interpreter

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


def keel_setup(path, spec, form):
    import keel
    from keel.validation import Schema, checks, validate
    types = {"double": "double", "int64": "int64", "string": "string"}
    made = []
    for c in spec:
        made += [checks.dtype(c["name"], types[c["dtype"]]), checks.not_null(c["name"])]
        if c["dtype"] == "string":
            made.append(checks.in_set(c["name"], c["values"]))
        else:
            made.append(checks.in_range(c["name"], c["low"], c["high"]))
    schema = Schema(made)
    if form == "arrow":
        import pyarrow.parquet as pq
        data = pq.read_table(path)
        size = data.nbytes
    else:
        import pandas as pd
        data = pd.read_parquet(path)
        size = int(data.memory_usage(deep=True).sum())

    def run():
        report = validate(data, schema, record=False)
        found = {}
        for r in report.results:
            if r.kind == "dtype":
                found[r.name] = None if r.passed else -1
            else:
                found[r.name] = r.failing_rows or 0
        return report.passed, found
    return run, size, {"keel": keel.__version__}

def pandera_setup(path, spec, form):
    import pandas as pd
    import pandera
    import pandera.pandas as pa
    types = {"double": "float64", "int64": "int64", "string": "str"}
    columns = {}
    for c in spec:
        if c["dtype"] == "string":
            check = pa.Check.isin(c["values"])
        else:
            check = pa.Check.in_range(c["low"], c["high"])
        columns[c["name"]] = pa.Column(types[c["dtype"]], nullable=False, checks=[check])
    schema = pa.DataFrameSchema(columns)
    data = pd.read_parquet(path)
    size = int(data.memory_usage(deep=True).sum())
    kinds = {c["name"]: "in_set" if c["dtype"] == "string" else "in_range" for c in spec}

    def run():
        found = {}
        for c in spec:
            found[f"dtype({c['name']})"] = None
            found[f"not_null({c['name']})"] = 0
            found[f"{kinds[c['name']]}({c['name']})"] = 0
        try:
            schema.validate(data, lazy=True)
            return True, found
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
        for (column, check), n in cases.groupby(["column", "check"]).size().items():
            if check.startswith("dtype"):
                found[f"dtype({column})"] = -1
            elif check == "not_nullable":
                found[f"not_null({column})"] = int(n)
            elif check.startswith(("in_range", "isin")):
                found[f"{kinds[column]}({column})"] = int(n)
            else:
                found[f"{check}({column})"] = int(n)
        return False, found
    return run, size, {"pandera": pandera.__version__, "pandas": pd.__version__}

def gx_setup(path, spec, form):
    import pandas as pd
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig
    types = {"double": "float64", "int64": "int64", "string": "str"}
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset(name="table")
    definition = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name="bench"))
    for c in spec:
        name = c["name"]
        add = suite.add_expectation
        add(gxe.ExpectColumnValuesToBeOfType(column=name, type_=types[c["dtype"]]))
        add(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if c["dtype"] == "string":
            add(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=c["values"]))
        else:
            low, high = c["low"], c["high"]
            add(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=low, max_value=high))
    data = pd.read_parquet(path)
    size = int(data.memory_usage(deep=True).sum())
    batch = definition.get_batch(batch_parameters={"dataframe": data})
    names = {
        "expect_column_values_to_be_of_type": "dtype",
        "expect_column_values_to_not_be_null": "not_null",
        "expect_column_values_to_be_between": "in_range",
        "expect_column_values_to_be_in_set": "in_set",
    }

    def run():
        result = batch.validate(suite, result_format="BASIC")
        found = {}
        for r in result.results:
            config = r.expectation_config
            kind = names[config.type]
            key = f"{kind}({config.kwargs['column']})"
            if r.exception_info and r.exception_info.get("raised_exception"):
                raise RuntimeError(f"GE raised on {key}: {r.exception_info}")
            if kind == "dtype":
                found[key] = None if r.success else -1
            else:
                found[key] = int(r.result.get("unexpected_count") or 0)
        return bool(result.success), found
    return run, size, {"great_expectations": gx.__version__, "pandas": pd.__version__}

def main():
    config = json.loads(sys.argv[1])
    setup = {"keel": keel_setup, "pandera": pandera_setup, "gx": gx_setup}[config["tool"]]
    run, size, versions = setup(config["path"], config["spec"], config["form"])
    gc.collect()
    import pyarrow  # every tool read the file through it: hand its freed pages back first

    pyarrow.default_memory_pool().release_unused()
    time.sleep(0.5)
    baseline = status_mb("VmRSS")
    reset_peak()
    if status_mb("VmHWM") > baseline + 1:
        raise RuntimeError("could not reset the peak resident size (/proc/self/clear_refs)")
    times, cpu = [], []
    for i in range(config["repeat"] + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        passed, found = run()
        elapsed = time.perf_counter() - start
        if i:
            times.append(elapsed)
            cpu.append(time.process_time() - start_cpu)
        print(f"{config['tool']}/{config['form']} {config['table']}: {elapsed:.3f} s"
              f"{'' if i else ' (warm-up)'}", file=sys.stderr, flush=True)
    out = {"passed": passed, "checks": found, "seconds": times, "cpu_seconds": cpu,
           "baseline_mb": baseline, "peak_mb": status_mb("VmHWM") - baseline,
           "data_mb": size / 1e6, "versions": versions}
    print(json.dumps(out))

main()
"""


def ensure_peer(tool: str) -> Path:
    venv, packages, module = PEERS[tool]
    return ensure_venv(venv, module, packages)


@dataclass
class Outcome:
    tool: str
    form: str
    table: str
    passed: bool
    checks: dict[str, int | None]
    seconds: list[float]
    cpu_seconds: list[float]  # CPU time of the worker's threads during each timed run
    peak_mb: float
    baseline_mb: float
    data_mb: float
    versions: dict[str, str]
    others: float  # CPUs other processes used while it ran

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def label(self) -> str:
        if self.tool == "keel":
            return f"keel ({'Arrow table' if self.form == 'arrow' else 'pandas DataFrame'})"
        return PEER_NAMES[self.tool]


def run_worker(
    python: Path, script: Path, tool: str, form: str, table: str, path: Path, spec, repeat: int
) -> Outcome:
    config = {"tool": tool, "form": form, "table": table, "path": str(path), "spec": spec}
    config["repeat"] = repeat
    env = {**os.environ, "PYTHONHASHSEED": "0", "KEEL_HOME": str(script.parent / "keel-home")}
    start = Load.now()
    proc = subprocess.run(
        [python, script, json.dumps(config)],
        cwd=script.parent,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    others = Load.now().others(start)
    if proc.returncode != 0:
        raise RuntimeError(f"{tool}/{form} on the {table} table failed (exit {proc.returncode})")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return Outcome(tool, form, table, others=others, **data)


# Agreement


def check_agreement(
    outcomes: Sequence[Outcome], expected: dict[str, int | None], table: str
) -> None:
    """Stop unless every tool gave the planted truth for every check, and the verdict."""
    want_pass = table == "clean"
    problems = []
    for o in outcomes:
        if o.passed != want_pass:
            problems.append(f"{o.label}: verdict {'pass' if o.passed else 'fail'}")
        for name, want in expected.items():
            got = o.checks.get(name, "missing")
            if got != want:
                problems.append(f"{o.label}: {name} = {got}, planted {want}")
        extra = sorted(set(o.checks) - set(expected))
        if extra:
            problems.append(f"{o.label}: unexpected checks {extra}")
    if problems:
        raise SystemExit(
            f"The tools disagree on the {table} table (-1 = dtype check failed, None = "
            "passed, numbers = failing rows):\n  " + "\n  ".join(problems)
        )
    failing = {k: v for k, v in expected.items() if v}
    log.log(
        f"{table} table: all {len(outcomes)} agree: {'pass' if want_pass else 'fail'}"
        + (f", failing checks {failing}" if failing else "")
    )


# Report


@dataclass
class Result:
    measure: str
    unit: str
    keel: float
    peer: float
    peer_name: str
    goal: float | None

    @property
    def ratio(self) -> float:
        return self.peer / self.keel if self.keel > 0 else float("inf")

    @property
    def verdict(self) -> str:
        return verdict(self.ratio, self.goal)

    def to_json(self) -> dict[str, object]:
        keel, peer, ratio = round(self.keel, 4), round(self.peer, 4), round(self.ratio, 3)
        return result_json(self.measure, keel, peer, self.peer_name, self.unit, ratio, self.goal)


def build_results(outcomes: Sequence[Outcome], rows: int) -> list[Result]:
    size = f"{rows:,} x 25"
    results = []
    for table in ("clean", "planted"):
        mine = [o for o in outcomes if o.table == table]
        keels = [o for o in mine if o.tool == "keel"]
        peers = [o for o in mine if o.tool != "keel"]
        for k in keels:
            for p in peers:
                results.append(
                    Result(
                        f"validate {size}, {table}, {k.label}",
                        "s",
                        k.median,
                        p.median,
                        p.label,
                        GOALS[p.tool],
                    )
                )
        for k in keels:
            for p in peers:
                results.append(
                    Result(
                        f"peak memory of validation, {table}, {k.label}",
                        "MB",
                        k.peak_mb,
                        p.peak_mb,
                        p.label,
                        MEMORY_GOAL,
                    )
                )
    return results


COLUMNS = ("measure", "unit", "keel", "peer", "peer figure", "ratio", "goal", "verdict")


def cells(r: Result) -> tuple[str, ...]:
    fmt = "{:,.3f}" if r.unit == "s" else "{:,.1f}"
    return (
        r.measure,
        r.unit,
        fmt.format(r.keel),
        r.peer_name,
        fmt.format(r.peer),
        f"{r.ratio:,.2f}",
        "-" if r.goal is None else f">= {r.goal:g}",
        r.verdict,
    )


def keel_commit() -> str:
    head = git_head()
    dirty = git_changes("src/keel/validation", "benchmarks/validation.py")
    if head is None or dirty is None:
        return "unknown"
    if not dirty:
        return head
    paths = sorted(line[3:] for line in dirty)
    return f"{head} + uncommitted changes in {', '.join(paths)}"


def notes(outcomes: Sequence[Outcome], args, loads: tuple, data_mb: float) -> list[str]:
    versions: dict[str, str] = {}
    for o in outcomes:
        versions.update(o.versions)
    when = datetime.now(UTC).isoformat(sep=" ", timespec="minutes")
    lines = [
        f"run finished {when}; keel commit {keel_commit()}",
        f"machine: {cpus_and_ram()}, Python "
        f"{python_version()}, pyarrow {pa.__version__}, numpy {np.__version__}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        f"data: {args.rows:,} rows x 25 columns (15 float64, 5 int64, 5 string), seed "
        f"{args.seed}; Parquet {data_mb:,.0f} MB; 75 checks",
        f"load average (1, 5, 15 min): start {loads[0]}, end {loads[1]}",
    ]
    for o in outcomes:
        lines.append(
            f"  {o.label:<28} {o.table:<7} median {o.median:8.3f} s of {len(o.seconds)} "
            f"(min {min(o.seconds):.3f}, max {max(o.seconds):.3f}), CPU "
            f"{statistics.median(o.cpu_seconds):.3f} s, peak +{o.peak_mb:,.0f} MB "
            f"over {o.baseline_mb:,.0f} MB (data {o.data_mb:,.0f} MB in memory); other "
            f"processes used {o.others:.2f} CPUs"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs after a warm-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None, help="where the work folder goes")
    parser.add_argument("--skip-peers", action="store_true", help="keel alone")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    args = parser.parse_args(argv)

    pythons = {"keel": Path(sys.executable)}
    if not args.skip_peers:
        for tool in PEERS:
            pythons[tool] = ensure_peer(tool)
    loads_start = tuple(round(x, 2) for x in os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="keel-bench-validation-", dir=args.dir))
    try:
        columns = make_columns()
        spec = [c.spec() for c in columns]
        log.log(f"generating {args.rows:,} x {len(columns)} (seed {args.seed}) in {work}")
        clean = make_clean(columns, args.rows, args.seed)
        planted, expected_planted = plant(clean, columns, args.seed)
        paths = {"clean": work / "clean.parquet", "planted": work / "planted.parquet"}
        pq.write_table(clean, paths["clean"])
        pq.write_table(planted, paths["planted"])
        data_mb = paths["clean"].stat().st_size / 1e6
        del clean, planted
        expected = {
            "clean": {k: (None if k.startswith("dtype") else 0) for k in expected_planted},
            "planted": expected_planted,
        }
        script = work / "worker.py"
        script.write_text(WORKER)
        runs = [("keel", "arrow"), ("keel", "pandas")]
        runs += [(tool, "pandas") for tool in PEERS if tool in pythons]
        outcomes = []
        for table in ("clean", "planted"):
            mine = []
            for tool, form in runs:
                log.log(f"{tool} ({form}) on the {table} table")
                mine.append(
                    run_worker(
                        pythons[tool], script, tool, form, table, paths[table], spec, args.repeat
                    )
                )
            check_agreement(mine, expected[table], table)
            outcomes += mine
    finally:
        shutil.rmtree(work, ignore_errors=True)
    loads_end = tuple(round(x, 2) for x in os.getloadavg())

    results = build_results(outcomes, args.rows) if not args.skip_peers else []
    lines = notes(outcomes, args, (loads_start, loads_end), data_mb)
    out = stdout_console(200)
    for line in lines:
        out.print(line, markup=False)
    if results:
        title = "keel validation vs pandera and Great Expectations"
        rows = (cells(r) for r in results)
        out.print(rich_table(title, COLUMNS, rows, left=("measure", "unit", "peer")))
    if args.markdown:
        rows = [cells(r) for r in results]
        left = ("measure", "unit", "peer", "verdict")
        args.markdown.write_text(markdown(COLUMNS, rows, left, lines))
    print_json("validation", [r.to_json() for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
