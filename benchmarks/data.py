"""Benchmark ``keel data add/status`` against DVC, command line to command line.

Run it from the repository root::

    flock /tmp/keel-bench.lock .venv/bin/python benchmarks/data.py   # full size, 8-15 min
    .venv/bin/python benchmarks/data.py --quick            # 64 MiB, 10,000 small files, 1 round
    .venv/bin/python benchmarks/data.py --markdown out.md  # also write the report as Markdown

DVC (the latest release) is installed once into its own virtual environment,
``.bench-venvs/dvc`` (git-ignored), with ``python3 -m venv`` and ``pip install dvc``; the
install is skipped when ``dvc`` already imports there. keel is this checkout's ``keel``
command (``.venv/bin/keel``). Both run as a user runs them: one process per command,
start-up included, output captured.

Data, generated once (seeded, numpy) in a fresh folder under ``--dir`` and removed at
the end, and copied (``cp -a``, untimed) into each tool's repository, so both get the
same bytes and the same mtimes:

* ``--files`` files (default 2,000) totalling ``--size-mib`` MiB (default 1 GiB), sizes
  log-normal, in 20 subfolders;
* ``--small-files`` files (default 100,000) of 1 to 4 KiB each, in 100 subfolders.

For each data set and each tool, in a fresh ``git init`` repository with ``dvc init``
(analytics and update checks off) or ``keel init``, three commands are timed:

1. ``dvc add data`` / ``keel data add data``: version the folder;
2. the same again after 10 files were overwritten with new bytes of the same size
   (the same 10 files and bytes for both tools);
3. ``dvc status`` / ``keel data status`` with nothing changed.

Checked, untimed: each tool's re-add recorded new content (``data.dvc`` changed; keel's
dataset is at ``data:v2``) and its status found nothing changed (``dvc status -q`` exits 1
otherwise; ``keel data status --json`` says ``clean``).

Goals, from the issue: keel at least 5x faster than DVC on each (ratio >= 5).

Method: rounds in which DVC and keel take turns (each in its own fresh repository), so a
slow spell of this shared machine hits both: one untimed warm-up round on the large data
set (page cache, imports, ``.pyc`` files; the small files reuse that warm-up), then
``--repeat`` timed rounds (default 3; ``--small-repeat``, default 1, for the 100,000
files). Each figure is the median, timed with ``time.perf_counter`` around the
subprocess; the table shows the spread. ``os.sync()`` runs before each command, so no
tool pays for dirty pages it did not write. Both commands run without
``PYTHONDONTWRITEBYTECODE`` (set on some machines), so keel's modules are compiled once, as
DVC's were when pip installed it; every ``KEEL_*`` and ``DVC_*`` variable is dropped.

Durability differs: keel runs with its defaults, which include ``KEEL_FSYNC=1`` (a
``put_many`` batch is flushed to disk before its objects get their names, and the names are
flushed after), while DVC 3 copies into its cache without any fsync. A context row shows
keel's first add with ``KEEL_FSYNC=0``, DVC's durability. Context rows also give each tool's
bare start-up (``--version``).

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "data", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": "s", "ratio": ..., "goal": ...}, ...]}

``ratio`` is DVC seconds / keel seconds (above 1, keel is faster); ``goal`` is the ratio
the issue asks for, or null for context rows.
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from _common import (
    REPO,
    VENVS,
    Load,
    add_dir_option,
    cpus_and_ram,
    ensure_venv,
    git_changes,
    git_head,
    load_summary,
    log,
    markdown,
    median,
    print_json,
    python_version,
    result_json,
    rich_table,
    run_line,
    spread,
    stdout_console,
    verdict,
    warn_if_busy,
)

KEEL = REPO / ".venv" / "bin" / "keel"
DVC_VENV = VENVS / "dvc"
DVC = DVC_VENV / "bin" / "dvc"
MIB = 1024 * 1024
GOAL = 5.0
CHANGED = 10


@dataclass
class Figure:
    """Seconds of several timed runs: the median, and how far the runs spread."""

    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return median(self.seconds)

    @property
    def spread(self) -> float:
        return spread(self.seconds)


@dataclass
class Result:
    measure: str
    keel: Figure
    peer: Figure
    peer_name: str
    goal: float | None

    @property
    def ratio(self) -> float:
        return self.peer.median / self.keel.median

    @property
    def verdict(self) -> str:
        return verdict(self.ratio, self.goal)

    def to_json(self) -> dict[str, object]:
        keel, peer = round(self.keel.median, 3), round(self.peer.median, 3)
        ratio = round(self.ratio, 2)
        return result_json(self.measure, keel, peer, self.peer_name, "s", ratio, self.goal)


# Data


def make_folder(root: Path, sizes: np.ndarray, folders: int, rng: np.random.Generator) -> None:
    """Files of the given sizes, spread over ``folders`` subfolders, with an old mtime."""
    old = time.time() - 3600  # data made before the work starts, as it usually is
    for i in range(folders):
        (root / f"part{i:03d}").mkdir(parents=True)
    blob = rng.bytes(int(sizes.max()) + 4096)
    for i, n in enumerate(sizes):
        path = root / f"part{i % folders:03d}" / f"f{i:06d}.bin"
        start = int(rng.integers(0, 4096))
        # a unique 16-byte header, then bytes from a shared random block: distinct files
        # (no deduplication helps either tool) without generating 1 GiB twice
        header = i.to_bytes(8, "little") + rng.bytes(8)
        path.write_bytes(header + blob[start : start + int(n) - 16])
        os.utime(path, (old, old))


def large_sizes(total: int, n: int, rng: np.random.Generator) -> np.ndarray:
    weights = rng.lognormal(mean=0.0, sigma=1.0, size=n)
    sizes = np.maximum(np.floor(weights / weights.sum() * total).astype(np.int64), 64)
    sizes[np.argmax(sizes)] += total - int(sizes.sum())
    return sizes


def changed_files(folder: Path) -> list[Path]:
    files = sorted(folder.rglob("*.bin"))
    step = max(1, len(files) // CHANGED)
    return files[::step][:CHANGED]


def modify(files: list[Path], seed: int) -> None:
    """Overwrite each file with new bytes of the same size (same bytes for every tool)."""
    rng = np.random.default_rng(seed)
    for path in files:
        path.write_bytes(rng.bytes(path.stat().st_size))


# Tools


def ensure_dvc() -> str:
    """Install DVC into its own venv unless it already imports there; its name and version."""
    ensure_venv(DVC_VENV, "dvc", ["dvc"])
    return "DVC " + run([str(DVC), "--version"], Path.cwd()).stdout.strip()


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KEEL_", "DVC_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(DVC_NO_ANALYTICS="1", COLUMNS="120", **(extra or {}))
    return env


def run(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None):
    done = subprocess.run(
        list(args), cwd=cwd, env=env or tool_env(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def timed(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    os.sync()
    start = time.perf_counter()
    run(args, cwd, env)
    return time.perf_counter() - start


@dataclass
class Tool:
    name: str
    init: list[list[str]]
    add: list[str]
    status: list[str]
    env: dict[str, str] = field(default_factory=dict)


def tools() -> list[Tool]:
    dvc = str(DVC)
    return [
        Tool(
            "dvc",
            [
                [dvc, "init", "-q"],
                [dvc, "config", "core.analytics", "false"],
                [dvc, "config", "core.check_update", "false"],
            ],
            [dvc, "add", "-q", "data"],
            [dvc, "status", "-q"],
        ),
        Tool(
            "keel",
            [[str(KEEL), "init"]],
            [str(KEEL), "data", "add", "data"],
            [str(KEEL), "data", "status"],
        ),
        Tool(
            "keel fsync=0",
            [[str(KEEL), "init"]],
            [str(KEEL), "data", "add", "data"],
            [str(KEEL), "data", "status"],
            {"KEEL_FSYNC": "0"},
        ),
    ]


def one_round(tool: Tool, source: Path, work: Path, seed: int) -> dict[str, float]:
    """The three timed commands in a fresh repository; seconds for each."""
    repo = work / f"repo-{tool.name.replace(' ', '-')}"
    repo.mkdir()
    env = tool_env(tool.env)
    try:
        run(["git", "init", "-q"], repo, env)
        for command in tool.init:
            run(command, repo, env)
        subprocess.run(["cp", "-a", str(source), str(repo / "data")], check=True)
        out = {"add": timed(tool.add, repo, env)}
        if tool.name.startswith("keel fsync"):
            return out  # context: the first add only
        dvc_file = repo / "data.dvc"
        first = dvc_file.read_text() if tool.name == "dvc" else ""
        modify(changed_files(repo / "data"), seed)
        out["re-add"] = timed(tool.add, repo, env)
        out["status"] = timed(tool.status, repo, env)  # 'dvc status -q' fails unless clean
        if tool.name == "dvc":  # untimed: the re-add recorded new content
            assert dvc_file.read_text() != first, dvc_file.read_text()
        if tool.name == "keel":  # untimed: the re-add saw the changes, status found none
            listed = json.loads(run([str(KEEL), "data", "ls", "--json"], repo, env).stdout)
            assert listed[0]["latest"]["ref"] == "data:v2", listed
            status = json.loads(run([*tool.status, "--json"], repo, env).stdout)
            assert [s["state"] for s in status] == ["clean"], status
        return out
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def bench(
    label: str, source: Path, work: Path, repeat: int, dvc_name: str, *, warm_up: bool
) -> list[Result]:
    """Rounds of every tool on one data set (round 0, if ``warm_up``, is not timed)."""
    figures: dict[tuple[str, str], Figure] = {}
    for round_ in range(0 if warm_up else 1, repeat + 1):
        for tool in tools():
            log.log(
                f"{label}: round {round_}/{repeat}{' (warm-up)' if not round_ else ''}: {tool.name}"
            )
            for step, seconds in one_round(tool, source, work, seed=round_).items():
                log.log(f"  {step}: {seconds:.2f} s")
                if round_:
                    figures.setdefault((tool.name, step), Figure()).seconds.append(seconds)
    results = []
    for step, what in (
        ("add", "add"),
        ("re-add", f"add after {CHANGED} files changed"),
        ("status", "status, nothing changed"),
    ):
        results.append(
            Result(f"{what}, {label}", figures["keel", step], figures["dvc", step], dvc_name, GOAL)
        )
    results.append(
        Result(
            f"add, {label}, keel with KEEL_FSYNC=0",
            figures["keel fsync=0", "add"],
            figures["dvc", "add"],
            dvc_name,
            None,
        )
    )
    return results


def startup(work: Path, repeat: int, dvc_name: str) -> Result:
    """``--version`` of each tool: the cost of starting the command at all."""
    keel, dvc = Figure(), Figure()
    for round_ in range(repeat + 1):
        k = timed([str(KEEL), "--version"], work)
        d = timed([str(DVC), "--version"], work)
        if round_:
            keel.seconds.append(k)
            dvc.seconds.append(d)
    return Result("start-up (--version)", keel, dvc, dvc_name, None)


# Report


def machine() -> str:
    return f"{cpus_and_ram()}, Python {python_version()}"


def commit() -> str:
    dirty = git_changes("src", untracked=False)
    return (git_head() or "") + (" (src/ has uncommitted changes)" if dirty else "")


COLUMNS = ("measure", "keel s", "spread", "DVC s", "spread", "ratio", "goal", "verdict")
LEFT = {"measure", "verdict"}


def cells(r: Result) -> list[str]:
    return [
        r.measure,
        f"{r.keel.median:.3f}",
        f"{r.keel.spread:.0%}",
        f"{r.peer.median:.3f}",
        f"{r.peer.spread:.0%}",
        f"{r.ratio:.2f}",
        "-" if r.goal is None else f">= {r.goal:g}",
        r.verdict,
    ]


def notes(dvc_name: str, repeat: str, load: str) -> list[str]:
    """What a reader needs beside the table: when, machine, versions, method, load."""
    return [
        run_line("data"),
        f"machine: {machine()}",
        f"keel: commit {commit()}; peer: {dvc_name}",
        f"method: median of {repeat} timed rounds after 1 untimed warm-up round (large data "
        "set); DVC and keel "
        "take turns, each in a fresh git repository; os.sync() before each command. "
        "spread = (slowest - fastest) / median.",
        "durability: keel fsyncs objects (KEEL_FSYNC=1, its default); DVC does not fsync.",
        load,
        "ratio = DVC seconds / keel seconds: above 1, keel is faster.",
    ]


def report(results: list[Result], lines: list[str]) -> None:
    out = stdout_console(160)
    title = "keel data vs DVC (seconds, command line, start-up included)"
    table = rich_table(title, COLUMNS, (cells(r) for r in results), LEFT)
    for line in lines[:-1]:
        out.print(line)
    out.print(table)
    out.print(lines[-1])


def load_line(start: Load, end: Load) -> str:
    """How much CPU other processes used during the run, and the load averages."""
    return (
        f"{load_summary(start, end)}; load averages (1, 5, 15 min) {_avg(start.average)} at "
        f"the start, {_avg(end.average)} at the end."
    )


def _avg(values: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dir_option(parser)
    parser.add_argument("--files", type=int, default=2000, help="files in the large data set")
    parser.add_argument("--size-mib", type=int, default=1024, help="total size of those files")
    parser.add_argument("--small-files", type=int, default=100_000, help="1-4 KiB files")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds, large data set")
    parser.add_argument("--small-repeat", type=int, default=1, help="timed rounds, small files")
    parser.add_argument("--quick", action="store_true", help="64 MiB, 10,000 small files")
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown here")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mib, args.small_files, args.repeat, args.small_repeat = 64, 10_000, 1, 1
    if min(args.files, args.size_mib, args.small_files, args.repeat, args.small_repeat) < 1:
        parser.error("sizes and repeats must be at least 1")
    if not KEEL.exists():
        parser.error(f"{KEEL} is missing: run 'make install' first")

    warn_if_busy("other work will slow keel and DVC unevenly")
    dvc_name = ensure_dvc()
    work = Path(tempfile.mkdtemp(prefix="keel-bench-data-", dir=args.dir))
    results: list[Result] = []
    try:
        rng = np.random.default_rng(0)
        large, small = work / "large", work / "small"
        log.log(f"writing {args.files:,} files, {args.size_mib:,} MiB, to {large}")
        make_folder(large, large_sizes(args.size_mib * MIB, args.files, rng), 20, rng)
        log.log(f"writing {args.small_files:,} small files to {small}")
        make_folder(small, rng.integers(1024, 4097, size=args.small_files), 100, rng)
        os.sync()
        start = Load.now()
        results.append(startup(work, 5, dvc_name))
        size = f"{args.size_mib / 1024:g} GiB" if args.size_mib >= 1024 else f"{args.size_mib} MiB"
        large_label = f"{args.files:,} files, {size}"
        results += bench(large_label, large, work, args.repeat, dvc_name, warm_up=True)
        small_label = f"{args.small_files:,} files of 1-4 KiB"
        results += bench(small_label, small, work, args.small_repeat, dvc_name, warm_up=False)
        repeat = f"{args.repeat} (large) / {args.small_repeat} (small)"
        lines = notes(dvc_name, repeat, load_line(start, Load.now()))
        report(results, lines)
        if args.markdown:
            args.markdown.write_text(markdown(COLUMNS, [cells(r) for r in results], LEFT, lines))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        log.log(f"removed {work}")
    print_json("data", [r.to_json() for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
