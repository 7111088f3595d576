"""keel runs delete|restore, keel experiments delete|restore, keel data delete, keel models
delete and keel gc --objects, as a user runs them: refusals exit 1 with one clear line and
change nothing; --json for scripts."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests._cli import run_python

SEED = """\
import pandas as pd
from sklearn.linear_model import LogisticRegression
import keel

X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
y = [0, 0, 1, 1]
keel.log_dataset(X, "credit")
keel.log_dataset(X.assign(a=X["a"] * 2), "credit")
for c in (0.1, 1.0):
    with keel.start_run(experiment="exp") as run:
        run.log_metric("auc", c)
keel.register_model(LogisticRegression(C=1.0).fit(X, y), "m")
keel.register_model(LogisticRegression(C=0.5).fit(X, y), "m")
keel.Client().models.set_alias("m:1", "champion")
"""


@pytest.fixture
def project(keel, tmp_path: Path) -> Path:
    assert keel("init").returncode == 0
    run_python(SEED, cwd=tmp_path)
    return tmp_path


def _runs(keel, *extra: str) -> list[dict]:
    out = keel("runs", "ls", "--json", *extra)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_runs_and_experiments(keel, project: Path) -> None:
    first = _runs(keel)[0]["id"]
    out = keel("runs", "delete", first[:12])
    assert out.returncode == 0, out.stderr
    assert f"deleted run {first}" in out.stdout
    assert first not in {r["id"] for r in _runs(keel)}
    shown = {r["id"]: r for r in _runs(keel, "--deleted")}
    assert shown[first]["deleted_at"] is not None
    assert "DELETED" in keel("runs", "ls", "--deleted").stdout
    again = keel("runs", "delete", first)
    assert again.returncode == 1
    assert "already deleted" in again.stderr
    assert "Traceback" not in again.stderr
    assert keel("runs", "restore", first, "--json").returncode == 0
    assert len(_runs(keel)) == 2

    out = keel("experiments", "delete", "exp", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["runs"] == 2
    assert _runs(keel) == []
    typo = keel("experiments", "restore", "exq")
    assert typo.returncode == 1
    assert "Did you mean 'exp'" in typo.stderr
    assert keel("experiments", "restore", "exp").returncode == 0
    assert len(_runs(keel)) == 2


def test_versions_refused_then_forced(keel, project: Path) -> None:
    held = keel("models", "delete", "m:1")
    assert held.returncode == 1
    assert "alias m@champion points to it" in held.stderr
    assert "--force" in held.stderr
    assert "Traceback" not in held.stderr
    bare = keel("models", "delete", "m")
    assert bare.returncode == 1
    assert "explicit version" in bare.stderr
    out = keel("models", "delete", "m:1", "--force", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["forced"] is True
    assert result["broke"] == ["alias m@champion points to it"]

    out = keel("data", "delete", "credit:v1")
    assert out.returncode == 0, out.stderr
    assert "deleted dataset version credit:v1" in out.stdout
    said = " ".join(out.stdout.split())
    assert re.search(r"\b(1 object it held is|\d+ objects it held are) reclaimed", said), said
    missing = keel("data", "delete", "credit:v1")
    assert missing.returncode == 1
    assert "no version v1" in missing.stderr


def test_gc_objects_dry_run_then_for_real(keel, project: Path) -> None:
    assert keel("data", "delete", "credit:v2").returncode == 0
    # age every object by two hours, as if the delete happened long ago
    past = time.time() - 7200
    for path in (project / ".keel" / "objects").rglob("*"):
        if path.is_file() and path.parent.name != "tmp":
            os.utime(path, (past, past))
    bad = keel("gc", "--objects", "--grace", "soon")
    assert bad.returncode == 2
    assert "not a duration" in bad.stderr
    dry = keel("gc", "--objects", "--grace", "1h", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    preview = json.loads(dry.stdout)["objects"]
    assert preview["removed"]
    assert all(item["bytes"] > 0 for item in preview["removed"])
    text = keel("gc", "--objects", "--dry-run")
    assert "would remove" in text.stdout
    assert "dry run: nothing was changed" in text.stdout
    out = keel("gc", "--objects", "--grace", "1h", "--json")
    report = json.loads(out.stdout)["objects"]
    assert {i["digest"] for i in report["removed"]} == {i["digest"] for i in preview["removed"]}
    check = keel("fsck", "--json")
    assert check.returncode == 0, check.stdout
    assert json.loads(check.stdout)["missing"] == {}
