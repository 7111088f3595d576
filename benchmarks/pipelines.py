"""Benchmark keel's pipeline orchestration against Prefect's local flows.

Run it from the repository root::

    flock /tmp/keel-bench.lock .venv/bin/python benchmarks/pipelines.py   # full size
    .venv/bin/python benchmarks/pipelines.py --quick          # 10 steps, 1 round (a check)
    .venv/bin/python benchmarks/pipelines.py --skip-prefect   # keel alone (no peer, no ratio)
    .venv/bin/python benchmarks/pipelines.py --skip-ray       # without keel on Ray

Prefect (the latest release) is installed once into its own virtual environment,
``.bench-venvs/prefect`` (git-ignored), with ``python3 -m venv`` and ``pip install prefect``;
the install is skipped when ``prefect`` already imports there. ``--quick`` never installs
it: it uses Prefect only if that environment already exists.

Every measurement runs in a child process (a script written to the work folder) that
prints its timings as a JSON object on its last line: keel with this interpreter over a
fresh SQLite store (``keel.store.init_project``), Prefect with its venv's interpreter and
its ephemeral local server (``PREFECT_HOME`` in the work folder, so no state is shared
with a user's Prefect).

Measures, as issue 14 lists them:

(a) orchestration overhead per step: a chain of ``--steps`` (100) trivial steps, each
    adding one to its input (so every step depends on the one before). keel runs it with
    the cache off (``cache=False``: every step runs, records its start and end, and
    materialises its output as a JSON object), with the local executor and with Ray (each
    step a Ray task on a local ``ray.init(num_cpus=2)``, started before timing); Prefect
    as a ``@flow`` calling ``@task``s with its default task runner. One untimed warm-up
    run, then ``--repeat`` timed runs in the same process; the figure is the median run
    time divided by the steps (the steps' bodies take microseconds). Goal: keel local
    below 3 ms a step and >= 10x lower than Prefect's.
(b) a fully cached re-run of a 10-step chain: keel with its cache (code, params, inputs),
    Prefect with ``cache_policy=INPUTS + TASK_SOURCE`` and ``persist_result=True``; one run
    to fill the cache, then ``--repeat`` timed re-runs. Goal: keel >= 10x faster.
(c) a first run in a fresh process: the wall time of a new interpreter that imports the
    tool, defines a 10-step pipeline and runs it once on a fresh store (keel) or a fresh
    ``PREFECT_HOME`` (Prefect), until the process exits; keel's project is made first,
    untimed, as ``keel init`` would have. Goal: keel under 1 s (the row
    shows the 1 s budget as its peer), Prefect shown for context.

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "pipelines", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": ..., "ratio": ..., "goal": ...}, ...]}

``ratio`` is peer / keel (seconds: above 1, keel is faster); ``goal`` is the ratio the
issue asks for, or null for context rows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _common import (
    VENVS,
    Load,
    add_dir_option,
    bench_lock,
    cpus_and_ram,
    ensure_venv,
    keel_commit,
    load_summary,
    log,
    median,
    print_json,
    python_version,
    result_json,
    rich_table,
    run_line,
    stdout_console,
    verdict,
    warn_if_busy,
)

PREFECT_VENV = VENVS / "prefect"

KEEL_CHILD = r"""
import json, os, sys, time
mode, steps, repeat, executor = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t0 = time.perf_counter()
import keel

if mode != "first":  # a first run finds the project "keel init" made (untimed)
    from keel.store import init_project

    init_project(os.getcwd()).close()

@keel.step
def inc(x: int) -> int:
    return x + 1

@keel.pipeline(name=f"chain")
def chain(start: int = 0):
    h = inc(start)
    for _ in range(steps - 1):
        h = inc(h)
    return h

if __name__ == "__main__":
    if mode == "first":
        run = chain.run()
        assert run.output == steps, run
        print(json.dumps({"seconds": [time.perf_counter() - t0]}))
        sys.exit(0)
    if executor == "ray":
        import ray
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    cache = mode == "cached"
    run = chain.run(executor=executor, cache=cache)  # warm-up (and, cached, fills the cache)
    assert run.output == steps and run.status == "succeeded", run
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        run = chain.run(executor=executor, cache=cache)
        seconds.append(time.perf_counter() - start)
        assert run.output == steps, run
        assert all(bool(s["cached_from"]) == cache for s in run.steps)
    print(json.dumps({"seconds": seconds}))
"""

PREFECT_CHILD = r"""
import json, os, sys, time
mode, steps, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE

if mode == "cached":
    @task(cache_policy=INPUTS + TASK_SOURCE, persist_result=True)
    def inc(x: int) -> int:
        return x + 1
else:  # Prefect's defaults, as a user writes a task
    @task
    def inc(x: int) -> int:
        return x + 1

@flow(name="chain")
def chain(start: int = 0):
    h = inc(start)
    for _ in range(steps - 1):
        h = inc(h)
    return h

if __name__ == "__main__":
    if mode == "first":
        assert chain() == steps
        print(json.dumps({"seconds": [time.perf_counter() - t0]}))
        sys.exit(0)
    assert chain() == steps  # warm-up (and, cached, fills the cache)
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        assert chain() == steps
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds}))
"""


def child(python: Path, script: Path, work: Path, env: dict[str, str], *args: str) -> list[float]:
    """Run ``script args`` in a fresh folder under ``work``; the seconds it printed."""
    folder = Path(tempfile.mkdtemp(dir=work))
    done = subprocess.run(
        [str(python), str(script), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def fresh_process(
    python: Path, script: Path, work: Path, env: dict[str, str], steps: int, *, keel: bool
) -> float:
    """Wall time of a new interpreter running ``script first``, launch to exit (for keel,
    in a project made beforehand, untimed, as ``keel init`` would)."""
    folder = Path(tempfile.mkdtemp(dir=work))
    if keel:
        subprocess.run(
            [str(python), "-c", "from keel.store import init_project; init_project('.').close()"],
            cwd=folder,
            env=env,
            check=True,
        )
    start = time.perf_counter()
    done = subprocess.run(
        [str(python), str(script), "first", str(steps), "1", "local"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} first failed:\n{done.stderr[-3000:]}")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dir_option(parser)
    parser.add_argument("--quick", action="store_true", help="10 steps, 1 round: a check")
    parser.add_argument("--steps", type=int, default=100, help="steps of the chain in (a)")
    parser.add_argument("--repeat", type=int, help="timed rounds (default 5; 1 with --quick)")
    parser.add_argument("--skip-prefect", action="store_true", help="keel alone: no peer")
    parser.add_argument("--skip-ray", action="store_true", help="leave out keel on Ray")
    parser.add_argument("--prefect-venv", type=Path, default=PREFECT_VENV)
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 5)
    steps = 10 if args.quick else args.steps
    if repeat < 1 or steps < 2:
        parser.error("--repeat must be at least 1 and --steps at least 2")

    prefect = None
    if not args.skip_prefect:
        installed = (args.prefect_venv / "bin" / "python").exists()
        if args.quick and not installed:
            log.log("--quick: Prefect is not installed yet, so it is left out")
        else:
            args.prefect_venv.parent.mkdir(parents=True, exist_ok=True)
            prefect = ensure_venv(args.prefect_venv, "prefect", ["prefect"])

    work = Path(tempfile.mkdtemp(prefix="keel-bench-pipelines-", dir=args.dir))
    keel_script, prefect_script = work / "keel_child.py", work / "prefect_child.py"
    keel_script.write_text(KEEL_CHILD)
    prefect_script.write_text(PREFECT_CHILD)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "PREFECT_"))}
    keel_env = {**base, "KEEL_SYSTEM_METRICS": "0", "KEEL_FSYNC": "false"}
    prefect_env = {
        **base,
        "PREFECT_HOME": str(work / "prefect-home"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # its ephemeral server may take longer than the default 20 s to start on a busy machine
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    rows: list[tuple[str, float | None, float | None, str | None, str, float | None]] = []
    warn_if_busy("other work slows keel and Prefect unevenly")
    try:
        with bench_lock():
            start = Load.now()
            py = Path(sys.executable)
            r = str(repeat)
            log.log(f"(a) {steps} trivial steps, cache off")
            keel_local = median(
                child(py, keel_script, work, keel_env, "chain", str(steps), r, "local")
            )
            keel_ray = None
            if not args.skip_ray:
                keel_ray = median(
                    child(py, keel_script, work, keel_env, "chain", str(steps), r, "ray")
                )
            peer_chain = None
            if prefect is not None:
                peer_chain = median(
                    child(prefect, prefect_script, work, prefect_env, "chain", str(steps), r)
                )
            rows.append(
                (
                    "overhead per step, local",
                    keel_local / steps,
                    None if peer_chain is None else peer_chain / steps,
                    "Prefect",
                    "s",
                    10.0,
                )
            )
            if keel_ray is not None:
                rows.append(
                    (
                        "overhead per step, Ray",
                        keel_ray / steps,
                        None if peer_chain is None else peer_chain / steps,
                        "Prefect",
                        "s",
                        None,
                    )
                )
            log.log("(b) fully cached re-run of 10 steps")
            keel_cached = median(child(py, keel_script, work, keel_env, "cached", "10", r, "local"))
            peer_cached = None
            if prefect is not None:
                peer_cached = median(
                    child(prefect, prefect_script, work, prefect_env, "cached", "10", r)
                )
            rows.append(("cached re-run, 10 steps", keel_cached, peer_cached, "Prefect", "s", 10.0))
            log.log("(c) first run of 10 steps in a fresh process")
            keel_first = median(
                [
                    fresh_process(py, keel_script, work, keel_env, 10, keel=True)
                    for _ in range(repeat)
                ]
            )
            rows.append(("first run in a fresh process", keel_first, 1.0, "1 s budget", "s", 1.0))
            if prefect is not None:
                env = {**prefect_env, "PREFECT_HOME": str(work / "prefect-fresh")}
                peer_first = median(
                    [
                        fresh_process(prefect, prefect_script, work, env, 10, keel=False)
                        for _ in range(repeat)
                    ]
                )
                rows.append(
                    (
                        "first run in a fresh process (Prefect)",
                        keel_first,
                        peer_first,
                        "Prefect",
                        "s",
                        None,
                    )
                )
            end = Load.now()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results = []
    table_rows = []
    for measure, keel_s, peer_s, peer_name, unit, goal in rows:
        ratio = None if peer_s is None else peer_s / keel_s
        results.append(
            result_json(measure, keel_s, peer_s, peer_name if peer_s else None, unit, ratio, goal)
        )
        table_rows.append(
            (
                measure,
                f"{keel_s * 1000:.2f} ms",
                "" if peer_s is None else f"{peer_s * 1000:.2f} ms ({peer_name})",
                "" if ratio is None else f"{ratio:.1f}x",
                verdict(ratio, goal),
            )
        )
    console = stdout_console(120)
    console.print(f"machine: {cpus_and_ram()}, Python {python_version()}, keel {keel_commit()}")
    console.print(load_summary(start, end))
    console.print(run_line("pipelines"))
    console.print(
        rich_table(
            "pipelines: keel vs Prefect",
            ["measure", "keel", "peer", "ratio", "goal"],
            table_rows,
            left=["measure", "goal"],
        )
    )
    print_json("pipelines", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
