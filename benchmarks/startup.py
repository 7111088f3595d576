"""Cold start of ``keel data status`` and ``keel data add`` on a clean workspace.

Run it from the repository root::

    flock /tmp/keel-bench.lock .venv/bin/python benchmarks/startup.py   # about a minute
    .venv/bin/python benchmarks/startup.py --repeat 5                  # a quick check

The issue's goal: both commands answer a clean workspace (nothing changed since the last
add) in under 80 ms, start-up included, without importing SQLAlchemy, pandas, NumPy or
pyarrow. In a fresh ``git init`` folder with ``keel init`` and ``--files`` small files
(default 200, older than the racy window), added once untimed, each round runs, one
process each and taking turns: ``python -c pass`` (the interpreter's own floor),
``keel --version`` (the typer app), and ``keel data status`` and ``keel data add data``,
each also with ``--json``. Each figure is the median of ``--repeat`` rounds (default 20)
after one warm-up round, timed with ``time.perf_counter`` around the process; CPU
seconds (user + system, from ``os.wait4``) beside them. Output is captured, and
``PYTHONDONTWRITEBYTECODE`` dropped, as in ``data.py``.

Checked, untimed: every ``add`` found the folder unchanged, every ``status`` said clean,
and (one run each with ``-X importtime``) which of SQLAlchemy, pandas, NumPy, pyarrow,
typer and rich each command imports.

The last stdout line is the JSON object of every benchmark; ``ratio`` is the 80 ms budget
over keel's seconds (at least 1 meets the goal), ``peer`` is that budget.
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
from pathlib import Path

import _common as c

BUDGET = 0.080
HEAVY = ("sqlalchemy", "pandas", "numpy", "pyarrow", "typer", "rich")


def keel_command() -> list[str]:
    """The ``keel`` script beside this Python (as users run it), else ``python -m keel``."""
    script = Path(sys.executable).parent / "keel"
    return [str(script)] if script.exists() else [sys.executable, "-m", "keel"]


def make_workspace(root: Path, files: int, env: dict[str, str]) -> Path:
    """A git repository with a keel project and ``files`` small files, added once."""
    work = root / "ws"
    (work / "data").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    subprocess.run([*keel_command(), "init"], cwd=work, env=env, check=True, capture_output=True)
    past = time.time() - 3600
    for i in range(files):
        path = work / "data" / f"f{i:05d}.bin"
        path.write_bytes(os.urandom(1000 + i % 3000))
        os.utime(path, (past, past))
    subprocess.run(
        [*keel_command(), "data", "add", "data"], cwd=work, env=env, check=True, capture_output=True
    )
    return work


def run_once(argv: list[str], work: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and stdout of one process."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=work, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}")
    return wall, usage.ru_utime + usage.ru_stime, text


def check(name: str, stdout: str) -> None:
    """The command answered a clean workspace as it should."""
    if name.endswith("status --json"):
        assert [s["state"] for s in json.loads(stdout)] == ["clean"], stdout
    elif name.endswith("add data --json"):
        assert json.loads(stdout)["new_version"] is False, stdout
    elif name.endswith("add data"):
        assert "is unchanged" in stdout, stdout


def imported(argv: list[str], work: Path, env: dict[str, str]) -> list[str]:
    """Which of :data:`HEAVY` a command imports (``-X importtime``)."""
    python = [sys.executable, "-X", "importtime", "-m", "keel", *argv]
    done = subprocess.run(python, cwd=work, env=env, capture_output=True, text=True, check=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    return [m for m in HEAVY if m in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--files", type=int, default=200, help="files in the folder (200)")
    c.add_dir_option(parser)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    keel = keel_command()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "keel --version": [*keel, "--version"],
        "keel data status": [*keel, "data", "status"],
        "keel data status --json": [*keel, "data", "status", "--json"],
        "keel data add data": [*keel, "data", "add", "data"],
        "keel data add data --json": [*keel, "data", "add", "data", "--json"],
    }
    c.warn_if_busy("other work slows every process, the floor included")
    with c.bench_lock():
        root = Path(tempfile.mkdtemp(prefix="keel-startup-", dir=args.dir))
        try:
            work = make_workspace(root, args.files, env)
            start = c.Load.now()
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            for round_ in range(args.repeat + 1):
                for name, argv in commands.items():
                    wall, cpu, out = run_once(argv, work, env)
                    check(name, out)
                    if round_:
                        times[name].append((wall, cpu))
            end = c.Load.now()
            imports = {
                n: imported(a[len(keel) :], work, env) for n, a in commands.items() if "keel d" in n
            }
        finally:
            shutil.rmtree(root, ignore_errors=True)
    rows, results = [], []
    for name, samples in times.items():
        wall = c.median(s[0] for s in samples)
        cpu = c.median(s[1] for s in samples)
        goal = 1.0 if name.startswith("keel data") else None
        ratio = BUDGET / wall if goal else None
        rows.append(
            [
                name,
                f"{wall * 1000:.0f}",
                f"{cpu * 1000:.0f}",
                f"{c.spread([s[0] for s in samples]):.0%}",
                ", ".join(imports.get(name, [])) or ("-" if name in imports else ""),
                c.verdict(ratio, goal) if goal else "context",
            ]
        )
        results.append(
            c.result_json(
                name,
                round(wall, 4),
                BUDGET if goal else None,
                "80 ms budget" if goal else None,
                "s",
                ratio and round(ratio, 3),
                goal,
            )
        )
    console = c.stdout_console(110)
    columns = ["command", "wall ms", "CPU ms", "spread", "heavy imports", "verdict"]
    console.print(
        c.rich_table(
            "cold start, clean workspace (median)",
            columns,
            rows,
            ["command", "heavy imports", "verdict"],
        )
    )
    console.print(f"{c.load_summary(start, end)}; {c.keel_commit()}; {c.run_line('startup')}")
    c.print_json("startup", results)


if __name__ == "__main__":
    main()
