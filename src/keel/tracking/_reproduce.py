"""Re-run a recorded run from its recorded code, and compare what comes out."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from keel.config import Config
from keel.errors import InvalidInput, KeelError, NotFound

from ._backend import TrackingBackend
from ._records import RunQuery, RunRecord
from ._tracker import REPRODUCES_ENV

__all__ = ["Reproduction", "reproduce"]

DIFF_ARTIFACT = "keel/code.diff"


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


def reproduce(
    run_id: str, backend: TrackingBackend, config: Config, *, keep: bool = False
) -> Reproduction:
    """Check out the run's commit in a git worktree, apply its recorded diff and re-run
    its entry point with the same arguments against the same store.

    The new run is tagged ``keel.reproduces=<run_id>``.

    Raises:
        InvalidInput: the run recorded no git commit or entry point.
        KeelError: the commit cannot be checked out or the diff does not apply.
    """
    original = backend.get_run(run_id)
    code = original.code or {}
    git = code.get("git") or {}
    if not git.get("commit"):
        raise InvalidInput(
            f"Run {run_id} recorded no git commit (it ran outside a git repository, or with "
            "capture=False), so it cannot be reproduced from source."
        )
    entry, argv = code.get("entry_point"), list(code.get("argv") or [])
    if not entry:
        raise InvalidInput(
            f"Run {run_id} recorded no entry point (it ran interactively or with python -c); "
            "only scripts and 'python -m' modules can be re-run."
        )
    repo = _find_repo(git, git["commit"])
    workdir = Path(tempfile.mkdtemp(prefix=f"keel-reproduce-{run_id[:8]}-"))
    notes: list[str] = []
    _git(repo, "worktree", "add", "--detach", str(workdir), git["commit"])
    try:
        if any(a.name == DIFF_ARTIFACT for a in original.artifacts):
            patch = workdir / ".keel-reproduce.diff"
            with backend.open_artifact(run_id, DIFF_ARTIFACT) as fh:
                patch.write_bytes(fh.read())
            _git(workdir, "apply", "--whitespace=nowarn", str(patch))
            patch.unlink()
            notes.append("applied the recorded uncommitted changes")
        for key, ref in sorted(original.tags.items()):
            if key.startswith("keel.input."):
                notes.append(f"input {ref}: restoring datasets needs keel's data capability")
        command = _command(workdir, entry, argv)
        cwd = _run_cwd(workdir, code.get("cwd"), git.get("root"))
        env = {
            **os.environ,
            REPRODUCES_ENV: run_id,
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
                    filter=f"tags.`keel.reproduces` = '{run_id}'",
                    order_by=("attributes.created_at desc",),
                    max_results=100,
                )
            )
            if r.created_at >= started
        ]
    finally:
        if not keep:
            _git(repo, "worktree", "remove", "--force", str(workdir))
    return Reproduction(original, new_runs, returncode, workdir, notes)


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


def _command(workdir: Path, entry: str, argv: list[str]) -> list[str]:
    args = argv[1:]
    if (workdir / entry).is_file():
        return [sys.executable, str(workdir / entry), *args]
    if Path(entry).is_absolute():
        raise InvalidInput(
            f"The entry point {entry} lies outside the repository, so the recorded commit does "
            "not contain it."
        )
    return [sys.executable, "-m", entry, *args]


def _run_cwd(workdir: Path, cwd: str | None, root: str | None) -> Path:
    if cwd and root and Path(cwd).is_relative_to(root):
        target = workdir / Path(cwd).relative_to(root)
        if target.is_dir():
            return target
    return workdir


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
