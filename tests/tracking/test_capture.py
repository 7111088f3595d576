"""Code and environment capture, checked against real git repositories and real metadata."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.tracking import _capture
from keel.tracking._capture import capture_code, capture_environment, clear_cache, code_diff

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No cached capture leaks between tests; the developer's git config is not read."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    clear_cache()
    yield
    clear_cache()


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` as a throwaway identity; return stdout without the final newline."""
    identity = ("-c", "user.email=test@example.com", "-c", "user.name=Test")
    done = subprocess.run(
        ["git", "-C", str(cwd), *identity, "-c", "commit.gpgsign=false", *args],
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().rstrip("\n")


def new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


@pytest.fixture
def dirty_repo(tmp_path: Path) -> Path:
    """A committed repository, then: edited text (UTF-8 and Latin-1) and binary files, a
    staged new file, untracked files (text, binary, executable, Latin-1, odd names, in a
    new folder) and an ignored file."""
    repo = new_repo(tmp_path / "repo")
    (repo / "train.py").write_text("lr = 0.1\n")
    (repo / "weights.bin").write_bytes(bytes(range(256)))
    (repo / "legacy.txt").write_bytes(b"na\xefve\n")
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "remote", "add", "origin", "https://alice:ghp_s3cret@example.com/org/repo.git")
    (repo / "train.py").write_text("lr = 0.01\nepochs = 3\n")
    (repo / "weights.bin").write_bytes(bytes(range(255, -1, -1)) + b"\0tail")
    (repo / "legacy.txt").write_bytes(b"na\xefve, in Latin-1\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "notes.md").write_text("untracked é\n")
    (repo / "src").mkdir()
    (repo / "src" / "blob.bin").write_bytes(b"\0\1\2\3" * 100)
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    (repo / "my notes ü.txt").write_text("spaces and unicode in the name\n")
    (repo / "latin1.txt").write_bytes(b"caf\xe9 is not UTF-8\n")
    (repo / "debug.log").write_text("ignored\n")
    return repo


CHANGED = [
    "train.py",
    "weights.bin",
    "staged.txt",
    "notes.md",
    "src/blob.bin",
    "run.sh",
    "my notes ü.txt",
    "latin1.txt",
    "legacy.txt",
]


def apply_patch(patch: str, target: Path, tmp_path: Path) -> None:
    patch_file = tmp_path / "changes.patch"
    patch_file.write_bytes(patch.encode("utf-8"))  # strict: the patch is always UTF-8
    git(target, "apply", str(patch_file))


@needs_git
def test_capture_code_records_commit_branch_remote_and_dirtiness(dirty_repo: Path) -> None:
    code = capture_code(dirty_repo)
    assert code["git"] == {
        "commit": git(dirty_repo, "rev-parse", "HEAD"),
        "branch": "main",
        "remote": "https://example.com/org/repo.git",
        "dirty": True,
        "root": str(dirty_repo.resolve()),
    }
    assert code["argv"] == sys.argv
    assert code["cwd"] == str(dirty_repo.resolve())
    assert code["executable"] == sys.executable


@needs_git
def test_code_diff_applied_to_the_recorded_commit_rebuilds_the_working_tree(
    dirty_repo: Path, tmp_path: Path
) -> None:
    commit = capture_code(dirty_repo)["git"]["commit"]
    patch = code_diff(dirty_repo)
    assert patch is not None
    checkout = tmp_path / "checkout"
    git(dirty_repo, "worktree", "add", "-q", "--detach", str(checkout), commit)

    apply_patch(patch, checkout, tmp_path)

    for name in CHANGED:
        assert (checkout / name).read_bytes() == (dirty_repo / name).read_bytes(), name
    assert os.access(checkout / "run.sh", os.X_OK)
    assert not (checkout / "debug.log").exists()
    assert "ghp_s3cret" not in patch
    assert "+lr = 0.01" in patch  # UTF-8 text stays a readable text diff


@needs_git
def test_a_clean_detached_checkout_has_no_diff_and_no_branch(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "checkout", "-q", "--detach")
    (repo / "sub").mkdir()

    code = capture_code(repo / "sub")

    assert code["git"]["branch"] is None
    assert code["git"]["dirty"] is False
    assert code["git"]["remote"] is None
    assert code["git"]["root"] == str(repo.resolve())
    assert code_diff(repo / "sub") is None


@needs_git
def test_a_repository_without_commits_has_no_commit_and_a_diff_from_nothing(
    tmp_path: Path,
) -> None:
    repo = new_repo(tmp_path / "repo")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "untracked.txt").write_text("untracked\n")

    code = capture_code(repo)
    patch = code_diff(repo)

    assert code["git"]["commit"] is None
    assert code["git"]["branch"] == "main"
    assert code["git"]["dirty"] is True
    assert patch is not None
    empty = new_repo(tmp_path / "empty")
    apply_patch(patch, empty, tmp_path)
    for name in ("staged.txt", "untracked.txt"):
        assert (empty / name).read_text() == (repo / name).read_text()


def test_outside_any_repository_git_is_none(tmp_path: Path) -> None:
    code = capture_code(tmp_path)
    assert code["git"] is None
    assert code["cwd"] == str(tmp_path.resolve())
    assert code_diff(tmp_path) is None


@needs_git
def test_without_git_installed_capture_still_works(
    dirty_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    assert capture_code(dirty_repo)["git"] is None
    assert code_diff(dirty_repo) is None


@needs_git
def test_large_untracked_files_are_left_out_with_a_warning(
    dirty_repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_capture, "_MAX_UNTRACKED_BYTES", 100)
    monkeypatch.setattr(logging.getLogger("keel"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="keel.tracking")

    patch = code_diff(dirty_repo)

    assert patch is not None
    assert "b/src/blob.bin" not in patch
    assert "b/notes.md" in patch
    assert "left out 1 untracked file larger" in caplog.text
    assert "src/blob.bin" in caplog.text


@needs_git
def test_the_first_remote_is_used_when_there_is_no_origin(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    git(repo, "remote", "add", "upstream", "git@github.com:org/repo.git")
    git(repo, "remote", "add", "zfork", "https://example.com/fork.git")
    assert capture_code(repo)["git"]["remote"] == "git@github.com:org/repo.git"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@example.com/org/repo.git", "https://example.com/org/repo.git"),
        ("https://ghp_token@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("http://u:p@example.com:8080/repo", "http://example.com:8080/repo"),
        ("ssh://git:pw@example.com/org/repo.git", "ssh://git@example.com/org/repo.git"),
        ("ssh://git@example.com/org/repo.git", "ssh://git@example.com/org/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
    ],
)
def test_credentials_are_stripped_from_remote_urls(url: str, expected: str) -> None:
    assert _capture._strip_credentials(url) == expected


@needs_git
@pytest.mark.parametrize(
    ("invocation", "expected"),
    [
        (["sub/script.py"], "sub/script.py"),
        (["-m", "sub.script"], "sub.script"),
        (["-m", "sub"], "sub"),
        (["-c", "import sub.script"], None),
        (["-"], None),
    ],
)
def test_entry_point_is_the_script_relative_to_the_root_or_the_module(
    tmp_path: Path, invocation: list[str], expected: str | None
) -> None:
    repo = new_repo(tmp_path / "repo")
    (repo / "sub").mkdir()
    program = (
        "import json\nfrom keel.tracking._capture import capture_code\n"
        "print(json.dumps(capture_code()['entry_point']))\n"
    )
    (repo / "sub" / "script.py").write_text(program)
    (repo / "sub" / "__init__.py").write_text("")
    (repo / "sub" / "__main__.py").write_text(program)
    done = subprocess.run(
        [sys.executable, *invocation],
        cwd=repo,
        input=program,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == expected


def test_a_script_outside_the_repository_is_recorded_by_absolute_path(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "import json\nfrom keel.tracking._capture import capture_code\n"
        "print(json.dumps(capture_code()['entry_point']))\n"
    )
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == str(script.resolve())


def test_capture_code_is_cached_per_directory_until_cleared(tmp_path: Path) -> None:
    first = capture_code(tmp_path)
    assert capture_code(tmp_path) is first
    clear_cache()
    assert capture_code(tmp_path) is not first
    assert capture_code(tmp_path) == first


def test_capture_environment_lists_packages_and_the_machine() -> None:
    env = capture_environment()
    assert env["packages"]["numpy"] == importlib.metadata.version("numpy")
    assert env["packages"]["scikit-learn"] == importlib.metadata.version("scikit-learn")
    assert all(name == name.lower() and "_" not in name for name in env["packages"])
    assert env["python"] == {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }
    assert env["cpu"]["count"] == os.cpu_count()
    assert env["memory_bytes"] > 0
    assert env["hostname"] == socket.gethostname()
    assert env["os"]["system"] == platform.system()
    assert json.loads(json.dumps(env)) == env


def test_capture_environment_is_cached() -> None:
    first = capture_environment()
    assert capture_environment() is first
    clear_cache()
    assert capture_environment() is not first
