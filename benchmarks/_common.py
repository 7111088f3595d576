"""Helpers the benchmark scripts share: machine, load, git commit, tables, JSON line, venvs.

The scripts are run as files (``python benchmarks/<name>.py``), so Python puts this folder
first on ``sys.path`` and they import this module as ``_common``. It holds no measuring
code: each script still decides what it times and how it reports it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
"""The repository root (the folder holding ``benchmarks/``)."""

VENVS = REPO / ".bench-venvs"
"""Where the peers' virtual environments live, one folder per peer (git-ignored)."""

LOCK = Path("/tmp/keel-bench.lock")
"""The shared benchmark lock: two benchmarks never run at once on one machine."""

log = Console(stderr=True)
"""Progress goes to stderr, so stdout holds only the report and the JSON line."""


# The machine


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, or ``unknown CPU``."""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def cpus_and_ram() -> str:
    """``N CPUs (model), R GiB RAM``: the start of every script's machine line."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"{os.cpu_count()} CPUs ({cpu_model()}), {ram:.0f} GiB RAM"


def python_version() -> str:
    """This interpreter's version, e.g. ``3.11.9``."""
    return platform.python_version()


# Load


def warn_if_busy(effect: str) -> None:
    """Warn on stderr when the 1-minute load average is above half the CPUs.

    ``effect`` says what the load does to this benchmark, e.g. "other work will slow keel
    and DVC unevenly".
    """
    busy = os.getloadavg()[0]
    if busy > 0.5 * (os.cpu_count() or 1):
        log.print(
            f"[yellow]warning: the load average is {busy:.1f} on {os.cpu_count()} CPUs; "
            f"{effect}. Rerun on a quiet machine.[/]"
        )


def _stat_ticks() -> list[int]:
    """user nice system idle iowait irq softirq steal, from the first line of /proc/stat."""
    try:
        with open("/proc/stat") as fh:
            return [int(t) for t in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return [0] * 8


def busy_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (all but idle, iowait)."""
    ticks = _stat_ticks()
    return sum(ticks[i] for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")


@dataclass
class Load:
    """Counters read at the start and end of a run, to tell how busy the machine was."""

    wall: float
    busy: float  # CPU seconds of every process, from /proc/stat
    steal: float  # CPU seconds the hypervisor gave to other guests
    own: float  # CPU seconds of this process and the children it has reaped
    average: tuple[float, float, float]  # load averages (1, 5, 15 min)

    @classmethod
    def now(cls) -> Load:
        ticks = _stat_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        busy = sum(ticks[i] for i in (0, 1, 2, 5, 6)) / hz
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return cls(time.monotonic(), busy, ticks[7] / hz, own, os.getloadavg())

    def others(self, start: Load) -> float:
        """CPUs other processes used on average between ``start`` and this reading."""
        wall = self.wall - start.wall
        return max(0.0, (self.busy - start.busy) - (self.own - start.own)) / wall

    def steal_since(self, start: Load) -> float:
        """CPUs the hypervisor took on average between ``start`` and this reading."""
        return (self.steal - start.steal) / (self.wall - start.wall)


def load_summary(start: Load, end: Load, *, steal: bool = False) -> str:
    """``load: other processes used X of N CPUs on average during the run`` (no full stop).

    With ``steal``, also how many CPUs the hypervisor took meanwhile.
    """
    text = (
        f"load: other processes used {end.others(start):.2f} of {os.cpu_count()} CPUs on "
        "average during the run"
    )
    if steal:
        text += f", and the hypervisor took {end.steal_since(start):.2f} CPUs (steal)"
    return text


# Timing


def median(seconds: Iterable[float]) -> float:
    """The median of timed rounds: every script's figure."""
    return statistics.median(seconds)


def spread(seconds: Sequence[float]) -> float:
    """(slowest - fastest) / median of timed rounds."""
    return (max(seconds) - min(seconds)) / statistics.median(seconds)


# The commit measured


def git(*args: str) -> str | None:
    """``git -C REPO args...``'s output, or None if git fails or is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout


def git_head() -> str | None:
    """The short hash of HEAD, or None."""
    head = git("rev-parse", "--short", "HEAD")
    return None if head is None else head.strip()


def git_changes(*paths: str, untracked: bool = True) -> list[str] | None:
    """``git status --porcelain`` lines for ``paths`` (changes not committed), or None."""
    flags = [] if untracked else ["--untracked-files=no"]
    out = git("status", "--porcelain", *flags, "--", *paths)
    return None if out is None else out.splitlines()


def keel_commit() -> str:
    """``commit abc1234``, plus `` + uncommitted changes in src/`` when src/ differs."""
    head, dirty = git_head(), git_changes("src")
    if head is None or dirty is None:
        return "commit unknown"
    return f"commit {head}{' + uncommitted changes in src/' if dirty else ''}"


# Options


def add_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--dir``: where a fresh work folder is made and removed (default: the temp folder)."""
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="folder in which a fresh work folder is made and removed (default: %(default)s)",
    )


# Results


def verdict(ratio: float | None, goal: float | None) -> str:
    """``met`` when ``ratio`` reaches ``goal``, else ``NOT met``; ``no goal`` / ``no peer``."""
    if goal is None:
        return "no goal"
    if ratio is None:
        return "no peer"
    return "met" if ratio >= goal else "NOT met"


def result_json(
    measure: str,
    keel: float | None,
    peer: float | None,
    peer_name: str | None,
    unit: str,
    ratio: float | None,
    goal: float | None,
) -> dict[str, object]:
    """One entry of the JSON line's ``results``, keys in the documented order."""
    return {
        "measure": measure,
        "keel": keel,
        "peer": peer,
        "peer_name": peer_name,
        "unit": unit,
        "ratio": ratio,
        "goal": goal,
    }


# Report


def run_line(name: str) -> str:
    """``run finished: <local time>, `python benchmarks/<name>.py <args>```."""
    when = datetime.now().astimezone().isoformat(sep=" ", timespec="minutes")
    command = shlex.join(["python", f"benchmarks/{name}.py", *sys.argv[1:]])
    return f"run finished: {when}, `{command}`"


def stdout_console(width: int) -> Console:
    """The console the report is printed on: ``width`` columns unless stdout is a terminal."""
    return Console(width=None if sys.stdout.isatty() else width, highlight=False)


def rich_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], left: Iterable[str]
) -> Table:
    """A table for people; the ``left`` columns are left-aligned, the others right."""
    left = set(left)
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in left else "right")
    for row in rows:
        table.add_row(*row)
    return table


def markdown(
    columns: Sequence[str], rows: Iterable[Sequence[str]], left: Iterable[str], lines: Sequence[str]
) -> str:
    """The report as Markdown, to paste into RESULTS.md: the notes as a list, then the table."""
    left = set(left)
    rule = ["---" if column in left else "---:" for column in columns]
    table = "\n".join("| " + " | ".join(row) + " |" for row in [columns, rule, *rows])
    return "\n".join(f"- {line}" for line in lines) + "\n\n" + table + "\n"


def print_json(benchmark: str, results: Sequence[dict[str, object]]) -> None:
    """Print the last stdout line: ``{"benchmark": NAME, "results": [...]}``."""
    print(json.dumps({"benchmark": benchmark, "results": list(results)}))


# Peers


def ensure_venv(venv: Path, module: str, packages: Sequence[str]) -> Path:
    """The Python of ``venv``, which can import ``module``; created with pip if needed.

    The install is skipped when ``module`` already imports there.
    """
    python = venv / "bin" / "python"
    if python.exists():
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
        if probe.returncode == 0:
            return python
    log.log(f"installing {', '.join(packages)} into {venv} (once; a few minutes)")
    subprocess.run(["python3", "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", *packages], check=True)
    return python


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(
    name: str, argv: list[str], env: dict[str, str], health: str, work: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server (keel's or a peer's) in its own process group until the block ends,
    once ``health`` answers 200; yield its process. Its output goes to ``work/<name>.log``."""
    logfile = open(work / f"{name}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        argv, env=env, cwd=work, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(health, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (work / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} did not become healthy at {health}:\n{tail}")
            time.sleep(0.25)
        log.log(f"{name} is up: {health} (pid {proc.pid})")
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        logfile.close()


# One benchmark at a time


def _ancestors() -> set[int]:
    """This process's id and those of its parents, up to init."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _held_by_ancestor(path: Path) -> bool:
    """Whether a parent (``flock /tmp/keel-bench.lock python ...``) already holds ``path``."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return False
    ours = _ancestors()
    for line in lines:
        fields = line.split()
        if "->" in fields:  # a process waiting for the lock, not holding it
            continue
        holds = len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}")
        if holds and int(fields[4]) in ours:
            return True
    return False


@contextlib.contextmanager
def bench_lock(path: Path = LOCK) -> Iterator[None]:
    """Hold the shared benchmark lock (``flock`` on ``path``) until the block ends.

    Waits, saying so, while another benchmark holds it. A script started as ``flock
    /tmp/keel-bench.lock python benchmarks/<name>.py`` already runs under the lock: its
    parent holds it, so it goes ahead instead of waiting for itself.
    """
    if _held_by_ancestor(path):
        yield
        return
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.log(f"waiting for another benchmark to release {path}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# Measured children


@dataclass
class Child:
    """A finished child process: wall time, its own peak RSS and what it printed."""

    seconds: float
    peak_rss_mb: float  # the child's own peak RSS, read in a fresh wrapper process, in MB
    stdout: str
    stderr: str


MEASURE = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as fh:
    json.dump({"seconds": seconds, "peak_kb": peak_kb}, fh)
sys.exit(code)
"""


def run_measured(argv: Sequence[str], env: dict[str, str], cwd: Path) -> Child:
    """Run ``argv`` to its end through a small wrapper process; its wall time and its own
    peak RSS; RuntimeError with the end of its stderr when it fails.

    A process's ``ru_maxrss`` also counts the memory of the process it was forked from at
    the moment it called exec (Linux keeps the old address space's high-water mark), and
    ``os.wait4`` on a child of this process, which holds the 1,000,000 rows it compares
    against, read that process's size for every tool. The wrapper is a fresh, small
    interpreter, and ``getrusage(RUSAGE_CHILDREN)`` in it sees only the tool it ran.
    """
    with tempfile.TemporaryDirectory() as scratch:
        report, out, err = (Path(scratch) / name for name in ("report", "out", "err"))
        with out.open("wb") as stdout, err.open("wb") as stderr:
            code = subprocess.call(
                [sys.executable, "-c", MEASURE, str(report), *argv],
                env=env,
                cwd=cwd,
                stdout=stdout,
                stderr=stderr,
            )
        stdout_text = out.read_text(errors="replace")
        stderr_text = err.read_text(errors="replace")
        if code != 0 or not report.exists():
            raise RuntimeError(f"{' '.join(argv)} failed ({code}):\n{stderr_text[-3000:]}")
        measured = json.loads(report.read_text())
    peak_mb = measured["peak_kb"] * 1024 / 1e6  # ru_maxrss is in KiB on Linux
    return Child(measured["seconds"], peak_mb, stdout_text, stderr_text)
