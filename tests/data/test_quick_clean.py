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

from keel._file_scan import Scanned, fingerprint
from keel.data import _quick_clean
from keel.data._quick_pointer import plain_text, read_plain
from keel.data._versions import NAME_RE
from keel.data._workspace import Pointer, Workspace
from keel.store import init_project
from keel.store.objects import hash_bytes
from keel.store.objects._statcache import scan

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


def _add_fresh_change(project: Path) -> tuple[Path, int]:
    """Change data/f1.bin now and add it: the add's snapshot is taken within the racy
    window of that change, so a status right after cannot trust the file's stat."""
    changed = project / "data" / "f1.bin"
    changed.write_bytes(os.urandom(300))
    workspace = Workspace.find()
    try:
        workspace.add("data")
    finally:
        workspace.close()
    return changed, changed.stat().st_mtime_ns


def test_status_right_after_an_add_reads_the_racy_files_and_answers(project: Path) -> None:
    _add_fresh_change(project)
    quick = _quick_clean.status(["data"])
    assert quick is not None  # data/f1.bin was read and found equal to the manifest's
    assert [r.to_dict() for r in quick] == _full_status(["data"])
    assert quick[0].state == "clean"


def test_a_racy_file_with_other_bytes_and_the_same_stat_is_not_clean(project: Path) -> None:
    changed, mtime_ns = _add_fresh_change(project)
    size = changed.stat().st_size
    with open(changed, "r+b") as fh:  # same size, same inode, and the mtime put back
        fh.write(bytes(b ^ 0xFF for b in changed.read_bytes()[:16]))
    os.utime(changed, ns=(mtime_ns, mtime_ns))
    assert changed.stat().st_size == size
    assert _quick_clean.status(["data"]) is None
    (full,) = _full_status(["data"])
    assert full["state"] == "modified"
    assert full["modified"] == ["f1.bin"]


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


def test_a_declined_add_hands_its_scan_to_the_full_way(project: Path) -> None:
    """The full way takes the quick way's scan of the same path (no second walk) and
    versions what it holds; a scan of another path is not taken."""
    changed = project / "data" / "f1.bin"
    changed.write_bytes(os.urandom(300))
    os.utime(changed, (PAST, PAST))
    scanned: list = []
    assert _quick_clean.add("data", None, scanned) is None
    [scan_] = scanned
    assert scan_.target == str(project / "data")
    assert scan_.files == scan(project / "data")
    assert scan_.fingerprint() == fingerprint(scan_.files)
    workspace = Workspace.find()
    try:
        other = Workspace.find()
        elsewhere = Scanned(str(project / "a"), time.time_ns(), {})
        assert other.add("a-b/x.csv", scanned=elsewhere).files == 1  # not taken
        other.close()
        result = workspace.add("data", scanned=scan_)
    finally:
        workspace.close()
    assert (result.ref, result.files, result.hashed) == ("data:v2", 2, 1)
    assert _quick_clean.add("data", None) is not None  # its snapshot: the scan's stats
    assert _full_status(["data"])[0]["state"] == "clean"


def test_the_snapshot_fingerprint_is_the_object_digest_of_the_stat_rows(project: Path) -> None:
    """Snapshots written before keel._file_scan held the fingerprint still match: it is the
    object store's digest of the sorted stat rows."""
    target = project / "data"
    files = scan(target)
    assert _quick_clean._scan(str(target)) == files
    rows = sorted(f"{rel}\0{s}\0{m}\0{i}" for rel, (_, s, m, i) in files.items())
    expected = hash_bytes("\n".join(rows).encode("utf-8", "surrogateescape"))
    assert fingerprint(files) == (expected, max(stat[2] for stat in files.values()))


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
