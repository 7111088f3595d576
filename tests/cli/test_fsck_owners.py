"""keel fsck names what a missing or corrupt object belongs to, in users' words."""

from __future__ import annotations

import json
from pathlib import Path

from keel.config import resolve
from keel.data import DatasetService
from keel.registry import RegistryService
from keel.registry._package import read_package
from keel.store import Store
from keel.tracking import SqlTracking
from tests._cli import run_keel, run_python

SETUP = """
import numpy as np, pandas as pd, keel
from sklearn.linear_model import LogisticRegression
frame = pd.DataFrame({"x": np.arange(20.0), "y": np.arange(20) % 2})
version = keel.log_dataset(frame, "credit")
with keel.start_run(experiment="exp", capture=False) as run:
    run.log_artifact(b"notes", "notes.txt")
model = LogisticRegression().fit(frame[["x"]], frame["y"])
keel.register_model(model, "scorer", input_example=frame[["x"]])
print(run.id)
"""


def test_fsck_names_the_dataset_model_and_run_that_hold_bad_objects(tmp_path: Path) -> None:
    assert run_keel("init", cwd=tmp_path).returncode == 0
    run_id = run_python(SETUP, cwd=tmp_path).stdout.strip()
    clean = json.loads(run_keel("fsck", "--json", cwd=tmp_path).stdout)
    assert clean["ok"]
    assert clean["owners"] == {}
    with Store.open(resolve(cwd=tmp_path)) as store:
        entry = DatasetService(store).manifest("credit:v1").entries[0]
        package = RegistryService(store).get("scorer:1").package_digest
        model_file = read_package(store.objects, package).files["model.skops"]
        artifact = next(a.digest for a in SqlTracking(store).get_run(run_id).artifacts)
        for digest in (entry.digest, artifact):  # corrupt a dataset file and the artifact
            path = store.objects.path(digest)
            path.chmod(0o644)
            path.write_bytes(b"tampered")
        store.objects.path(model_file).unlink()  # and lose the model's file

    result = run_keel("fsck", "--json", cwd=tmp_path)
    assert result.returncode == 1
    owners = json.loads(result.stdout)["owners"]
    assert owners[entry.digest] == [f"dataset default/credit:v1 file {entry.path}"]
    assert owners[artifact] == [f"run {run_id} (default/exp) artifact notes.txt"]
    assert owners[model_file] == ["model default/scorer:1 file model.skops"]

    shown = run_keel("fsck", cwd=tmp_path).stdout
    assert "dataset default/credit:v1 file" in shown
    assert "model default/scorer:1 file model.skops" in shown
    assert "run_artifacts.digest" not in shown  # never an internal table column
