"""The quick answers of 'keel data status' and 'keel data add' (keel.data._quick_clean)
are the Workspace's answers, or None; and None whenever anything is not clean."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keel.data import _quick_clean
from keel.data._quick_pointer import plain_text, read_plain
from keel.data._versions import NAME_RE
from keel.data._workspace import Pointer, Workspace
from keel.store import init_project
from keel.store.objects._statcache import fingerprint, scan

PAST = time.time() - 3600


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git project with 'data' (a folder), 'a-b/x.csv' and 'a/z' (files) added once."""
    folder = tmp_path / "proj"
    folder.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    init_project(folder).close()
    for rel in ("data/f1.bin", "data/sub/f2.bin", "a-b/x.csv", "a/z"):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(200) + rel.encode())
        os.utime(path, (PAST, PAST))
    for name in list(os.environ):
        if name.startswith("KEEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEEL_FSYNC", "0")
    monkeypatch.chdir(folder)
    workspace = Workspace.find()
    for path in ("data", "a-b/x.csv", "a/z"):
        workspace.add(path)
    workspace.close()
    monkeypatch.delenv("KEEL_FSYNC")  # another KEEL_ variable: the quick answer declines
    return folder


def _full_status(paths=()) -> list[dict]:
    workspace = Workspace.find()
    try:
        return [r.to_dict() for r in workspace.status(list(paths))]
    finally:
        workspace.close()


@pytest.mark.parametrize("paths", [[], ["data"], ["a/z.keel", "data/"], ["a-b/x.csv"]])
def test_status_of_a_clean_project_is_the_workspace_s(project: Path, paths: list[str]) -> None:
    quick = _quick_clean.status(paths)
    assert quick is not None
    assert [r.to_dict() for r in quick] == _full_status(paths)
    if not paths:  # Path order, not string order: a/ before a-b/
        assert [r.path for r in quick] == ["a/z", "a-b/x.csv", "data"]


def test_status_declines_whatever_is_not_clean(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "data" / "f1.bin").write_bytes(b"changed")
    assert _quick_clean.status([]) is None
    assert _quick_clean.status(["data"]) is None
    assert _quick_clean.status(["a/z"]) is not None
    assert _quick_clean.status(["nowhere"]) is None  # the full way says what is wrong
    (project / "a" / "z").unlink()
    assert _quick_clean.status(["a/z"]) is None  # missing
    monkeypatch.setenv("KEEL_LOG_LEVEL", "debug")
    assert _quick_clean.status(["a-b/x.csv"]) is None


def test_add_of_an_unchanged_path_is_the_workspace_s(project: Path) -> None:
    pointer = project / "data.keel"
    pointer.write_text(pointer.read_text() + "# a comment the rewrite drops\n")
    (project / ".gitignore").unlink()  # written again, as the full way does
    quick = _quick_clean.add("data", None)
    assert quick is not None
    quick_text, quick_ignore = pointer.read_text(), (project / ".gitignore").read_text()
    workspace = Workspace.find()
    try:
        full = workspace.add("data")
    finally:
        workspace.close()
    assert quick.to_dict() == {**full.to_dict(), "gitignore": ".gitignore"}
    assert full.gitignore is None  # the quick answer already wrote it
    assert quick_text == pointer.read_text() == Pointer.read(pointer).to_text()
    assert quick_ignore == (project / ".gitignore").read_text()
    assert _quick_clean.add("data", "data").to_dict() == full.to_dict()


def test_add_declines_a_change_or_another_name_and_writes_nothing(project: Path) -> None:
    pointer = project / "data.keel"
    before = pointer.stat().st_mtime_ns, pointer.read_text()
    assert _quick_clean.add("data", "other-name") is None
    (project / "data" / "new.bin").write_bytes(b"new")
    assert _quick_clean.add("data", None) is None
    assert _quick_clean.add(".keel", None) is None
    assert _quick_clean.add("data.keel", None) is None
    assert (pointer.stat().st_mtime_ns, pointer.read_text()) == before


def test_the_snapshot_fingerprint_is_the_stat_cache_s(project: Path) -> None:
    target = project / "data"
    assert _quick_clean._scan(str(target)) == scan(target)
    assert _quick_clean._fingerprint(scan(target)) == fingerprint(scan(target))


@given(
    name=st.from_regex(NAME_RE, fullmatch=True),
    path=st.text(min_size=1, max_size=30).filter(
        lambda p: p not in (".", "..") and "/" not in p and "\\" not in p
    ),
    version=st.integers(1, 10**9),
)
def test_plain_pointers_read_and_write_as_pointer_does(name: str, path: str, version: int) -> None:
    pointer = Pointer(name, version, "ab" * 32, path, "folder", 3, 10)
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "p.keel"
        pointer.write(file)
        read = read_plain(str(file))
    assert read is None or read == asdict(pointer)
    text = plain_text(asdict(pointer))
    assert text is None or text == pointer.to_text()
    if path.isalpha() and path.isascii() and path.lower() not in ("y", "n", "yes", "no", "on"):
        assert read is not None
        if name[0].isalpha() and name.lower() not in ("true", "false", "null", "off", "y"):
            assert text is not None


@pytest.mark.parametrize(
    "text",
    [
        "name: 'x'\nversion: 1\n",  # YAML quoting: the full reader
        "name: x\nversion: 0\n",  # not positive
        "name: x # note\n",
        " name: x\n",
        "name:x\n",
    ],
)
def test_pointers_in_other_forms_are_left_to_the_full_reader(tmp_path: Path, text: str) -> None:
    file = tmp_path / "p.keel"
    file.write_text(text + "digest: " + "cd" * 32 + "\npath: x\nkind: file\n")
    assert read_plain(str(file)) is None
