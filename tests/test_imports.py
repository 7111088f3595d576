"""Start-up hygiene: what the quick commands import, and that their quick path answers
exactly as the full typer app does.

``keel data status`` and ``keel data add`` of a clean workspace must not import SQLAlchemy,
pandas, NumPy, pyarrow or typer (see ``keel.cli._main``), nor rich when their output goes
to a pipe (see ``keel.cli._plain``). Each test runs the real command
in a fresh interpreter and reads ``sys.modules`` as the process exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keel.cli._fast import plain_command
from keel.store import init_project

HEAVY = ("sqlalchemy", "pandas", "numpy", "pyarrow", "typer", "pydantic", "click")
PAST = time.time() - 3600  # older than the add: not racy

# Runs ``python -m keel ARGS`` and, at exit, writes the loaded top-level packages to stderr.
_PROBE = """
import atexit, runpy, sys
def _report():
    names = sorted({m.split(".")[0] for m in sys.modules})
    sys.stderr.write("\\nMODULES " + " ".join(names) + "\\n")
atexit.register(_report)
sys.argv = ["keel", *sys.argv[1:]]
runpy.run_module("keel", run_name="__main__", alter_sys=True)
"""


def keel(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``keel *args`` in ``project``; the process and the top-level packages it loaded."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KEEL_") and k not in ("FORCE_COLOR", "TTY_COMPATIBLE")
    }
    env.update(KEEL_FSYNC="0", COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    head, _, modules = done.stderr.rpartition("\nMODULES ")
    done.stderr = head
    return done, set(modules.split())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository with a keel project and a folder of 5 old files, added once."""
    folder = tmp_path / "proj"
    (folder / "data").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    init_project(folder).close()
    for i in range(5):
        path = folder / "data" / f"f{i}.bin"
        path.write_bytes(os.urandom(100 + i))
        os.utime(path, (PAST, PAST))
    done, _ = keel(folder, "data", "add", "data")
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ("data", "status"),
        ("data", "status", "--json"),
        ("data", "status", "data", "--exit-code"),
        ("data", "add", "data"),
        ("data", "add", "--json", "data"),
        ("data", "add", "data", "--name", "data"),
    ],
)
def test_clean_status_and_add_import_nothing_heavy(project: Path, args: tuple[str, ...]) -> None:
    done, modules = keel(project, *args)
    assert done.returncode == 0, done.stderr
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "keel" in modules  # the probe saw the command's own modules
    assert "rich" not in modules  # output to a pipe: plain text, see test_plain_output.py
    # nor what only other paths need: keel.toml's parser (there is none), ids for new rows
    assert not modules & {"tomllib", "secrets"}, sorted(modules & {"tomllib", "secrets"})
    # the quick answer of a clean workspace (keel.data._quick_clean): the standard
    # library's core, sqlite3 and blake3; not the object stores, keel.config, nor these
    slow = {"pathlib", "typing", "dataclasses", "logging", "subprocess", "re", "json", "orjson"}
    assert not modules & slow, sorted(modules & slow)
    if "--json" in args:
        out = json.loads(done.stdout)
        assert (out[0]["state"] if isinstance(out, list) else out["new_version"]) in (
            "clean",
            False,
        )


@pytest.mark.parametrize(
    "args",
    [
        ("data", "status"),
        ("data", "status", "--json"),
        ("data", "add", "data"),
        ("data", "add", "data", "--json"),
        ("data", "status", "nope"),
        ("data", "add", "nope"),
        ("data", "add", "data.keel"),
    ],
)
def test_quick_path_prints_what_the_typer_app_prints(project: Path, args: tuple[str, ...]) -> None:
    """``--debug`` (anywhere) sends a command through the typer app: same output, same code."""
    quick, modules = keel(project, *args)
    full, full_modules = keel(project, *args, "--debug")
    assert "typer" not in modules
    assert "typer" in full_modules
    assert (quick.returncode, quick.stdout) == (full.returncode, full.stdout)
    if quick.returncode:
        assert quick.stderr.startswith("error: ")
        assert quick.stderr[len("error: ") :][:40] in full.stderr  # --debug: the traceback


def test_add_of_a_changed_folder_stores_and_records_it(project: Path) -> None:
    (project / "data" / "f0.bin").write_bytes(b"changed")
    os.utime(project / "data" / "f0.bin", (PAST, PAST + 1))
    done, modules = keel(project, "data", "add", "data", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["ref"], result["hashed"], result["new_version"]) == ("data:v2", 1, True)
    # a new version of an existing dataset is recorded in the SQLite store through sqlite3
    assert "sqlalchemy" not in modules
    again, modules = keel(project, "data", "add", "data", "--json")
    assert json.loads(again.stdout)["ref"] == "data:v2"
    assert "sqlalchemy" not in modules


def test_add_after_the_version_was_deleted_records_it_again(project: Path) -> None:
    """The quick add trusts the metadata store, not the cache: a deleted version is re-made."""
    deleted, _ = keel(project, "data", "delete", "data:v1", "--force")
    assert deleted.returncode == 0, deleted.stderr
    done, modules = keel(project, "data", "add", "data", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["new_version"] is True
    assert result["ref"] == "data:v2"  # numbered past the deleted one, through sqlite3
    assert "sqlalchemy" not in modules
    listed, _ = keel(project, "data", "ls", "--json")
    assert result["ref"].split(":")[0] in listed.stdout


def test_add_under_another_name_takes_the_full_path(project: Path) -> None:
    done, modules = keel(project, "data", "add", "data", "--name", "other", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ref"] == "other:v1"
    assert json.loads(done.stdout)["new_version"] is True
    # a new dataset, still recorded in the SQLite store through sqlite3
    assert "sqlalchemy" not in modules


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--version"],
        ["data"],
        ["data", "ls"],
        ["data", "status", "--help"],
        ["data", "status", "--debug"],
        ["data", "status", "--", "x"],
        ["data", "status", "--jsn"],
        ["data", "add"],
        ["data", "add", "a", "b"],
        ["data", "add", "a", "--name"],
        ["data", "add", "a", "-nfoo"],
        ["data", "add", "a", "--force"],
        ["--debug", "data", "status"],
    ],
)
def test_anything_but_the_plain_forms_goes_to_the_typer_app(argv: list[str]) -> None:
    assert plain_command(argv) is None


def test_plain_forms_are_recognised_in_any_order() -> None:
    status = plain_command(["data", "status", "--json", "a", "--exit-code", "b"])
    assert status is not None
    assert [str(p) for p in status.args[0]] == ["a", "b"]
    assert status.keywords == {"json": True, "exit_code": True}
    add = plain_command(["data", "add", "--name=x", "p", "-n", "y"])
    assert add is not None
    assert (str(add.args[0]), add.keywords) == ("p", {"name": "y", "json": False})
