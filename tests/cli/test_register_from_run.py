"""keel models register --run and keel runs show with an id prefix, as a user runs them: the
commands call RegistryService.register_from_run and keel.tracking.resolve_run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._cli import run_keel, run_python

TRAIN = """\
import numpy as np
import pandas as pd
import skops.io
from sklearn.linear_model import LogisticRegression
import keel

rng = np.random.default_rng(0)
frame = pd.DataFrame({"income": rng.normal(50, 10, 100), "debt": rng.uniform(0, 1, 100)})
frame["label"] = (frame["debt"] > 0.5).astype(int)
keel.log_dataset(frame, "applications")
ids = []
for _ in range(2):
    with keel.start_run(experiment="credit") as run:
        model = LogisticRegression().fit(frame[["income", "debt"]], frame["label"])
        run.log_metric("auc", 0.9)
        run.log_artifact(skops.io.dumps(model), "model.skops")
    ids.append(run.id)
print(" ".join(ids))
"""


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str, str]:
    """A project with a dataset and two runs, made a moment apart, that logged a model."""
    assert run_keel("init", cwd=tmp_path).returncode == 0
    first, second = run_python(TRAIN, cwd=tmp_path).stdout.split()
    return tmp_path, first, second


def test_register_takes_a_run_prefix_and_prints_the_version(project) -> None:
    folder, first, _ = project
    result = run_keel(
        "models", "register", "credit", "--run", first[:20], "--example", "applications",
        "--drop", "label", cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"registered credit:1 (sklearn) from run {first[:12]}"
    again = run_keel("models", "register", "credit", "--run", first, "--json", cwd=folder)
    version = json.loads(again.stdout)
    assert version["version"] == 2
    assert version["run_id"] == first
    assert version["metrics"] == {"auc": 0.9}


def test_an_ambiguous_prefix_lists_the_runs_and_registers_nothing(project) -> None:
    folder, first, second = project
    shared = first[: next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)]
    assert len(shared) >= 4  # made together: ids start with the time they were made
    for args in (("runs", "show", shared), ("models", "register", "credit", "--run", shared)):
        result = run_keel(*args, cwd=folder)
        assert result.returncode == 1
        assert f"The id prefix '{shared}' is ambiguous" in result.stderr
        assert first[:12] in result.stderr
        assert second[:12] in result.stderr
        assert "Traceback" not in result.stderr
    assert json.loads(run_keel("models", "ls", "--json", cwd=folder).stdout) == []


def test_an_artifact_that_is_not_a_model_exits_1_with_a_message(project) -> None:
    folder, first, _ = project
    result = run_keel("models", "register", "credit", "--run", first, "--artifact", "x", cwd=folder)
    assert result.returncode == 1
    assert f"Run {first} has no artifact named 'x'" in result.stderr
