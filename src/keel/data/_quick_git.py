"""Run ``git`` and read what it prints, without :mod:`subprocess`.

Importing :mod:`subprocess` (with ``signal``, ``selectors``, ``threading``, ``locale``)
costs a clean ``keel data status`` more than the whole git command it runs. The two git
calls of the quick paths need only a spawn, stdout and the exit code, which
``os.posix_spawnp`` and a pipe give.
"""

from __future__ import annotations

import os

__all__ = ["GitCheckIgnore", "git", "ignore_in_git"]


def git(args: list[str], cwd: str) -> tuple[int, bytes] | None:
    """``git *args`` run in ``cwd`` (stdin inherited, stderr dropped): its exit code and
    stdout; None when git cannot be started (as ``subprocess.run`` raises ``OSError``)."""
    read, write = os.pipe()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:  # 'git -C cwd' as subprocess.run(cwd=cwd): posix_spawn has no cwd before 3.13
        pid = os.posix_spawnp(
            "git",
            ["git", "-C", cwd, *args],
            {**os.environ},
            file_actions=[
                (os.POSIX_SPAWN_DUP2, write, 1),
                (os.POSIX_SPAWN_DUP2, devnull, 2),
                (os.POSIX_SPAWN_CLOSE, read),
            ],
        )
    except OSError:
        os.close(read)
        return None
    finally:
        os.close(write)
        os.close(devnull)
    chunks = []
    with open(read, "rb", closefd=True) as out:
        while chunk := out.read(1 << 16):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


def ignore_in_git(target: str) -> str | None:
    """``_ignore_in_git`` of :mod:`keel.data._workspace`: keep ``target`` out of git by
    adding ``/name`` to the .gitignore beside it; the .gitignore written, or None when
    git already ignores the path or the line is there."""
    folder, name = os.path.split(target)
    checked = git(["check-ignore", "-q", "--", name], folder)
    if checked is not None and checked[0] == 0:
        return None
    gitignore = os.path.join(folder, ".gitignore")
    line = "/" + "".join(f"\\{c}" if c in "*?[\\" else c for c in name)
    text = ""
    if os.path.isfile(gitignore):
        with open(gitignore, encoding="utf-8") as fh:
            text = fh.read()
    if line in text.splitlines() or f"{line}/" in text.splitlines():
        return None
    with open(gitignore, "a", encoding="utf-8") as fh:
        fh.write(("\n" if text and not text.endswith("\n") else "") + line + "\n")
    return gitignore


class GitCheckIgnore:
    """``git check-ignore -q -- name`` of a path, started at once and answered later.

    ``keel data add`` starts it before storing the files and asks :meth:`ignored` when
    it writes the pointer, so git runs while the files are copied (a git process is
    several milliseconds of an add's critical path otherwise). It only reads: a started
    check that is never asked (the add failed) is ended by :meth:`close`.
    """

    def __init__(self, target: str) -> None:
        folder, name = os.path.split(target)
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            self._pid: int | None = os.posix_spawnp(
                "git",
                ["git", "-C", folder, "check-ignore", "-q", "--", name],
                {**os.environ},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, devnull, 1),
                    (os.POSIX_SPAWN_DUP2, devnull, 2),
                ],
            )
        except OSError:
            self._pid = None  # no git: not ignored, as subprocess.run's OSError meant
        finally:
            os.close(devnull)

    def ignored(self) -> bool:
        """Whether git ignores the path (it exited 0); waits for it to finish."""
        if self._pid is None:
            return False
        pid, self._pid = self._pid, None
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0

    def close(self) -> None:
        """End the check if it was never asked (no zombie is left either way)."""
        if self._pid is None:
            return
        pid, self._pid = self._pid, None
        if os.waitpid(pid, os.WNOHANG)[0] == 0:  # still running (and so not reaped)
            import signal

            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
