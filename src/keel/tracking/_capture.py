"""What a run needs to be reproduced: the code (git state, entry point) and the environment.

Both captures are cached for the life of the process. That is correct, not merely fast:
the code and packages a process runs are the ones it loaded when it started. A module
edited after import, or a package upgraded with pip while a training loop runs, does not
change what this process executes, so a later capture would describe code the process is
*not* running. Caching also makes creating thousands of runs in a loop cheap (listing the
installed distributions alone takes tens of milliseconds). The returned dictionaries are
shared between callers: treat them as read-only (``copy.deepcopy`` one to edit it).
:func:`clear_cache` forgets everything, for tests.

Git is asked through a few ``git`` subprocesses with a short timeout. Nothing here raises
for git problems: git missing, not a repository, or a repository without commits all give
a valid result with ``None`` where the answer is unknown.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil

from keel._plural import count

__all__ = ["CAPTURED_BY", "capture_code", "capture_environment", "clear_cache", "code_diff"]

CAPTURED_BY = "keel"
"""The ``captured_by`` mark of a code record keel's own capture wrote (``keel runs
reproduce`` refuses records without it unless told otherwise)."""

_logger = logging.getLogger("keel.tracking")

_QUERY_TIMEOUT = 5.0
_DIFF_TIMEOUT = 30.0
_MAX_UNTRACKED_BYTES = 10 * 1024 * 1024
# GIT_OPTIONAL_LOCKS=0: `git status` must not take index.lock, or capturing would race with
# the user's own git commands. GIT_TERMINAL_PROMPT=0: never wait on a credential prompt.
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
# A diff independent of the user's configuration (external diff tools, textconv filters,
# colour, noprefix, unquoted paths), so `git apply` always accepts it.
_DIFF = (
    "-c",
    "core.quotePath=true",
    "diff",
    "--binary",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


def capture_code(cwd: Path | None = None) -> dict[str, Any]:
    """Describe the code this process runs: git state, entry point, arguments, interpreter.

    Args:
        cwd: Directory whose git repository is described; the current directory if None.

    Returns:
        ``{"git": {"commit", "branch", "remote", "dirty", "root"} or None, "entry_point",
        "argv", "cwd", "executable", "captured_by"}``. ``git`` is None outside a repository
        or without git; ``commit`` is None in a repository with no commits, ``branch`` is None on a
        detached HEAD, ``remote`` (the URL of ``origin``, else of the first remote) has any
        credentials removed. ``entry_point`` is the script path relative to the repository
        root when inside it (absolute otherwise), the module name for ``python -m``, or
        None for ``python -c`` and interactive sessions. Cached per process.
    """
    return _capture_code(_directory(cwd))


def code_diff(cwd: Path | None = None) -> str | None:
    """Return the uncommitted changes as a patch ``git apply`` can apply onto the commit.

    The patch holds ``git diff <commit> --binary`` (staged and unstaged changes to tracked
    files) followed by every untracked, non-ignored file as a new-file patch. Untracked
    files larger than 10 MiB are left out and named in a warning on the ``keel.tracking``
    logger. The commit is the one :func:`capture_code` recorded, so the two always agree.
    The patch is UTF-8 text: a text file in another encoding is included as a binary
    patch, which is ASCII and just as exact. (Only a repository whose own .gitattributes
    forces a text diff of such a file can leave bytes that are not UTF-8; they are kept as
    surrogate escapes, so ``patch.encode("utf-8", "surrogateescape")`` is always exact.)
    Cached per process.

    Args:
        cwd: Directory inside the repository; the current directory if None.

    Returns:
        The patch, or None when the working tree is clean or not in a git repository.
    """
    return _code_diff(_directory(cwd))


def capture_environment() -> dict[str, Any]:
    """Describe the interpreter, installed packages, operating system and machine.

    Returns:
        ``{"python": {"version", "implementation", "executable"}, "packages": {name:
        version}, "os": {"system", "release", "platform"}, "cpu": {"model", "count"},
        "memory_bytes", "hostname"}``. Package names are normalised (lowercase, runs of
        ``-_.`` become ``-``); when a name is installed twice, the copy found first on
        ``sys.path`` (the one imports use) wins. Cached per process.
    """
    return _capture_environment()


def clear_cache() -> None:
    """Forget every cached capture, so the next call looks again."""
    _capture_code.cache_clear()
    _code_diff.cache_clear()
    _capture_environment.cache_clear()


def _directory(cwd: Path | None) -> str:
    # os.getcwd() is already absolute and free of symlinks; resolve() costs ~40 us a call.
    return os.getcwd() if cwd is None else str(Path(cwd).resolve())


@functools.cache
def _capture_code(cwd: str) -> dict[str, Any]:
    git = _git_state(cwd)
    root = git["root"] if git else None
    return {
        "git": git,
        "entry_point": _entry_point(root),
        "argv": list(sys.argv),
        "cwd": cwd,
        "executable": sys.executable,
        "captured_by": CAPTURED_BY,
    }


@functools.cache
def _code_diff(cwd: str) -> str | None:
    git = _capture_code(cwd)["git"]
    if git is None:
        return None
    root = git["root"]
    base = git["commit"] or _empty_tree(root)
    if base is None:
        return None
    tracked = _tracked_patch(root, base)
    if tracked is None:
        return None
    parts = [tracked]
    listing = _git(root, "ls-files", "--others", "--exclude-standard", "-z") or b""
    skipped = []
    for raw in listing.split(b"\0"):
        # A nested repository is listed as "dir/"; its contents are not ours to record.
        if not raw or raw.endswith(b"/"):
            continue
        name = os.fsdecode(raw)
        try:
            size = os.lstat(os.path.join(root, name)).st_size
        except OSError:
            continue  # deleted since it was listed
        if size > _MAX_UNTRACKED_BYTES:
            skipped.append(name)
            continue
        patch = _text_patch(root, ("--no-index", "--", os.devnull, name), ok_codes=(0, 1))
        if patch:
            parts.append(patch)
    if skipped:
        _logger.warning(
            "code_diff left out %s larger than %d MiB: %s. Commit them, "
            "add them to .gitignore, or log them as artifacts to keep them with the run.",
            count(skipped, "untracked file"),
            _MAX_UNTRACKED_BYTES // (1024 * 1024),
            ", ".join(skipped),
        )
    patch = b"".join(parts)
    return patch.decode("utf-8", "surrogateescape") if patch else None


def _tracked_patch(root: str, base: str) -> bytes | None:
    """Patch of the tracked files against ``base``, UTF-8 even if some files are not."""
    patch = _git(root, *_DIFF, base, "--", timeout=_DIFF_TIMEOUT)
    if patch is None or _is_utf8(patch):
        return patch
    # Rare: a text file in another encoding (Latin-1, say). Diff file by file and send
    # those files through _text_patch; without renames, each file's patch stands alone.
    names = _git(root, "diff", "--name-only", "--no-renames", "-z", base, "--")
    if names is None:
        return None
    parts = []
    for raw in filter(None, names.split(b"\0")):
        part = _text_patch(root, ("--no-renames", base, "--", os.fsdecode(raw)))
        if part is None:
            return None
        parts.append(part)
    return b"".join(parts)


def _text_patch(root: str, args: tuple[str, ...], ok_codes: tuple[int, ...] = (0,)) -> bytes | None:
    """Diff one file; if its patch is not UTF-8, diff it again as a binary file.

    A base85 binary patch is ASCII and just as exact, so the whole patch stays text that
    can be stored as a string. (A repository's own .gitattributes can still insist on a
    text diff; those bytes end up as surrogate escapes.)
    """
    patch = _git(
        root, "--literal-pathspecs", *_DIFF, *args, ok_codes=ok_codes, timeout=_DIFF_TIMEOUT
    )
    if patch is None or _is_utf8(patch):
        return patch
    with tempfile.TemporaryDirectory(prefix="keel-diff-") as tmp:
        attributes = Path(tmp, "attributes")
        attributes.write_text("* binary\n")
        binary = ("-c", f"core.attributesFile={attributes}", "--literal-pathspecs", *_DIFF)
        return _git(root, *binary, *args, ok_codes=ok_codes, timeout=_DIFF_TIMEOUT)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@functools.cache
def _capture_environment() -> dict[str, Any]:
    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name, version = _name_and_version(dist)
        if name and version:
            packages.setdefault(re.sub(r"[-_.]+", "-", name).lower(), version)
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": dict(sorted(packages.items())),
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "platform": platform.platform(),
        },
        "cpu": {"model": _cpu_model(), "count": os.cpu_count()},
        "memory_bytes": psutil.virtual_memory().total,
        "hostname": socket.gethostname(),
    }


def _name_and_version(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    """Read Name and Version from the metadata file's header block.

    ``dist.metadata`` parses the whole file, long description included, with the email
    package; reading the few header lines directly makes listing packages about 5x faster.
    """
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if text is None:
        return None, None
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep and key.lower() in {"name", "version"}:
            fields.setdefault(key.lower(), value.strip())
    return fields.get("name"), fields.get("version")


def _git(
    cwd: str, *args: str, ok_codes: tuple[int, ...] = (0,), timeout: float = _QUERY_TIMEOUT
) -> bytes | None:
    """Run ``git -C cwd *args``; its stdout, or None if git is missing, fails or hangs."""
    try:
        done = subprocess.run(
            ["git", "-C", cwd, *args],
            capture_output=True,
            timeout=timeout,
            env={**os.environ, **_GIT_ENV},
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        _logger.debug("git %s failed in %s: %s", args[0], cwd, exc)
        return None
    if done.returncode not in ok_codes:
        _logger.debug("git %s exited %d in %s: %s", args[0], done.returncode, cwd, done.stderr)
        return None
    return done.stdout


def _git_state(cwd: str) -> dict[str, Any] | None:
    top = _git(cwd, "rev-parse", "--show-toplevel")
    if not top:
        return None
    root = os.fsdecode(top.rstrip(b"\n"))
    # One status call answers commit, branch and dirtiness: porcelain v2 headers carry
    # "branch.oid" ("(initial)" before the first commit) and "branch.head" ("(detached)").
    status = _git(root, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal")
    if status is None:
        return None
    commit = branch = None
    dirty = False
    for entry in status.split(b"\0"):
        if entry.startswith(b"# branch.oid "):
            oid = entry[len(b"# branch.oid ") :].decode()
            commit = None if oid == "(initial)" else oid
        elif entry.startswith(b"# branch.head "):
            head = os.fsdecode(entry[len(b"# branch.head ") :])
            branch = None if head == "(detached)" else head
        elif entry and not entry.startswith(b"#"):
            dirty = True
    return {
        "commit": commit,
        "branch": branch,
        "remote": _remote_url(root),
        "dirty": dirty,
        "root": root,
    }


def _remote_url(root: str) -> str | None:
    # `config -z --get-regexp` prints "key\nvalue\0" per entry; exit code 1 means no remote.
    out = _git(root, "config", "-z", "--get-regexp", r"^remote\..*\.url$")
    if not out:
        return None
    urls: dict[str, str] = {}
    for entry in out.split(b"\0"):
        key, _, value = os.fsdecode(entry).partition("\n")
        if key:
            urls.setdefault(key.removeprefix("remote.").removesuffix(".url"), value)
    if not urls:
        return None
    return _strip_credentials(urls.get("origin") or next(iter(urls.values())))


def _strip_credentials(url: str) -> str:
    """Drop user and password from a URL; keep an ssh user name, which is not a secret."""
    parts = urlsplit(url)
    if "@" not in parts.netloc or not parts.scheme:
        return url  # scp-like "git@host:org/repo.git" or a local path
    userinfo, _, host = parts.netloc.rpartition("@")
    if parts.scheme in {"ssh", "git+ssh", "ssh+git"}:
        host = f"{userinfo.partition(':')[0]}@{host}"
    return urlunsplit(parts._replace(netloc=host))


def _empty_tree(root: str) -> str | None:
    # The empty tree's id depends on the repository's hash function (SHA-1 or SHA-256).
    out = _git(root, "hash-object", "-t", "tree", os.devnull)
    return out.decode().strip() if out else None


def _entry_point(root: str | None) -> str | None:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        # `python -m pkg` runs "pkg.__main__"; record what the user typed. (Running a
        # directory or zip file gives the spec name "__main__": use its path below.)
        return spec.name.removesuffix(".__main__")
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 in {"", "-c", "-"}:
        return None  # interactive, `python -c` or a program read from stdin
    # __main__.__file__ is absolute (Python 3.9+), so a later os.chdir cannot mislead us.
    script = getattr(main, "__file__", None) or argv0
    path = Path(script).resolve()
    if root is not None and path.is_relative_to(Path(root).resolve()):
        return path.relative_to(Path(root).resolve()).as_posix()
    return str(path)


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in {"model name", "Hardware", "cpu model"} and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None
