"""The commands and options a new user expected and could not find (issue 16): experiments
ls, data tag, data status --exit-code, and --json wherever docs/data.md promises it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import pandas as pd, keel
from sklearn.linear_model import LogisticRegression
df = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
keel.log_dataset(df, "credit")
keel.log_dataset(df.assign(x=df.x + 1), "credit")
with keel.start_run(experiment="churn", capture=False):
    pass
with keel.start_run(experiment="credit-exp", capture=False):
    pass
with keel.start_run(experiment="credit-exp", capture=False):
    model = LogisticRegression().fit(df[["x"]], df.y)
    keel.register_model(model, "scorer", input_example=df[["x"]])
"""


@pytest.fixture
def project(keel, tmp_path: Path) -> Path:
    assert keel("init").returncode == 0
    subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return tmp_path


def test_experiments_ls_as_a_table_and_as_json(keel, project) -> None:
    listed = json.loads(keel("experiments", "ls", "--json").stdout)
    assert {e["name"]: e["run_count"] for e in listed} == {"churn": 1, "credit-exp": 2}
    table = keel("experiments", "ls")
    assert table.returncode == 0, table.stderr
    assert "2 experiments" in table.stdout
    assert "credit-exp" in table.stdout


def test_data_tag_moves_a_tag_and_refuses_a_bad_one(keel, project) -> None:
    tagged = keel("data", "tag", "credit:v1", "golden", "--json")
    assert tagged.returncode == 0, tagged.stderr
    assert json.loads(tagged.stdout)["ref"] == "credit:v1"
    assert "golden" in json.loads(tagged.stdout)["tags"]
    shown = json.loads(keel("data", "show", "credit@golden", "--json").stdout)
    assert shown["version"] == 1
    moved = keel("data", "tag", "credit:v2", "golden")
    assert "credit@golden -> credit:v2" in moved.stdout
    assert json.loads(keel("data", "show", "credit@golden", "--json").stdout)["version"] == 2
    bad = keel("data", "tag", "credit:v1", "latest")
    assert bad.returncode == 1
    assert "reserved" in bad.stderr
    assert json.loads(keel("data", "show", "credit@golden", "--json").stdout)["version"] == 2
    missing = keel("data", "tag", "credit:v9", "golden")
    assert missing.returncode == 1
    assert "no version v9" in missing.stderr


def test_data_get_json_lists_the_files_written(keel, project) -> None:
    got = keel("data", "get", "credit", "--to", str(project / "out"), "--json")
    assert got.returncode == 0, got.stderr
    body = json.loads(got.stdout)
    assert body["ref"] == "credit:v2"
    assert body["files"]
    assert all(Path(f).is_file() for f in body["files"])


def test_models_decisions_aliases_and_policy_print_json(keel, project) -> None:
    approved = keel("models", "approve", "scorer:1", "--comment", "fine", "--json")
    assert approved.returncode == 0, approved.stderr
    body = json.loads(approved.stdout)
    assert body["ref"] == "scorer:1"
    assert body["decision"] == "approved"
    assert list(body["approvals"].values()) == ["approved"]
    rejected = json.loads(keel("models", "reject", "scorer", "--json").stdout)
    assert rejected["decision"] == "rejected"
    assert list(rejected["approvals"].values()) == ["rejected"]
    alias = json.loads(keel("models", "alias", "scorer:1", "staging", "--json").stdout)
    assert alias["ref"] == "scorer:1"
    assert alias["aliases"] == ["staging"]
    policy = json.loads(keel("models", "policy", "scorer", "--approvals", "2", "--json").stdout)
    assert policy["aliases"]["champion"]["approvals"] == 2
    four = keel("models", "policy", "scorer", "--alias", "prod", "--four-eyes")
    assert "scorer@prod now needs 1 approvals from someone other than the registrant" in four.stdout
    shown = json.loads(keel("models", "policy", "scorer", "--alias", "prod", "--json").stdout)
    assert shown["aliases"]["prod"]["four_eyes"] is False  # each call sets the whole rule
    assert shown["aliases"]["champion"]["approvals"] == 2
    assert keel("models", "approve", "scorer:7", "--json").returncode == 1


def test_rollback_prints_json(keel, project) -> None:
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import keel, pandas as pd; from sklearn.dummy import DummyClassifier\n"
            "df = pd.DataFrame({'x': [0.0, 1.0]})\n"
            "keel.register_model(DummyClassifier().fit(df, [0, 1]), 'scorer', input_example=df)",
        ],
        cwd=project,
        check=True,
        capture_output=True,
    )
    assert keel("models", "alias", "scorer:1", "champion").returncode == 0
    assert keel("models", "alias", "scorer:2", "champion").returncode == 0
    back = keel("models", "rollback", "scorer", "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["ref"] == "scorer:1"


def test_token_revoke_prints_json(keel, project) -> None:
    made = json.loads(keel("token", "create", "--role", "reader", "--json").stdout)
    revoked = keel("token", "revoke", made["id"], "--json")
    assert revoked.returncode == 0, revoked.stderr
    body = json.loads(revoked.stdout)
    assert body["id"] == made["id"]
    assert body["revoked_at"] is not None
    listed = {t["id"]: t for t in json.loads(keel("token", "ls", "--json").stdout)}
    assert listed[made["id"]]["revoked_at"] == body["revoked_at"]
    again = keel("token", "revoke", made["id"], "--json")
    assert again.returncode == 1
    assert again.stdout == ""


def test_infer_schema_prints_json(keel, project) -> None:
    printed = keel("infer-schema", "credit:v1", "--json")
    assert printed.returncode == 0, printed.stderr
    body = json.loads(printed.stdout)
    assert body["written"] is None
    assert "x" in json.dumps(body["schema"])
    out = project / "schema.yaml"
    written = json.loads(keel("infer-schema", "credit:v1", "--out", str(out), "--json").stdout)
    assert written["written"] == str(out)
    assert out.is_file()


def test_data_status_exit_code_is_a_ci_gate(keel, project) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    folder = project / "data" / "raw"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("x\n1\n")
    assert keel("data", "add", "data/raw").returncode == 0
    clean = keel("data", "status", "--exit-code")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (folder / "a.csv").write_text("x\n2\n")
    changed = keel("data", "status", "--exit-code")
    assert changed.returncode == 1
    assert "modified" in changed.stdout
    as_json = keel("data", "status", "--exit-code", "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)[0]["state"] == "modified"
    assert keel("data", "status").returncode == 0  # without the flag: a report, not a gate


def test_runs_artifacts_lists_and_downloads(keel, tmp_path: Path) -> None:
    assert keel("init").returncode == 0
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "import keel\n"
            "with keel.start_run(experiment='e', capture=False) as run:\n"
            "    run.log_artifact(b'[bold]kept as is[/]', 'notes/a.txt')\n"
            "    run.log_artifact(b'weights', 'model.bin')\n"
            "print(run.id)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    run_id = made.stdout.strip()
    listed = json.loads(keel("runs", "artifacts", run_id[:8], "--json").stdout)
    assert [a["name"] for a in listed] == ["model.bin", "notes/a.txt"]
    table = keel("runs", "artifacts", run_id[:8])
    assert "2 artifacts" in table.stdout
    assert "notes/a.txt" in table.stdout
    got = keel("runs", "artifacts", run_id, "--get", "notes", "--to", str(tmp_path / "out"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "out" / "notes" / "a.txt").read_bytes() == b"[bold]kept as is[/]"
    every = json.loads(
        keel("runs", "artifacts", run_id, "--to", str(tmp_path / "all"), "--json").stdout
    )
    assert sorted(e["name"] for e in every) == ["model.bin", "notes/a.txt"]
    assert all(Path(e["path"]).is_file() for e in every)
    again = keel("runs", "artifacts", run_id, "--to", str(tmp_path / "all"))
    assert again.returncode == 1
    assert "already exist" in again.stderr
    assert "Traceback" not in again.stderr
    typo = keel("runs", "artifacts", run_id, "--get", "modle.bin", "--to", str(tmp_path / "t"))
    assert typo.returncode == 1
    assert "model.bin" in typo.stderr
    assert not (tmp_path / "t").exists()


def test_models_card_and_export_print_json(keel, project) -> None:
    card = keel("models", "card", "scorer:v1", "--out", str(project / "cards"), "--json")
    assert card.returncode == 0, card.stderr
    written = json.loads(card.stdout)
    assert written["ref"] == "scorer:1"
    assert Path(written["markdown"]).is_file()
    assert Path(written["html"]).is_file()
    exported = keel("models", "export", "scorer:1", "--json")
    assert exported.returncode == 0, exported.stderr
    body = json.loads(exported.stdout)
    assert body["ref"] == "scorer:2"
    assert body["flavor"] == "onnx"
    assert body["agreement"] == 1.0
