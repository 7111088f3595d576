"""keel data add / status / pull: pointers beside the data, the stat cache, restoring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from keel.config import resolve
from keel.data import DatasetService
from keel.data._quick_git import GitCheckIgnore
from keel.data._versions import NAME_RE
from keel.data._workspace import Pointer, Workspace, default_name, manifest_bytes
from keel.errors import InvalidInput, NotFound
from keel.store import Store, init_project

PAST = time.time() - 3600  # files older than the add, as real data is (not racy)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    init_project(folder).close()
    return folder


@pytest.fixture
def keel(project: Path):
    """``keel(*args)`` runs the real CLI in the project and returns the finished process."""

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        env.update(KEEL_FSYNC="0", COLUMNS="200")
        return subprocess.run(
            [sys.executable, "-m", "keel", *args],
            cwd=cwd or project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def make_files(folder: Path, n: int = 12) -> dict[str, bytes]:
    """``n`` files (two in a subfolder) with distinct contents and an old mtime."""
    contents = {}
    for i in range(n):
        rel = f"sub/f{i}.bin" if i < 2 else f"f{i}.bin"
        data = os.urandom(100 + 37 * i)
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (PAST, PAST))
        contents[rel] = data
    return contents


def read_tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def workspace(project: Path) -> Workspace:
    return Workspace(project, resolve(cwd=project, fsync=False))


# -- add ----------------------------------------------------------------------------------


def test_git_check_ignore_started_early_answers_as_git_does(project: Path) -> None:
    (project / ".gitignore").write_text("/ignored\n")
    (project / "ignored").mkdir()
    (project / "kept").mkdir()
    assert GitCheckIgnore(str(project / "ignored")).ignored() is True
    assert GitCheckIgnore(str(project / "kept")).ignored() is False
    outside = Path(tempfile.mkdtemp())  # no git repository: git exits 128, not ignored
    try:
        assert GitCheckIgnore(str(outside / "x")).ignored() is False
    finally:
        shutil.rmtree(outside)


def test_git_check_ignore_never_asked_is_ended_and_reaped(project: Path) -> None:
    check = GitCheckIgnore(str(project / "data"))
    pid = check._pid
    assert pid is not None
    check.close()
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)
    check.close()  # twice is harmless
    assert check.ignored() is False  # nothing to ask any more


def test_add_of_an_empty_folder_fails_and_writes_no_gitignore(project: Path) -> None:
    (project / "empty").mkdir()
    ws = workspace(project)
    with pytest.raises(InvalidInput, match="holds no files"):
        ws.add(project / "empty")
    assert not (project / ".gitignore").exists()
    assert not (project / "empty.keel").exists()


def test_add_writes_pointer_records_version_and_stores_objects(keel, project: Path) -> None:
    contents = make_files(project / "data")
    done = keel("data", "add", "data", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["ref"], result["files"], result["hashed"]) == ("data:v1", 12, 12)
    pointer = yaml.safe_load((project / "data.keel").read_text())
    assert pointer == {
        "name": "data",
        "version": 1,
        "digest": result["digest"],
        "path": "data",
        "kind": "folder",
        "files": 12,
        "size": sum(len(b) for b in contents.values()),
    }
    assert "/data" in (project / ".gitignore").read_text().splitlines()
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/f5.bin"], cwd=project)
    assert ignored.returncode == 0
    with Store.open(resolve(cwd=project)) as store:
        version = DatasetService(store).resolve("data")
        assert (version.ref, version.manifest_digest) == ("data:v1", result["digest"])
        manifest = DatasetService(store).manifest(version)
        assert {e.path for e in manifest.entries} == set(contents)
        for entry in manifest.entries:
            assert store.objects.read_bytes(entry.digest) == contents[entry.path]
    again = json.loads(keel("data", "add", "data", "--json").stdout)
    assert (again["ref"], again["new_version"], again["hashed"]) == ("data:v1", False, 0)


def test_readd_reads_only_the_changed_files(project: Path, monkeypatch) -> None:
    make_files(project / "data")
    ws = workspace(project)
    first = ws.add(project / "data")
    stored = []
    original = type(ws.objects).put_many
    monkeypatch.setattr(
        type(ws.objects),
        "put_many",
        lambda self, sources, **kw: stored.extend(sources) or original(self, sources, **kw),
    )
    (project / "data" / "f5.bin").write_bytes(b"changed")
    (project / "data" / "sub" / "f1.bin").write_bytes(b"changed too")
    second = ws.add(project / "data")
    assert (first.ref, second.ref) == ("data:v1", "data:v2")
    assert (second.hashed, second.unchanged, ws.cache.hits) == (2, 10, 10)
    assert sorted(Path(p).name for p in stored) == ["f1.bin", "f5.bin"]
    ws.close()


def test_manifest_is_the_one_log_would_write(project: Path, store: Store) -> None:
    make_files(project / "data")
    result = workspace(project).add(project / "data")
    logged = DatasetService(store).log(project / "data", "same")
    assert logged.manifest_digest == result.digest
    manifest = DatasetService(store).manifest(logged)
    rows = [(e.path, e.digest, e.size) for e in reversed(manifest.entries)]
    assert manifest_bytes(rows) == manifest.to_bytes()


def test_table_file_is_versioned_byte_for_byte(keel, project: Path) -> None:
    csv = project / "train.csv"
    csv.write_bytes(b"a,b\n1,2\n3,4\n")
    assert keel("data", "add", "train.csv").returncode == 0
    pointer = Pointer.read(project / "train.csv.keel")
    assert (pointer.name, pointer.kind, pointer.files) == ("train.csv", "file", 1)
    csv.unlink()
    assert keel("data", "pull").returncode == 0
    assert csv.read_bytes() == b"a,b\n1,2\n3,4\n"


def test_default_names_follow_the_dataset_name_rules() -> None:
    assert default_name("My Data (2024).csv") == "My-Data-2024-.csv"
    assert default_name("__images") == "images"
    assert default_name("???") == "data"


# -- status -------------------------------------------------------------------------------


def test_status_clean_then_added_modified_removed(keel, project: Path) -> None:
    make_files(project / "data")
    assert keel("data", "add", "data").returncode == 0
    clean = json.loads(keel("data", "status", "--json").stdout)
    assert [(s["path"], s["state"], s["hashed"]) for s in clean] == [("data", "clean", 0)]
    assert clean[0]["added"] == clean[0]["modified"] == clean[0]["removed"] == []

    data = project / "data"
    (data / "f3.bin").write_bytes(b"x" * len((data / "f3.bin").read_bytes()))  # same size
    (data / "f4.bin").write_bytes(b"shorter")
    (data / "sub" / "f0.bin").unlink()
    (data / "new.txt").write_text("new")
    (data / "f6.bin").touch()  # same bytes, new mtime
    changed = json.loads(keel("data", "status", "--json").stdout)[0]
    assert changed["state"] == "modified"
    assert changed["modified"] == ["f3.bin", "f4.bin"]
    assert (changed["added"], changed["removed"]) == (["new.txt"], ["sub/f0.bin"])
    assert changed["hashed"] == 2  # f3 and f6 (same size); f4's size already tells

    shown = keel("data", "status")
    assert shown.returncode == 0
    assert "modified: data/f3.bin" in shown.stdout
    assert "removed: data/sub/f0.bin" in shown.stdout


def test_status_reads_a_touched_file_once(project: Path) -> None:
    make_files(project / "data")
    ws = workspace(project)
    ws.add(project / "data")
    os.utime(project / "data" / "f2.bin", (PAST + 60, PAST + 60))  # touched, same bytes
    assert [(s.state, s.hashed) for s in ws.status()] == [("clean", 1)]
    assert [(s.state, s.hashed) for s in ws.status()] == [("clean", 0)]
    ws.close()


def test_status_of_a_missing_path_and_of_no_pointers(keel, project: Path) -> None:
    assert "No data pointers" in keel("data", "status").stdout
    make_files(project / "data", 3)
    assert keel("data", "add", "data").returncode == 0
    shutil.rmtree(project / "data")
    result = json.loads(keel("data", "status", "--json").stdout)
    assert [(r["path"], r["state"]) for r in result] == [("data", "missing")]


# -- pull ---------------------------------------------------------------------------------


def test_pull_restores_byte_identical_files(keel, project: Path) -> None:
    contents = make_files(project / "data")
    assert keel("data", "add", "data").returncode == 0
    shutil.rmtree(project / "data")
    pulled = keel("data", "pull", "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert [(r["restored"], r["unchanged"]) for r in json.loads(pulled.stdout)] == [(12, 0)]
    assert read_tree(project / "data") == contents
    assert json.loads(keel("data", "status", "--json").stdout)[0]["state"] == "clean"

    (project / "data" / "f7.bin").write_bytes(b"my local edit")
    kept = json.loads(keel("data", "pull", "data", "--json").stdout)[0]
    assert (kept["restored"], kept["unchanged"], kept["kept"]) == (0, 11, ["f7.bin"])
    assert (project / "data" / "f7.bin").read_bytes() == b"my local edit"
    forced = json.loads(keel("data", "pull", "--force", "--json").stdout)[0]
    assert (forced["restored"], forced["kept"]) == (1, [])
    assert read_tree(project / "data") == contents


def test_pull_with_a_corrupt_object_names_it_and_writes_nothing_bad(keel, project: Path) -> None:
    contents = make_files(project / "data", 4)
    assert keel("data", "add", "data").returncode == 0
    ws = workspace(project)
    pointer = Pointer.read(project / "data.keel")
    digest = ws._manifest(project / "data.keel", pointer)["f3.bin"][0]
    ws.close()
    obj = ws.objects.path(digest)
    obj.chmod(0o644)
    obj.write_bytes(b"bit rot")
    shutil.rmtree(project / "data")
    pulled = keel("data", "pull")
    assert pulled.returncode == 1
    assert f"Object {digest} in" in pulled.stderr
    assert "is corrupt" in pulled.stderr
    assert "Traceback" not in pulled.stderr
    assert not (project / "data" / "f3.bin").exists()
    others = {k: v for k, v in contents.items() if k != "f3.bin"}
    assert read_tree(project / "data") == others


# -- pointers -----------------------------------------------------------------------------


@given(
    name=st.from_regex(NAME_RE, fullmatch=True),
    path=st.text(min_size=1, max_size=40).filter(
        lambda p: p not in (".", "..") and "/" not in p and "\\" not in p
    ),
    version=st.integers(1, 10**9),
)
def test_pointer_text_round_trips_through_keel_and_yaml(name: str, path: str, version: int) -> None:
    pointer = Pointer(name, version, "ab" * 32, path, "folder", 3, 10)
    text = pointer.to_text()
    assert yaml.safe_load(text) == asdict(pointer)
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "p.keel"
        pointer.write(file)
        assert Pointer.read(file) == pointer


def test_hand_edited_yaml_pointer_is_read(project: Path) -> None:
    file = project / "x.keel"
    file.write_text(
        "name: 'x'   # edited\nversion: 2\ndigest: " + "cd" * 32 + "\npath: x\nkind: file\n"
    )
    assert Pointer.read(file) == Pointer("x", 2, "cd" * 32, "x", "file", 0, 0)


# -- bad input ----------------------------------------------------------------------------


def test_bad_inputs_exit_1_with_clear_messages_and_change_nothing(
    keel, project: Path, tmp_path: Path
) -> None:
    missing = keel("data", "add", "nope")
    assert missing.returncode == 1
    assert "Cannot add nope: no such file or folder." in missing.stderr
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = keel("data", "add", str(outside))
    assert out.returncode == 1
    assert "outside the keel project" in out.stderr
    assert not (tmp_path / "elsewhere.keel").exists()
    foreign = keel("data", "status", str(outside))
    assert foreign.returncode == 1
    assert "outside the keel project" in foreign.stderr

    make_files(project / "data", 3)
    assert keel("data", "add", "data").returncode == 0
    nested = keel("data", "add", "data/sub")
    assert nested.returncode == 1
    assert "data.keel already versions" in nested.stderr
    pointer_itself = keel("data", "add", "data.keel")
    assert pointer_itself.returncode == 1
    assert "is a keel pointer" in pointer_itself.stderr

    good = (project / "data.keel").read_text()
    (project / "data.keel").write_text("name: [unclosed\n")
    for command in ("status", "pull"):
        bad = keel("data", command)
        assert bad.returncode == 1
        assert "data.keel is not a valid keel pointer: it is not valid YAML" in bad.stderr
        assert "Traceback" not in bad.stderr
    assert (project / "data.keel").read_text() == "name: [unclosed\n"

    (project / "data.keel").write_text(good.replace(good.split("digest: ")[1][:64], "0" * 64))
    unknown = keel("data", "pull")
    assert unknown.returncode == 1
    assert "is not in the object store" in unknown.stderr

    elsewhere = keel("data", "status", cwd=outside)
    assert elsewhere.returncode == 1
    assert "No keel project" in elsewhere.stderr


def test_pointer_errors_name_the_problem(project: Path) -> None:
    file = project / "d.keel"
    file.write_text("name: d\nversion: 0\ndigest: xyz\npath: ../etc\nkind: folder\n")
    with pytest.raises(InvalidInput, match=r"d.keel is not a valid keel pointer: .*positive"):
        Pointer.read(file)
    file.write_text("name: d\nversion: 1\n")
    with pytest.raises(InvalidInput, match=r"it has no 'digest', 'path', 'kind'"):
        Pointer.read(file)
    file.write_text(f"name: d\nversion: 1\ndigest: {'ab' * 32}\npath: ../etc\nkind: folder\n")
    with pytest.raises(InvalidInput, match=r"'path' must be the name of a file or folder"):
        Pointer.read(file)
    with pytest.raises(NotFound, match=r"nope has no keel pointer"):
        workspace(project).pointers(["nope"])
