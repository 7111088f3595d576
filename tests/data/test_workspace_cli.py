"""``keel data add`` in-process: how it hands files to the object store."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from keel.cli.data_workspace import register
from keel.store import init_project
from keel.store.objects import LocalObjectStore


@pytest.mark.parametrize("files", [3, 40])
def test_add_without_a_progress_bar_stores_all_files_in_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: int
) -> None:
    project = tmp_path / "proj"
    (project / "data").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    init_project(project).close()
    past = time.time() - 3600
    for i in range(files):
        path = project / "data" / f"f{i}.bin"
        path.write_bytes(os.urandom(1000 + 1000 * i))  # sizes differ: batches by bytes would split
        os.utime(path, (past, past))
    batches: list[int] = []
    original = LocalObjectStore.put_many

    def counting(self, sources, **kwargs):
        batches.append(len(sources))
        return original(self, sources, **kwargs)

    monkeypatch.setattr(LocalObjectStore, "put_many", counting)
    monkeypatch.chdir(project)
    monkeypatch.setenv("KEEL_FSYNC", "0")
    group = typer.Typer()
    group.callback()(lambda: None)
    register(group)
    done = CliRunner().invoke(group, ["add", "data"])  # not a terminal: no bar
    assert done.exit_code == 0, done.output
    assert "added data as data:v1" in done.output
    assert batches == [files]
