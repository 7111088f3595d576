"""Run ``git`` and read what it prints, without :mod:`subprocess`.

Importing :mod:`subprocess` (with ``signal``, ``selectors``, ``threading``, ``locale``)
costs a clean ``keel data status`` more than the whole git command it runs. The two git
calls of the quick paths need only a spawn, stdout and the exit code, which
``os.posix_spawnp`` and a pipe give.
"""

from __future__ import annotations

import os

__all__ = ["git", "ignore_in_git"]


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
