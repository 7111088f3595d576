"""keel --version, init, info, fsck and quickstart, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keel._version import __version__


def test_version(keel) -> None:
    result = keel("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"keel {__version__}"


def test_init_then_info_counts_things(keel, tmp_path: Path) -> None:
    result = keel("init")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".keel" / "keel.db").is_file()
    sub = tmp_path / "src" / "deep"
    sub.mkdir(parents=True)
    info = json.loads(keel("info", "--json", cwd=sub).stdout)
    assert info["uri"] == f"sqlite:///{tmp_path / '.keel' / 'keel.db'}"
    assert info["objects"] == str(tmp_path / ".keel" / "objects")
    assert info["counts"] == {"projects": 1, "audit_events": 1}  # the project's creation
    assert info["stored_objects"] == 0
    table = keel("info", cwd=sub)
    assert "metadata" in table.stdout
    assert "projects" in table.stdout


def test_init_twice_is_a_clear_error_without_traceback(keel) -> None:
    assert keel("init").returncode == 0
    again = keel("init")
    assert again.returncode == 1
    assert "already holds a keel project" in again.stderr
    assert "Traceback" not in again.stderr


def test_outside_a_project_says_run_keel_init(keel) -> None:
    result = keel("info")
    assert result.returncode == 1
    assert "Run 'keel init'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv", [("--debug", "info"), ("info", "--debug"), ("runs", "ls", "--debug")]
)
def test_debug_shows_the_traceback_wherever_it_is_typed(keel, argv) -> None:
    result = keel(*argv)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ProjectNotFound" in result.stderr


def test_typo_in_keel_uri_is_explained(keel) -> None:
    result = keel("info", env={"KEEL_URI": "sqllite:///x.db"})
    assert result.returncode == 1
    assert "Did you mean 'sqlite'" in result.stderr
    result = keel("info", env={"KEEL_URI": "./no/such/keel.db"})
    assert result.returncode == 1
    assert "No keel store at" in result.stderr


def test_usage_error_exits_2(keel) -> None:
    assert keel("no-such-command").returncode == 2


def test_fsck_reports_corruption_and_exits_1(keel, tmp_path: Path) -> None:
    summary = json.loads(keel("quickstart", "--dir", str(tmp_path), "--json").stdout)
    ok = json.loads(keel("fsck", "--json").stdout)
    assert ok["ok"] is True
    assert ok["objects_checked"] >= 1 + summary["runs"]  # the dataset and each run's model
    digest = summary["digest"]
    obj = tmp_path / ".keel" / "objects" / digest[:2] / digest[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"bit rot")
    result = keel("fsck", "--json")
    assert result.returncode == 1
    bad = json.loads(result.stdout)
    assert bad["corrupt"] == [obj.parent.name + obj.name]
    human = keel("fsck")
    assert human.returncode == 1
    assert "corrupt" in human.stdout


def test_quickstart_stores_and_verifies_a_dataset(keel, tmp_path: Path) -> None:
    result = keel("quickstart", "--dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert "keel quickstart" in result.stdout
    assert "verify dataset" in result.stdout
    info = json.loads(keel("info", "--json", cwd=tmp_path / "demo").stdout)
    assert info["counts"]["dataset_versions"] == 2  # credit and its holdout split
    assert info["counts"]["runs"] == 3
    assert "train and track models" in result.stdout
    runs = json.loads(keel("runs", "ls", "--json", cwd=tmp_path / "demo").stdout)
    assert {r["status"] for r in runs} == {"FINISHED"}
    assert all(0.5 < r["metrics"]["holdout_auc"] <= 1 for r in runs)
    assert all(r["tags"]["keel.input.training"] == "credit:v1" for r in runs)
    (model,) = json.loads(keel("models", "ls", "--json", cwd=tmp_path / "demo").stdout)
    assert model["aliases"] == {"champion": "credit-default:1"}
    lineage = json.loads(
        keel("lineage", "credit:v1", "--down", "--json", cwd=tmp_path / "demo").stdout
    )
    assert {n["kind"] for n in lineage["nodes"]} == {
        "dataset_version",
        "run",
        "model_version",
        "validation_report",
    }
    assert info["counts"]["validation_reports"] == 1  # credit:v1 passed; the bad batch
    assert "reject a bad batch" in result.stdout  # was checked, not recorded or trained on
    assert (tmp_path / "demo" / "schemas" / "credit.yaml").is_file()


def test_quickstart_deploys_serves_and_logs_its_champion(keel, tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    result = keel("quickstart", "--dir", str(demo), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["deployment"] == "credit-scoring"
    assert summary["served_requests"] == 200
    assert summary["logged_predictions"] == 200  # the server flushed its log on stopping
    assert summary["feedback_labels"] == 100
    assert (demo / "deploy" / "credit-scoring.yaml").is_file()
    (rollout,) = json.loads(keel("deploy", "history", "credit-scoring", "--json", cwd=demo).stdout)
    assert (rollout["revision"], rollout["status"]) == (1, "active")
    trace = keel("lineage", f"request:{summary['request_id']}", "--json", cwd=demo)
    assert trace.returncode == 0, trace.stderr
    graph = json.loads(trace.stdout)
    assert graph["root"] == {"kind": "prediction", "id": summary["request_id"]}
    assert {"model_version", "run", "dataset_version"} <= {n["kind"] for n in graph["nodes"]}
    rows = keel(
        "lake",
        "query",
        "SELECT count(*) AS n FROM predictions p JOIN feedback f USING (request_id)",
        "--json",
        cwd=demo,
    )
    assert rows.returncode == 0, rows.stderr
    assert json.loads(rows.stdout) == [{"n": 100}]


def test_init_on_postgres_and_s3_through_the_environment(
    keel, pg_url: str, s3_bucket: str, s3_endpoint: str
) -> None:
    env = {
        "KEEL_URI": pg_url,
        "KEEL_OBJECTS": f"s3://{s3_bucket}/keel",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": s3_endpoint,
    }
    assert keel("init", env=env).returncode == 0
    info = json.loads(keel("info", "--json", env=env).stdout)
    assert info["uri"].startswith("postgresql+psycopg://")
    assert info["objects"] == f"s3://{s3_bucket}/keel"
    assert info["sources"]["uri"] == "KEEL_URI"


def test_info_on_an_empty_postgres_database_creates_nothing_and_init_twice_refuses(
    keel, pg_url: str, pg_admin, tmp_path: Path
) -> None:
    import sqlalchemy as sa

    schema = pg_url.rsplit("%3D", 1)[1]

    def tables() -> int:
        with pg_admin.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            ).scalar_one()

    env = {"KEEL_URI": pg_url, "KEEL_OBJECTS": str(tmp_path / "objects")}
    info = keel("info", env=env)
    assert info.returncode == 1
    assert "No keel store in" in " ".join(info.stderr.split())
    assert "keel init" in info.stderr
    assert tables() == 0
    assert keel("init", env=env).returncode == 0
    assert tables() > 0
    again = keel("init", env=env)
    assert again.returncode == 1
    assert "already holds a keel store" in " ".join(again.stderr.split())
    assert keel("info", "--json", env=env).returncode == 0


def test_the_quickstarts_next_steps_work_as_printed(tmp_path: Path) -> None:
    """make demo runs .venv/bin/keel without activating the venv: the printed commands must
    work from a shell whose PATH has no keel."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["PATH"] = "/usr/bin:/bin"
    env["COLUMNS"] = "80"  # a narrow terminal: the commands must not be wrapped
    demo = tmp_path / "demo"
    shown = subprocess.run(
        [sys.executable, "-m", "keel", "quickstart", "--dir", str(demo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    steps = shown.stdout.split("Explore it:", 1)[1].splitlines()[1:]
    commands = [line.strip() for line in steps if line.startswith("  ")]
    assert len(commands) >= 5
    assert all(not c.startswith("keel ") for c in commands)  # keel is not on this PATH
    for command in commands:
        if " serve " in command:
            continue  # a server runs until stopped
        ran = subprocess.run(
            ["bash", "-c", command], cwd=demo, env=env, capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == 0, (command, ran.stderr)
