"""keel data ls/show/get/diff, keel lake query and keel lineage, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import pandas as pd, keel
v1 = keel.log_dataset(pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}), "credit")
with keel.start_run(experiment="e", capture=False) as run:
    df = keel.load_dataset("credit:v1")
    keel.log_dataset(df.assign(x=df.x * 2), "features", parents=[v1])
print(run.id)
"""


@pytest.fixture
def project(keel, tmp_path: Path) -> tuple[Path, str]:
    assert keel("init").returncode == 0
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return tmp_path, out.stdout.strip()


def test_ls_show_get_diff(keel, project) -> None:
    folder, _ = project
    listed = json.loads(keel("data", "ls", "--json").stdout)
    assert {e["name"]: e["latest"]["ref"] for e in listed} == {
        "credit": "credit:v1",
        "features": "features:v1",
    }
    shown = json.loads(keel("data", "show", "credit", "--json").stdout)
    assert shown["row_count"] == 3
    assert [c["name"] for c in shown["schema"]] == ["id", "x"]
    assert "credit:v1" in keel("data", "show", "credit").stdout
    assert keel("data", "get", "credit:v1", "--to", str(folder / "out")).returncode == 0
    assert len(list((folder / "out").glob("*.parquet"))) == 1
    diff = json.loads(
        keel("data", "diff", "credit:v1", "features:v1", "--key", "id", "--json").stdout
    )
    assert diff["keys"]["changed"] == 3
    assert keel("data", "show", "nope").returncode == 1


def test_lake_query(keel, project) -> None:
    rows = json.loads(keel("lake", "query", "SELECT sum(x) AS s FROM features", "--json").stdout)
    assert rows == [{"s": 9.0}]
    bad = keel("lake", "query", "SELECT * FROM nowhere")
    assert bad.returncode == 1
    assert "nowhere" in bad.stderr


def test_lineage_up_and_down(keel, project) -> None:
    _, run_id = project
    up = json.loads(keel("lineage", "features:v1", "--up", "--json").stdout)
    labels = {n["label"] for n in up["nodes"]}
    assert "credit:v1" in labels
    assert any(n["kind"] == "run" and n["id"] == run_id for n in up["nodes"])
    down = json.loads(keel("lineage", "credit:v1", "--down", "--json").stdout)
    relations = {e["relation"] for e in down["edges"]}
    assert {"input_to", "derived_into", "produced"} <= relations
    tree = keel("lineage", f"run:{run_id}")
    assert "features:v1" in tree.stdout
    assert "credit:v1" in tree.stdout


def test_get_into_a_bad_path_is_one_line_and_leaves_nothing(keel, project) -> None:
    folder, _ = project
    a_file = folder / "taken.txt"
    a_file.write_text("mine")
    blocked = folder / "blocked"
    blocked.write_text("a file where a folder would go")
    for target, words in [
        (a_file, "is a file, not a folder"),
        (blocked / "deep" / "out", "Cannot write into"),
    ]:
        result = keel("data", "get", "credit:v1", "--to", str(target))
        assert result.returncode == 1
        assert words in " ".join(result.stderr.split())
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 3
    assert a_file.read_text() == "mine"
    assert blocked.read_text() == "a file where a folder would go"
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".keel-get")) == []


def test_counts_agree_with_their_nouns(keel, project) -> None:
    folder, _ = project
    got = keel("data", "get", "credit:v1", "--to", str(folder / "one"))
    assert "wrote 1 file to" in got.stdout
    assert "1 files" not in got.stdout
    listed = keel("data", "ls")
    assert "2 datasets" in listed.stdout
    models = keel("models", "ls")
    assert "0 models" in models.stdout
