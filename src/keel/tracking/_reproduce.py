"""Re-run a recorded run from its recorded code, and compare what comes out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from keel.config import Config
from keel.errors import InvalidInput, KeelError, NotFound, PermissionDenied

from ._backend import TrackingBackend
from ._capture import CAPTURED_BY
from ._records import RunQuery, RunRecord
from ._tracker import REPRODUCES_ENV

__all__ = ["Reproduction", "ReproductionPlan", "plan_reproduction", "reproduce"]

DIFF_ARTIFACT = "keel/code.diff"
LOGGED_BY_TAG = "keel.logged_by"
"""Set by the platform server from the token that created a run; clients cannot set it."""

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_MAX_ARGS, _MAX_ARG_CHARS = 1000, 4096


@dataclass(frozen=True)
class ReproductionPlan:
    """Exactly what ``keel runs reproduce`` would run, for a person to read before it does.

    Attributes:
        run: the recorded run.
        commit: the git commit checked out.
        repo: the local clone holding the commit.
        command: the arguments after the interpreter (``["train.py", "--lr", "0.1"]`` or
            ``["-m", "pkg.train", ...]``), run from ``cwd`` inside the checkout.
        cwd: the working directory relative to the repository root.
        diff_files: (path, lines added, lines removed) of the recorded uncommitted changes.
        logged_by: who recorded the run: the server's token name when it came through a
            server, and the user name the logging process reported.
        problems: why the record does not look like keel's own capture (empty if it does).
    """

    run: RunRecord
    commit: str
    repo: Path
    command: tuple[str, ...]
    cwd: str
    diff_files: tuple[tuple[str, int, int], ...]
    logged_by: dict[str, str]
    problems: tuple[str, ...]


@dataclass
class Reproduction:
    """The outcome of ``keel runs reproduce``: the old and new runs and their metrics."""

    original: RunRecord
    new_runs: list[RunRecord]
    returncode: int
    workdir: Path
    notes: list[str] = field(default_factory=list)

    def metric_changes(self) -> list[tuple[str, float | None, float | None]]:
        """(key, original value, reproduced value) for every metric of either run."""
        new = self.new_runs[0].metrics if self.new_runs else {}
        keys = sorted(set(self.original.metrics) | set(new))
        return [
            (k, self.original.metrics.get(k), new.get(k))
            for k in keys
            if not k.startswith("system/")
        ]


def plan_reproduction(run_id: str, backend: TrackingBackend) -> ReproductionPlan:
    """What reproducing ``run_id`` would run, checked against the shape keel's capture writes.

    Nothing runs and nothing is written. A record any writer could have made by hand (no
    ``captured_by`` mark, an entry point outside the repository, a module the commit does
    not contain) is listed in :attr:`ReproductionPlan.problems`.

    Raises:
        InvalidInput: the run recorded no git commit or entry point.
        NotFound: no local clone holds the commit.
    """
    original = backend.get_run(run_id)
    code = original.code if isinstance(original.code, dict) else {}
    git = code.get("git") if isinstance(code.get("git"), dict) else {}
    commit = git.get("commit")
    if not isinstance(commit, str) or not commit:
        raise InvalidInput(
            f"Run {run_id} recorded no git commit (it ran outside a git repository, or with "
            "capture=False), so it cannot be reproduced from source."
        )
    entry, argv = code.get("entry_point"), code.get("argv")
    if not isinstance(entry, str) or not entry:
        raise InvalidInput(
            f"Run {run_id} recorded no entry point (it ran interactively or with python -c); "
            "only scripts and 'python -m' modules can be re-run."
        )
    problems: list[str] = []
    if code.get("captured_by") != CAPTURED_BY:
        problems.append("the code record carries no mark of keel's own capture")
    if not _COMMIT.fullmatch(commit):
        raise InvalidInput(f"Run {run_id} recorded {commit[:60]!r}, which is not a git commit id.")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        problems.append("the recorded arguments are not a list of strings")
        argv = []
    if len(argv) > _MAX_ARGS or any(len(a) > _MAX_ARG_CHARS for a in argv):
        problems.append(f"more than {_MAX_ARGS} arguments or one over {_MAX_ARG_CHARS} chars")
    repo = _find_repo(git, commit)
    root = git.get("root")
    cwd = code.get("cwd")
    relative = "."
    if isinstance(cwd, str) and isinstance(root, str) and Path(cwd).is_relative_to(root):
        relative = str(Path(cwd).relative_to(root))
    command = _planned_command(repo, commit, entry, argv[1:], relative, problems)
    diff = b""
    if any(a.name == DIFF_ARTIFACT for a in original.artifacts):
        with backend.open_artifact(run_id, DIFF_ARTIFACT) as fh:
            diff = fh.read()
    logged_by = {
        key: original.tags[tag]
        for key, tag in (("server token", LOGGED_BY_TAG), ("user (self-reported)", "keel.user"))
        if tag in original.tags
    }
    return ReproductionPlan(
        run=original,
        commit=commit,
        repo=repo,
        command=tuple(command),
        cwd=relative,
        diff_files=_diff_summary(diff),
        logged_by=logged_by,
        problems=tuple(problems),
    )


def reproduce(
    run_id: str | ReproductionPlan,
    backend: TrackingBackend,
    config: Config,
    *,
    keep: bool = False,
    allow_foreign_code: bool = False,
) -> Reproduction:
    """Check out the run's commit in a git worktree, apply its recorded diff and re-run
    its entry point with the same arguments against the same store.

    The new run is tagged ``keel.reproduces=<run_id>``. This runs whatever code the record
    names: look at :func:`plan_reproduction` first (the CLI shows it and asks).

    Args:
        run_id: the run, or a plan made for it.
        backend: where the run is recorded.
        config: the store the re-run logs to.
        keep: keep the git worktree afterwards.
        allow_foreign_code: run a record that does not look like keel's own capture.

    Raises:
        InvalidInput: the run recorded no git commit or entry point.
        PermissionDenied: the record does not look like keel's capture (see the plan).
        KeelError: the commit cannot be checked out or the diff does not apply.
    """
    plan = run_id if isinstance(run_id, ReproductionPlan) else plan_reproduction(run_id, backend)
    original = plan.run
    if plan.problems and not allow_foreign_code:
        raise PermissionDenied(
            f"Run {original.id}'s code record did not come from keel's own capture: "
            f"{'; '.join(plan.problems)}. Any writer can record a run, so reproducing it "
            "could run anything. Read the plan ('keel runs reproduce RUN' shows it) and pass "
            "--allow-foreign-code (allow_foreign_code=True) only if you trust who logged it."
        )
    workdir = Path(tempfile.mkdtemp(prefix=f"keel-reproduce-{original.id[:8]}-"))
    notes: list[str] = []
    _git(plan.repo, "worktree", "add", "--detach", str(workdir), plan.commit)
    try:
        if plan.diff_files:
            patch = workdir / ".keel-reproduce.diff"
            with backend.open_artifact(original.id, DIFF_ARTIFACT) as fh:
                patch.write_bytes(fh.read())
            _git(workdir, "apply", "--whitespace=nowarn", str(patch))
            patch.unlink()
            notes.append("applied the recorded uncommitted changes")
        for key, ref in sorted(original.tags.items()):
            if key.startswith("keel.input."):
                notes.append(f"input {ref}: restoring datasets needs keel's data capability")
        head, *rest = plan.command
        command = [sys.executable, head if head == "-m" else str(workdir / head), *rest]
        cwd = workdir / plan.cwd if (workdir / plan.cwd).is_dir() else workdir
        env = {
            **os.environ,
            REPRODUCES_ENV: original.id,
            "KEEL_URI": config.uri,
            "KEEL_PROJECT": config.project,
        }
        if config.objects:
            env["KEEL_OBJECTS"] = config.objects
        started = _now_ms()
        # the re-run's output goes to stderr, so stdout stays clean for --json
        returncode = subprocess.run(
            command, cwd=cwd, env=env, check=False, stdout=sys.stderr
        ).returncode
        new_runs = [
            r
            for r in backend.search_runs(
                RunQuery(
                    (original.experiment,),
                    filter=f"tags.`keel.reproduces` = '{original.id}'",
                    order_by=("attributes.created_at desc",),
                    max_results=100,
                )
            )
            if r.created_at >= started
        ]
    finally:
        if not keep:
            _git(plan.repo, "worktree", "remove", "--force", str(workdir))
    return Reproduction(original, new_runs, returncode, workdir, notes)


def _planned_command(
    repo: Path, commit: str, entry: str, args: list[str], cwd: str, problems: list[str]
) -> list[str]:
    """The interpreter's arguments for ``entry``, which must lie inside the commit: a
    script relative to the repository root, or a module found from ``cwd``."""
    path = PurePosixPath(entry)
    if entry.endswith(".py"):
        if path.is_absolute() or ".." in path.parts:
            problems.append(f"the entry point {entry[:200]} lies outside the repository")
        elif not _in_commit(repo, commit, entry):
            problems.append(f"the entry point {entry[:200]} is not in commit {commit[:12]}")
        return [entry, *args]
    if not _MODULE.fullmatch(entry):
        problems.append(f"the entry point {entry[:200]!r} is neither a script nor a module")
        return ["-m", entry, *args]
    module = str(PurePosixPath(cwd) / entry.replace(".", "/"))
    if not any(
        _in_commit(repo, commit, candidate)
        for candidate in (f"{module}.py", f"{module}/__main__.py")
    ):
        problems.append(
            f"the module {entry} is not in commit {commit[:12]} (python -m would run an "
            "installed module instead)"
        )
    return ["-m", entry, *args]


def _in_commit(repo: Path, commit: str, path: str) -> bool:
    return _git_or_none(repo, "cat-file", "-e", f"{commit}:{path}") is not None


def _diff_summary(diff: bytes) -> tuple[tuple[str, int, int], ...]:
    files: list[list] = []
    for line in diff.decode("utf-8", "replace").splitlines():
        if line.startswith("diff --git "):
            files.append([line.rsplit(" b/", 1)[-1], 0, 0])
        elif files and line.startswith("+") and not line.startswith("+++"):
            files[-1][1] += 1
        elif files and line.startswith("-") and not line.startswith("---"):
            files[-1][2] += 1
    return tuple((name, added, removed) for name, added, removed in files)


def _find_repo(git: dict, commit: str) -> Path:
    candidates = [Path(git["root"])] if git.get("root") else []
    here = _git_or_none(Path.cwd(), "rev-parse", "--show-toplevel")
    if here:
        candidates.append(Path(here))
    for repo in candidates:
        if (
            repo.is_dir()
            and _git_or_none(repo, "cat-file", "-e", f"{commit}^{{commit}}") is not None
        ):
            return repo
    raise NotFound(
        f"Commit {commit} is not in {' or '.join(map(str, candidates)) or 'any repository here'}. "
        "Run 'keel runs reproduce' inside a clone of the repository that has the commit "
        "(git fetch first)."
    )


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise KeelError(f"git {' '.join(args[:2])} failed in {repo}: {result.stderr.strip()}")
    return result.stdout.strip()


def _git_or_none(repo: Path, *args: str) -> str | None:
    try:
        return _git(repo, *args)
    except (KeelError, OSError):
        return None


def _now_ms() -> int:
    from keel.store import now_ms

    return now_ms()
