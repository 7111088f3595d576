"""Packs through the CLI: ``keel data add`` of many small files makes few files in the
store, ``keel data pull`` restores them through the pack index, and ``keel fsck`` and
``pull`` name a corrupt pack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keel.store import init_project

PAST = time.time() - 3600


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    init_project(folder).close()
    return folder


def keel(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env.update(COLUMNS="200")  # KEEL_FSYNC is on: the durable path, as users run it
    return subprocess.run(
        [sys.executable, "-m", "keel", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_data_add_packs_small_files_and_pull_and_fsck_read_them(project: Path) -> None:
    data = project / "data"
    data.mkdir()
    contents = {}
    for i in range(400):
        path = data / f"r{i:03d}.json"
        path.write_bytes(os.urandom(1024 + 7 * i))
        os.utime(path, (PAST, PAST))
        contents[path.name] = path.read_bytes()

    added = keel(project, "data", "add", "data", "--json")
    assert added.returncode == 0, added.stderr
    objects = project / ".keel" / "objects"
    stored = [p for p in objects.rglob("*") if p.is_file()]
    assert len(stored) < 20, stored  # a pack and its index, the manifest: not 400 files
    packs = sorted((objects / "packs").glob("*.pack"))
    assert len(packs) == 1

    for path in data.iterdir():
        path.unlink()
    pulled = keel(project, "data", "pull")
    assert pulled.returncode == 0, pulled.stderr
    assert {p.name: p.read_bytes() for p in data.iterdir()} == contents

    clean = json.loads(keel(project, "fsck", "--json").stdout)
    assert clean["ok"] is True
    assert clean["objects_checked"] == 401  # 400 packed files and the loose manifest

    packs[0].chmod(0o644)
    with open(packs[0], "r+b") as fh:
        fh.seek(5000)
        fh.write(b"bit rot")
    checked = keel(project, "fsck", "--json")
    assert checked.returncode == 1
    report = json.loads(checked.stdout)
    assert len(report["corrupt"]) >= 1
    assert [p["object"] for p in report["problems"]] == [packs[0].stem]
    human = keel(project, "fsck")
    assert packs[0].stem in human.stdout.replace("\n", "")

    for path in data.iterdir():
        path.unlink()
    failed = keel(project, "data", "pull")
    assert failed.returncode != 0
    assert "corrupt" in failed.stdout + failed.stderr
