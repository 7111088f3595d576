"""Benchmark keel's content-addressed object store against md5sum and sha256sum.

Run it from the repository root (``make bench`` runs it at full size)::

    .venv/bin/python benchmarks/objects.py                 # 1 GiB, 10 to 15 minutes
    .venv/bin/python benchmarks/objects.py --size-mib 64   # quick check

Two data sets of random bytes (numpy) are written to a fresh folder under ``--dir``
(default: the system temporary folder), and removed at the end:

* one file of ``--size-mib`` MiB (default 1 GiB);
* ``--files`` small files (default 2,000) of varied sizes (log-normal) with the same total.

On each data set, in the same run, it times:

* ``LocalObjectStore.put(path)`` with ``fsync=True`` (the default) and ``fsync=False``,
  each into a fresh store, against ``md5sum`` and ``sha256sum`` hashing the same files
  (many files are passed through ``xargs -0``, as a user would);
* for the small files also ``LocalObjectStore.put_many(paths)`` (threads; with fsync=True
  one ``sync`` for the batch), against the same peers;
* ``LocalObjectStore.verify(digest)`` of every stored object, against ``md5sum -c`` and
  ``sha256sum -c`` checking the same stored files;
* as context without a goal: ``cp`` of the same files (followed by ``sync FILE...`` for
  the fsync=True rows), the cost of writing the bytes without hashing them.

A third data set, ``--tiny-files`` files of 1-4 KiB (default 20,000; 0 skips it), is what
packs are for: ``put_many`` of them (small objects go into pack files) against
``xargs -0 md5sum`` and ``cp`` of the same files, as context rows without a goal (the
issue's goal for many small files is in ``benchmarks/data.py``); the notes say how many
files each store ended up with.

It also times blake3 over the large file held in memory with
``blake3.blake3(max_threads=blake3.blake3.AUTO)``, what ``b3sum`` does on a large file
(the ``b3sum`` binary is not assumed installed), and compares keel's verify of the large
file with it.

Goals, from the issue: keel faster than md5sum (ratio >= 1.0), and keel's hashing within
1.5x of b3sum-class speed, i.e. verify MB/s / in-memory blake3 MB/s >= 0.67. sha256sum is
reported for comparison; the issue sets no goal against it.

Method: MB is 10**6 bytes. keel and its peers run in rounds, taking turns within each
round, so that a slow spell of a shared machine hits all of them: one untimed warm-up
round (to warm caches for every tool alike), then ``--repeat`` timed rounds (default 3),
timed with ``time.perf_counter``; each figure is the median, and the table shows the
spread of the runs. ``os.sync()`` runs before each run, so no tool pays for another's
dirty pages, and whatever a run wrote is removed after it, untimed. The page cache cannot
be dropped here, so all reads are from memory for every tool equally: these are hashing
and writing figures, not disk-read figures.

Fresh folders: every run writes into its own empty folder, all made (untimed) before a
contest starts under a parent marked ``chattr +T`` (ext4's "top of a directory
hierarchy" flag), so that ext4's Orlov allocator spreads them over block groups, one
flex group (16 block groups) per folder: a folder whose flex group another folder of the
contest already holds is discarded (its own empty-folder inode is all it leaves). The
reason is ext4's ``recently_deleted`` rule (fs/ext4/ialloc.c): on a filesystem without a
journal, as here, a new inode skips every free inode of its block group whose deletion
time is less than 60 seconds old (360 if its inode-table block is still dirty), checking
them one by one from the start of the group, and a file's inode goes into the first
group of its folder's flex group with a free inode. Removing a run's 2,000 files and
then creating the next run's 2,000 in the same group therefore made each new file scan
up to 2,000 freed inodes (about a quarter of keel's CPU in a perf profile), a cost of
the benchmark's clean-up that md5sum, which creates no files, never paid. In a folder of
its own flex group, a run creates its files where nothing was freed in the last minute,
as a user's first put into a store does; what the run itself writes, allocates and
flushes is all still timed, for keel and ``cp`` alike. Where the flag cannot be set (not
ext4, no ``chattr``), folders are made as before and the method line says so.

Output: a table for people, then, as the last line of stdout, one JSON object::

    {"benchmark": "objects", "results": [{"measure": ..., "keel": ..., "peer": ...,
     "peer_name": ..., "unit": "MB/s", "ratio": ..., "goal": ...}, ...]}

``ratio`` is keel MB/s / peer MB/s (above 1, keel is faster); ``goal`` is the ratio the
issue asks for, or null for context rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import blake3
import numpy as np

import keel
from _common import (
    Load,
    add_dir_option,
    cpus_and_ram,
    load_summary,
    log,
    markdown,
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
from keel.store.objects import LocalObjectStore, open_object_store

MB = 1_000_000
MIB = 1024 * 1024
GOAL_VS_MD5 = 1.0
GOAL_VS_B3 = 0.67  # 1 / 1.5, rounded up: "within 1.5x of b3sum-class speed"


@dataclass
class Figure:
    """A throughput from several timed runs: the median, and how far the runs spread."""

    nbytes: int
    seconds: list[float]

    @property
    def mbps(self) -> float:
        return self.nbytes / statistics.median(self.seconds) / MB

    @property
    def spread(self) -> float:
        """(slowest - fastest) / median run time."""
        return spread(self.seconds)


@dataclass
class Result:
    """One row of the table and of the JSON line: keel against one peer."""

    measure: str
    keel: Figure
    peer: Figure
    peer_name: str
    goal: float | None

    @property
    def ratio(self) -> float:
        return self.keel.mbps / self.peer.mbps

    @property
    def verdict(self) -> str:
        return verdict(self.ratio, self.goal)

    def to_json(self) -> dict[str, object]:
        keel, peer, ratio = round(self.keel.mbps, 1), round(self.peer.mbps, 1), round(self.ratio, 3)
        return result_json(self.measure, keel, peer, self.peer_name, "MB/s", ratio, self.goal)


@dataclass
class DataSet:
    """Files of random bytes and their total size."""

    label: str
    files: list[Path]
    nbytes: int


# Data


def make_data(root: Path, size: int, nfiles: int, seed: int = 0) -> tuple[DataSet, DataSet]:
    """Write one file of ``size`` bytes and ``nfiles`` files of varied sizes, same total."""
    rng = np.random.default_rng(seed)
    large = root / "large.bin"
    with open(large, "wb") as out:
        left = size
        while left:
            step = min(left, 64 * MIB)
            out.write(rng.bytes(step))
            left -= step

    small_dir = root / "small"
    small_dir.mkdir()
    weights = rng.lognormal(mean=0.0, sigma=1.0, size=nfiles)
    sizes = np.maximum(np.floor(weights / weights.sum() * size).astype(np.int64), 1)
    sizes[np.argmax(sizes)] += size - int(sizes.sum())  # exact total
    small = []
    for i, n in enumerate(sizes):
        path = small_dir / f"f{i:05d}.bin"
        path.write_bytes(rng.bytes(int(n)))
        small.append(path)
    os.sync()
    return (
        DataSet(f"{size_label(size)} file", [large], size),
        DataSet(f"{nfiles:,} files, {size_label(size)} total", small, size),
    )


def make_tiny(root: Path, nfiles: int, seed: int = 1) -> DataSet:
    """``nfiles`` files of 1 to 4 KiB, as a folder of many small records."""
    rng = np.random.default_rng(seed)
    folder = root / "tiny"
    folder.mkdir()
    files, total = [], 0
    for i, n in enumerate(rng.integers(1024, 4097, size=nfiles)):
        path = folder / f"t{i:06d}.bin"
        path.write_bytes(rng.bytes(int(n)))
        files.append(path)
        total += int(n)
    os.sync()
    return DataSet(f"{nfiles:,} files of 1-4 KiB", files, total)


def size_label(nbytes: int) -> str:
    if nbytes % (1024 * MIB) == 0:
        return f"{nbytes // (1024 * MIB)} GiB"
    return f"{nbytes / MIB:g} MiB"


# Timing

Runner = Callable[[Path], object]
"""One contestant: called with an empty folder made for this run, where it may write."""

FLEX_GROUPS = 16
"""Block groups per ext4 flex group (mke2fs's default; the kernel does not publish it)."""


class Folders:
    """Empty folders for the runs of a benchmark, each in an ext4 flex group of its own
    where the filesystem allows it (see "Fresh folders" in the module's docstring)."""

    def __init__(self, root: Path) -> None:
        root.mkdir()
        self.root = root
        self.spread = _mark_topdir(root)
        self.per_flex_group = _inodes_per_group(root) * FLEX_GROUPS
        self._made = 0
        self._recent: set[int] = set()

    def make(self, count: int) -> list[Path]:
        """``count`` new empty folders, in distinct flex groups when they can be told apart."""
        folders: list[Path] = []
        taken = set(self._recent)  # the last folders of the contest before, too
        discarded: list[Path] = []
        while len(folders) < count:
            self._made += 1
            folder = self.root / f"run-{self._made:05d}"
            folder.mkdir()
            flex = (folder.stat().st_ino - 1) // self.per_flex_group if self.per_flex_group else -1
            if flex in taken and len(discarded) < 8 * count:
                discarded.append(folder)
                continue
            taken.add(flex)
            folders.append(folder)
        for folder in discarded:
            folder.rmdir()
        self._recent = taken - set(self._recent)
        return folders


def _mark_topdir(folder: Path) -> bool:
    """``chattr +T folder``: ext4 then spreads its sub-folders over block groups."""
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(["chattr", "+T", str(folder)], capture_output=True, check=False)
    return done.returncode == 0


def _inodes_per_group(folder: Path) -> int:
    """ext4's inodes per block group, from ``statvfs``: the total number of inodes is a
    whole number of groups of a multiple of 8 inodes each, and there are a few more groups
    than the data blocks fill (8 x block size blocks per group); 0 if none fits."""
    st = os.statvfs(folder)
    per_group_blocks = 8 * st.f_bsize
    least = -(-st.f_blocks // per_group_blocks)
    for groups in range(max(1, least), least + least // 8 + 2):
        if st.f_files % groups == 0 and (st.f_files // groups) % 8 == 0:
            return st.f_files // groups
    return 0


def contest(runners: dict[str, Runner], folders: Folders, repeat: int) -> dict[str, list[float]]:
    """Seconds per run of each runner, ``repeat`` rounds after one untimed warm-up round.

    Runners take turns within each round, so a slow spell of this shared machine hits
    all of them rather than one. Each run gets a fresh folder from ``folders`` (made
    before the first run); it is removed after the run, untimed.
    """
    times: dict[str, list[float]] = {name: [] for name in runners}
    fresh = iter(folders.make((repeat + 1) * len(runners)))
    for round_ in range(repeat + 1):
        for name, run in runners.items():
            log.log(f"  round {round_}/{repeat}{' (warm-up)' if not round_ else ''}: {name}")
            out = next(fresh)
            os.sync()
            start = time.perf_counter()
            run(out)
            elapsed = time.perf_counter() - start
            shutil.rmtree(out)
            if round_:
                times[name].append(elapsed)
    return times


# Peers


def run_tool(tool: str, files: Sequence[Path], *, capture: bool = False) -> bytes:
    """Run ``tool`` on ``files``: directly for one file, through ``xargs -0`` for many."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    if len(files) == 1:
        return subprocess.run([tool, str(files[0])], stdout=out, check=True).stdout
    names = b"\0".join(os.fsencode(f) for f in files)
    return subprocess.run(["xargs", "-0", tool], input=names, stdout=out, check=True).stdout


def check_tool(tool: str, listing: Path) -> None:
    """``tool -c listing``: re-hash every listed file and compare, as a user verifies."""
    subprocess.run([tool, "-c", "--quiet", str(listing)], stdout=subprocess.DEVNULL, check=True)


def copy_files(files: Sequence[Path], dest: Path, *, fsync: bool) -> None:
    """``cp`` the files into the folder ``dest`` (then ``sync FILE...`` if ``fsync``):
    writing, no hash."""
    names = b"\0".join(os.fsencode(f) for f in files)
    subprocess.run(["xargs", "-0", "cp", "-t", str(dest)], input=names, check=True)
    if fsync:
        copies = b"\0".join(os.fsencode(dest / f.name) for f in files)
        subprocess.run(["xargs", "-0", "sync"], input=copies, check=True)


def blake3_in_memory(buffer: bytes) -> str:
    """What ``b3sum`` does with a large file: blake3 on every core over mapped bytes."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update(buffer)
    return hasher.hexdigest()


# keel


def keel_put(files: Sequence[Path], root: Path, *, fsync: bool) -> list[str]:
    store = open_object_store(str(root), fsync=fsync)
    return [store.put(path) for path in files]


def keel_put_many(files: Sequence[Path], root: Path, *, fsync: bool) -> list[str]:
    store = open_object_store(str(root), fsync=fsync)
    return store.put_many(list(files))


def keel_verify(store: LocalObjectStore, digests: Sequence[str]) -> None:
    bad = [d for d in digests if not store.verify(d)]
    if bad:
        raise RuntimeError(f"keel verify failed for {len(bad)} objects, e.g. {bad[0]}")


# Measures


def bench_data_set(data: DataSet, work: Path, folders: Folders, repeat: int) -> list[Result]:
    """Every put and verify row for one data set (and the b3sum-class row for one file)."""
    tag = data.label
    one = len(data.files) == 1

    log.log(f"{tag}: put")
    runners: dict[str, Runner] = {
        "keel put, fsync=True": lambda o: keel_put(data.files, o, fsync=True),
        "keel put, fsync=False": lambda o: keel_put(data.files, o, fsync=False),
        "md5sum": lambda o: run_tool("md5sum", data.files),
        "sha256sum": lambda o: run_tool("sha256sum", data.files),
        "cp + sync FILE": lambda o: copy_files(data.files, o, fsync=True),
        "cp": lambda o: copy_files(data.files, o, fsync=False),
    }
    if not one:
        runners["keel put_many, fsync=True"] = lambda o: keel_put_many(data.files, o, fsync=True)
        runners["keel put_many, fsync=False"] = lambda o: keel_put_many(data.files, o, fsync=False)
    put = contest(runners, folders, repeat)
    via = "" if one else "xargs -0 "
    results: list[Result] = []
    for verb in ("put",) if one else ("put", "put_many"):
        for fsync in (True, False):
            keel_put_fig = Figure(data.nbytes, put[f"keel {verb}, fsync={fsync}"])
            peers = [
                ("md5sum", f"{via}md5sum", GOAL_VS_MD5),
                ("sha256sum", f"{via}sha256sum", None),
                ("cp + sync FILE" if fsync else "cp", "", None),
            ]
            for key, name, goal in peers:
                peer = Figure(data.nbytes, put[key])
                label = name or f"{key} (no hash)"
                measure = f"{verb} {tag}, fsync={fsync}"
                results.append(Result(measure, keel_put_fig, peer, label, goal))

    # The store that verify reads, filled once, untimed; the peers check the same files.
    store_root = work / "store"
    digests = keel_put(data.files, store_root, fsync=True)
    store = LocalObjectStore(store_root)
    stored = [store.path(d) for d in digests]
    listings = {}
    for tool in ("md5sum", "sha256sum"):
        listings[tool] = work / f"{tool}.txt"
        listings[tool].write_bytes(run_tool(tool, stored, capture=True))
    runners = {
        "keel verify": lambda o: keel_verify(store, digests),
        "md5sum -c": lambda o: check_tool("md5sum", listings["md5sum"]),
        "sha256sum -c": lambda o: check_tool("sha256sum", listings["sha256sum"]),
    }
    if one:
        buffer = data.files[0].read_bytes()
        if blake3_in_memory(buffer) != digests[0]:
            raise RuntimeError("keel's digest differs from blake3's over the same bytes")
        runners["blake3 in memory"] = lambda o: blake3_in_memory(buffer)

    log.log(f"{tag}: verify")
    verify = contest(runners, folders, repeat)
    keel_verify_fig = Figure(data.nbytes, verify["keel verify"])
    for tool, goal in (("md5sum", GOAL_VS_MD5), ("sha256sum", None)):
        peer = Figure(data.nbytes, verify[f"{tool} -c"])
        results.append(Result(f"verify {tag}", keel_verify_fig, peer, f"{tool} -c", goal))
    if one:
        del buffer
        b3sum = "installed, not used" if shutil.which("b3sum") else "not installed"
        results.append(
            Result(
                f"verify {tag} vs b3sum-class",
                keel_verify_fig,
                Figure(data.nbytes, verify["blake3 in memory"]),
                f"blake3 in memory, AUTO threads (b3sum {b3sum})",
                GOAL_VS_B3,
            )
        )
    shutil.rmtree(store_root)
    return results


def bench_tiny(
    data: DataSet, work: Path, folders: Folders, repeat: int
) -> tuple[list[Result], str]:
    """put_many of many tiny files (packed) against md5sum and cp; and a note of how many
    files the store holds afterwards."""
    log.log(f"{data.label}: put_many")
    runners: dict[str, Runner] = {
        "keel put_many, fsync=True": lambda o: keel_put_many(data.files, o, fsync=True),
        "keel put_many, fsync=False": lambda o: keel_put_many(data.files, o, fsync=False),
        "md5sum": lambda o: run_tool("md5sum", data.files),
        "cp + sync FILE": lambda o: copy_files(data.files, o, fsync=True),
        "cp": lambda o: copy_files(data.files, o, fsync=False),
    }
    times = contest(runners, folders, repeat)
    results = []
    for fsync in (True, False):
        keel_fig = Figure(data.nbytes, times[f"keel put_many, fsync={fsync}"])
        for key, name in (("md5sum", "xargs -0 md5sum"), ("cp + sync FILE" if fsync else "cp", "")):
            label = name or f"{key} (no hash)"
            peer = Figure(data.nbytes, times[key])
            measure = f"put_many {data.label}, fsync={fsync}"
            results.append(Result(measure, keel_fig, peer, label, None))
    store_root = work / "tiny-store"
    keel_put_many(data.files, store_root, fsync=False)
    count = sum(len(names) for _, _, names in os.walk(store_root))
    shutil.rmtree(store_root)
    note = f"files: put_many of the {data.label} left {count:,} files in the store (packs)."
    return results, note


# Report


def machine() -> str:
    return (
        f"{cpus_and_ram()}, Python {python_version()}, "
        f"blake3 {blake3.__version__}, numpy {np.__version__}, keel {keel.__version__}"
    )


COLUMNS = ("measure", "keel MB/s", "spread", "peer", "peer MB/s", "spread", "ratio", "goal")
COLUMNS += ("verdict",)
RIGHT = {"keel MB/s", "spread", "peer MB/s", "ratio", "goal"}


def cells(r: Result) -> tuple[str, ...]:
    return (
        r.measure,
        f"{r.keel.mbps:,.0f}",
        f"{r.keel.spread:.0%}",
        r.peer_name,
        f"{r.peer.mbps:,.0f}",
        f"{r.peer.spread:.0%}",
        f"{r.ratio:.2f}",
        "-" if r.goal is None else f">= {r.goal:g}",
        r.verdict,
    )


def notes(data: Sequence[DataSet], repeat: int, load: str, folders: Folders) -> list[str]:
    """What a reader needs beside the table: when, machine, data, method, load."""
    lines = [run_line("objects"), f"machine: {machine()}"]
    for d in data:
        sizes = [f.stat().st_size for f in d.files]
        lines.append(
            f"data: {d.label}: {len(sizes):,} file(s), sizes {min(sizes):,} to "
            f"{max(sizes):,} bytes (median {int(statistics.median(sizes)):,})"
        )
    lines.append(
        f"method: median of {repeat} timed rounds after 1 untimed warm-up round; keel and "
        "its peers take turns within each round; os.sync() before each run; the page cache "
        "cannot be dropped, so every tool reads warm files. spread = (slowest - fastest) / "
        f"median run time. {placement(folders)}"
    )
    lines.append(load)
    lines.append(
        "ratio = keel MB/s / peer MB/s: above 1, keel is faster. put writes a copy (durable "
        "with fsync=True) while md5sum/sha256sum only read, as the issue specifies; the cp "
        "rows show the cost of writing alone."
    )
    return lines


LEFT = [column for column in COLUMNS if column not in RIGHT]


def placement(folders: Folders) -> str:
    """How the runs' output folders were placed, for the method line."""
    if folders.spread and folders.per_flex_group:
        return (
            "Every run writes into its own folder, made before the contest in an ext4 flex "
            "group no other run's folder uses (chattr +T on their parent), and removed after "
            "the run: no run creates files where another just removed some, so none pays "
            "ext4's skipping of inodes freed in the last minute (a filesystem without a "
            "journal); see the script's docstring."
        )
    return (
        "Every run writes into its own folder, removed after the run; the folders could not "
        "be spread over ext4 block groups here (chattr +T failed or the filesystem's inodes "
        "per group are unknown), so a run may create files where the one before removed some."
    )


def report(results: list[Result], lines: list[str]) -> None:
    out = stdout_console(160)
    title = "keel object store vs peers (MB/s, 1 MB = 10^6 bytes)"
    table = rich_table(title, COLUMNS, (cells(r) for r in results), LEFT)
    for line in lines[:-1]:
        out.print(line)
    out.print(table)
    out.print(lines[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_dir_option(parser)
    parser.add_argument("--size-mib", type=int, default=1024, help="total size of each data set")
    parser.add_argument("--files", type=int, default=2000, help="number of small files")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measure")
    parser.add_argument(
        "--tiny-files", type=int, default=20_000, help="files of 1-4 KiB for put_many (0: none)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown here")
    args = parser.parse_args(argv)
    if args.size_mib < 1 or args.files < 1 or args.repeat < 1:
        parser.error("--size-mib, --files and --repeat must be at least 1")
    if args.tiny_files < 0:
        parser.error("--tiny-files must be 0 or more")
    if args.files > args.size_mib * MIB:
        parser.error("--files cannot exceed the number of bytes in --size-mib")

    warn_if_busy("other work will slow keel and its peers unevenly")
    work = Path(tempfile.mkdtemp(prefix="keel-bench-objects-", dir=args.dir))
    try:
        log.log(f"writing data to {work}")
        data_dir = work / "data"
        data_dir.mkdir()
        large, small = make_data(data_dir, args.size_mib * MIB, args.files)
        folders = Folders(work / "runs")
        start = Load.now()
        results = bench_data_set(large, work, folders, args.repeat)
        results += bench_data_set(small, work, folders, args.repeat)
        sets, extra = [large, small], []
        if args.tiny_files:
            tiny = make_tiny(data_dir, args.tiny_files)
            tiny_results, note = bench_tiny(tiny, work, folders, args.repeat)
            results += tiny_results
            sets.append(tiny)
            extra.append(note)
        load = load_summary(start, Load.now(), steal=True) + "."
        lines = notes(sets, args.repeat, load, folders)
        lines[-1:-1] = extra
        report(results, lines)
        if args.markdown:
            args.markdown.write_text(markdown(COLUMNS, [cells(r) for r in results], LEFT, lines))
    finally:
        shutil.rmtree(work)
        log.log(f"removed {work}")
    print_json("objects", [r.to_json() for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
