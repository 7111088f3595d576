"""Benchmark keel's dataset profile on a 10,000,000-row x 25-column table.

Run it from the repository root::

    .venv/bin/python benchmarks/profile.py                  # 10M rows, about 2 minutes
    .venv/bin/python benchmarks/profile.py --rows 1000000   # quick check

The table (seeded) has 20 numeric columns (10 float64 from several distributions, one
with 1 % NaN; 10 int64 from small to huge ranges) and 5 string columns of 50 categories
each (uniform to very skewed, one with 2 % nulls). It is written once as Parquet (snappy,
row groups of 1M rows) to ``--dir`` (default: ``keel-bench-profile`` in the system
temporary folder) and reused by later runs, as generating it takes longer than profiling
it; ``--clean`` removes it at the end.

Each run is a fresh Python process that reads the file with ``pyarrow.parquet.read_table``
and profiles the Arrow table with ``keel.data._profile.profile_table``; it reports the
wall time of each step (``time.perf_counter``), the process's peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, so it counts the table itself and the
interpreter) and the table's in-memory Arrow size (``Table.nbytes``). ``--repeat`` runs
(default 3) are made; the time is the median and the memory the largest peak. As a
reference without a goal, another fresh process reads the same file into pandas and times
``DataFrame.describe(include="all")`` (one run; ``--no-pandas`` skips it).

Goals, from the issue: profile the table in under 15 s on this 2-core machine, and keep
peak memory below 2x the table's in-memory size. The issue names no peer, so the peers are
the budgets: for time ``peer = 15`` s and ``ratio = 15 / keel seconds``; for memory
``peer = 2 x Table.nbytes`` and ``ratio = peer / keel peak``. Above 1, the goal is met.

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "profile", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": ..., "ratio": ..., "goal": ...}, ...]}
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from _common import (
    busy_seconds,
    cpus_and_ram,
    log,
    print_json,
    python_version,
    result_json,
    rich_table,
    stdout_console,
    warn_if_busy,
)

MB = 1_000_000
GROUP_ROWS = 1_000_000
BUDGET_SECONDS = 15.0
BUDGET_MEMORY_FACTOR = 2.0


# Data


def _categories(rng: np.random.Generator, n: int, column: int) -> pa.Array:
    """50 categories; column 0 uniform, later columns increasingly skewed (Zipf-like)."""
    names = pa.array([f"c{column}_value_{k:02d}" for k in range(50)])
    weights = 1.0 / np.arange(1, 51) ** (column * 0.5)
    codes = rng.choice(50, size=n, p=weights / weights.sum()).astype(np.int32)
    mask = rng.random(n) < 0.02 if column == 4 else None
    indices = pa.array(codes, mask=mask)
    return pa.DictionaryArray.from_arrays(indices, names).dictionary_decode()


def make_group(rng: np.random.Generator, n: int) -> pa.Table:
    """One row group of the benchmark table."""
    floats = [
        rng.normal(0, 1, n),
        rng.normal(100, 15, n),
        rng.lognormal(0, 1, n),
        rng.random(n),
        rng.exponential(2.0, n),
        np.where(rng.random(n) < 0.01, np.nan, rng.normal(5, 2, n)),
        rng.gamma(2.0, 2.0, n),
        rng.normal(0, 1e6, n),
        rng.uniform(-1000, 1000, n),
        rng.beta(2, 5, n),
    ]
    ints = [
        rng.integers(0, 10, n),
        rng.integers(0, 100, n),
        rng.integers(0, 1_000_000, n),
        rng.poisson(5, n),
        rng.integers(-(10**9), 10**9, n),
        rng.integers(18, 91, n),
        np.minimum(rng.zipf(1.5, n), 10**6),
        rng.integers(0, 2**40, n),
        rng.binomial(1000, 0.3, n),
        rng.integers(1_600_000_000, 1_700_000_000, n),
    ]
    columns = {f"f{i}": pa.array(v) for i, v in enumerate(floats)}
    columns |= {f"i{i}": pa.array(v.astype(np.int64)) for i, v in enumerate(ints)}
    columns |= {f"c{i}": _categories(rng, n, i) for i in range(5)}
    return pa.table(columns)


def ensure_data(path: Path, rows: int, seed: int = 0) -> None:
    """Write the table to ``path`` unless it is already there (written atomically)."""
    if path.exists():
        log.log(f"reusing {path}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    log.log(f"writing {rows:,} rows to {path}")
    writer = None
    try:
        for group, start in enumerate(range(0, rows, GROUP_ROWS)):
            rng = np.random.default_rng([seed, group])
            part = make_group(rng, min(GROUP_ROWS, rows - start))
            if writer is None:
                writer = pq.ParquetWriter(partial, part.schema, compression="snappy")
            writer.write_table(part, row_group_size=GROUP_ROWS)
    finally:
        if writer is not None:
            writer.close()
    partial.rename(path)


# One measured run, in a fresh process


def child(tool: str, path: Path) -> None:
    """Read ``path`` and profile it with ``tool``; print one JSON line of figures."""
    if tool == "keel":
        from keel.data._profile import profile_table
    else:
        import pandas  # noqa: F401  (imported before timing, as keel is)
    start = time.perf_counter()
    table = pq.read_table(path)
    nbytes = table.nbytes
    if tool == "pandas":
        frame = table.to_pandas()
        del table
    read = time.perf_counter() - start
    peak_read = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    cpu = time.process_time()
    start = time.perf_counter()
    if tool == "keel":
        profile = profile_table(table)
        assert profile.row_count == table.num_rows
    else:
        frame.describe(include="all")
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    figures = {"read": read, "seconds": seconds, "cpu": cpu, "peak": peak, "nbytes": nbytes}
    print(json.dumps(figures | {"peak_read": peak_read}))


def run_child(tool: str, path: Path) -> dict[str, float]:
    """One measured run in a fresh process, with the CPUs other processes used meanwhile."""
    busy, own, wall = busy_seconds(), os.times(), time.monotonic()
    done = subprocess.run(
        [sys.executable, __file__, "--child", tool, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    mine = os.times().children_user + os.times().children_system
    mine -= own.children_user + own.children_system
    others = (busy_seconds() - busy - mine) / (time.monotonic() - wall)
    return figures | {"others": max(0.0, others)}


# Report


def machine() -> str:
    import duckdb
    import pandas

    import keel

    return (
        f"{cpus_and_ram()}, Python {python_version()}, "
        f"numpy {np.__version__}, pyarrow {pa.__version__}, pandas {pandas.__version__}, "
        f"duckdb {duckdb.__version__}, keel {keel.__version__}"
    )


def result(
    measure: str, keel: float, peer: float, peer_name: str, unit: str, goal: float | None
) -> dict[str, object]:
    ratio = round(peer / keel, 3)
    return result_json(measure, round(keel, 3), round(peer, 3), peer_name, unit, ratio, goal)


COLUMNS = ("measure", "keel", "peer", "unit", "ratio", "goal", "verdict")


def cells(r: dict[str, object]) -> tuple[str, ...]:
    goal = r["goal"]
    verdict = "-" if goal is None else ("met" if r["ratio"] >= goal else "NOT met")
    return (
        str(r["measure"]),
        f"{r['keel']:,}",
        f"{r['peer_name']}: {r['peer']:,}",
        str(r["unit"]),
        f"{r['ratio']:.2f}",
        "-" if goal is None else f">= {goal:g}",
        verdict,
    )


def report(results: list[dict[str, object]], notes: list[str]) -> None:
    out = stdout_console(160)
    rows = (cells(r) for r in results)
    table = rich_table("keel dataset profile", COLUMNS, rows, left=("measure", "peer"))
    for note in notes:
        out.print(note)
    out.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the table")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "keel-bench-profile",
        help="folder holding the Parquet file, reused between runs (default: %(default)s)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured keel runs")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference")
    parser.add_argument("--clean", action="store_true", help="remove the data at the end")
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")

    warn_if_busy("other work slows the profile")
    path = args.dir / f"table-{args.rows}-rows-seed-0.parquet"
    try:
        ensure_data(path, args.rows)
        runs = []
        for i in range(args.repeat):
            log.log(f"keel run {i + 1} of {args.repeat}")
            runs.append(run_child("keel", path))
        pandas_run = None if args.no_pandas else run_child("pandas", path)
        parquet_mb = path.stat().st_size / MB
    finally:
        if args.clean:
            shutil.rmtree(args.dir, ignore_errors=True)

    seconds = statistics.median(r["seconds"] for r in runs)
    peak = max(r["peak"] for r in runs) / MB
    data_mb = runs[0]["nbytes"] / MB
    label = f"{args.rows:,} x 25"
    each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    others = ", ".join(f"{r['others']:.2f}" for r in runs)
    results = [
        result(f"profile {label} (s)", seconds, BUDGET_SECONDS, "budget", "s", 1.0),
        result(
            f"peak memory, read + profile {label} (MB)",
            peak,
            BUDGET_MEMORY_FACTOR * data_mb,
            "budget: 2x data",
            "MB",
            1.0,
        ),
    ]
    cpu = statistics.median(r["cpu"] for r in runs)
    cpus = os.cpu_count() or 1
    results.append(
        result(
            f"profile {label}, CPU time of all threads (s)",
            cpu,
            BUDGET_SECONDS * cpus,
            f"budget: 15 s x {cpus} CPUs",
            "CPU s",
            None,
        )
    )
    if pandas_run is not None:
        results.append(
            result(
                f"profile vs describe(include='all') {label} (s)",
                seconds,
                pandas_run["seconds"],
                "pandas describe",
                "s",
                None,
            )
        )
    notes = [
        f"machine: {machine()}",
        f"data: {path} ({parquet_mb:,.0f} MB Parquet), Arrow in memory "
        f"{data_mb:,.0f} MB; peak memory is the whole process (interpreter, table, profile)",
        f"keel runs (s): {each}; median taken. CPU time of the median run: "
        f"{statistics.median(r['cpu'] for r in runs):.2f} s (both threads). Reading the "
        f"Parquet file took {statistics.median(r['read'] for r in runs):.2f} s (not in the "
        "profile time) and peaked at "
        f"{max(r['peak_read'] for r in runs) / MB:,.0f} MB, before profiling began.",
        "load: other processes used "
        f"{others} of {cpus} CPUs on average during "
        f"the keel runs; load average at the end {os.getloadavg()[0]:.1f}",
    ]
    if pandas_run is not None:
        notes.append(
            f"pandas: describe(include='all') {pandas_run['seconds']:.2f} s "
            f"(CPU {pandas_run['cpu']:.2f} s) after "
            f"read_table + to_pandas {pandas_run['read']:.2f} s, "
            f"peak {pandas_run['peak'] / MB:,.0f} MB (reference, no goal)"
        )
    report(results, notes)
    print_json("profile", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
