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


def test_init_twice_says_it_is_initialised_and_changes_nothing(keel, tmp_path: Path) -> None:
    assert keel("init").returncode == 0
    db = tmp_path / ".keel" / "keel.db"
    before = (db.read_bytes(), sorted(p.name for p in (tmp_path / ".keel").iterdir()))
    again = keel("init")
    assert again.returncode == 0, again.stderr
    said = " ".join(again.stdout.split())
    assert "Keel project 'default' is already initialised in" in said
    assert str(db) in said
    assert "nothing changed" in said
    assert (db.read_bytes(), sorted(p.name for p in (tmp_path / ".keel").iterdir())) == before
    shown = json.loads(keel("init", "--json").stdout)
    assert shown["created"] is False
    assert shown["project"] == "default"
    counts = json.loads(keel("info", "--json").stdout)["counts"]
    assert counts == {"projects": 1, "audit_events": 1}  # one creation, however many inits


def test_init_again_asking_for_another_project_is_a_clear_error(keel, tmp_path: Path) -> None:
    assert keel("init").returncode == 0
    other = keel("init", env={"KEEL_PROJECT": "credit"})
    assert other.returncode == 1
    said = " ".join(other.stderr.split())
    assert "with project 'default' but not 'credit'" in said
    assert "keel projects create credit" in said
    assert "Traceback" not in other.stderr
    names = [p["name"] for p in json.loads(keel("projects", "ls", "--json").stdout)]
    assert names == ["default"]


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


def _quickstart(*args: str, cwd: Path, env: dict[str, str] | None = None):
    """``keel quickstart --fast ...`` with a timeout the whole loop fits in on a busy machine."""
    import os
    import subprocess
    import sys

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    full_env.update(env or {"COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "keel", "quickstart", "--fast", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One run of the quickstart's loop (fast mode) that several tests read."""
    folder = tmp_path_factory.mktemp("cli-quickstart") / "demo"
    result = _quickstart("--dir", str(folder), "--json", cwd=folder.parent)
    assert result.returncode == 0, result.stderr
    return folder, json.loads(result.stdout)


def test_fsck_reports_corruption_and_exits_1(keel, tmp_path: Path) -> None:
    done = _quickstart("--dir", str(tmp_path), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
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


def test_quickstart_versions_validates_trains_and_retrains(keel, demo: tuple[Path, dict]) -> None:
    folder, summary = demo
    assert summary["dataset"] == "credit:v1"
    info = json.loads(keel("info", "--json", cwd=folder).stdout)
    # credit (months 1-6) and its holdout; credit-recent (months 7-9) and its holdout
    assert info["counts"]["dataset_versions"] == 4
    assert info["counts"]["runs"] == summary["runs"] == 4  # a sweep of three, one retraining
    runs = json.loads(keel("runs", "ls", "--json", cwd=folder).stdout)
    assert {r["status"] for r in runs} == {"FINISHED"}
    swept = [r for r in runs if r["name"] != "retrain"]
    assert len(swept) == 3
    assert all(0.5 < r["metrics"]["holdout_auc"] <= 1 for r in swept)
    assert all(r["tags"]["keel.input.training"] == "credit:v1" for r in swept)
    (retrain,) = [r for r in runs if r["name"] == "retrain"]
    assert retrain["tags"]["keel.input.training"] == "credit-recent:v1"
    (model,) = json.loads(keel("models", "ls", "--json", cwd=folder).stdout)
    assert model["aliases"] == {"champion": "credit-default:2"}
    lineage = json.loads(keel("lineage", "credit:v1", "--down", "--json", cwd=folder).stdout)
    assert {"dataset_version", "run", "model_version", "validation_report"} <= {
        n["kind"] for n in lineage["nodes"]
    }
    assert info["counts"]["validation_reports"] == 1  # credit:v1 passed; the bad batch
    assert summary["rejected_batch_errors"]  # was checked, not recorded or trained on
    assert (folder / "schemas" / "credit.yaml").is_file()


def test_quickstart_serves_monitors_and_rolls_out_a_canary(keel, demo: tuple[Path, dict]) -> None:
    folder, summary = demo
    assert summary["deployment"] == "credit-scoring"
    assert summary["streamed_requests"] == 450  # months 7-9, one application per request
    assert summary["logged_predictions"] == summary["served_requests"]  # flushed on stopping
    assert summary["served_requests"] > summary["streamed_requests"]  # and live traffic after
    assert summary["feedback_labels"] == 450
    assert (folder / "deploy" / "credit-scoring.yaml").is_file()
    history = json.loads(keel("deploy", "history", "credit-scoring", "--json", cwd=folder).stdout)
    assert [(r["revision"], r["status"]) for r in history] == [(2, "promoted"), (1, "superseded")]
    assert [(s["weight"], s["status"]) for s in history[0]["steps"]] == [
        (10, "passed"),
        (50, "passed"),
        (100, "promoted"),
    ]
    alerts = json.loads(keel("alerts", "ls", "--status", "all", "--json", cwd=folder).stdout)
    assert [a["id"] for a in alerts] == [summary["alert"]]
    assert {"data_drift/salary", "performance/roc_auc"} <= set(alerts[0]["keys"])
    trace = keel("lineage", f"request:{summary['request_id']}", "--json", cwd=folder)
    assert trace.returncode == 0, trace.stderr
    graph = json.loads(trace.stdout)
    assert graph["root"] == {"kind": "prediction", "id": summary["request_id"]}
    assert {"model_version", "run", "dataset_version"} <= {n["kind"] for n in graph["nodes"]}
    rows = keel(
        "lake",
        "query",
        "SELECT count(*) AS n FROM predictions p JOIN feedback f USING (request_id)",
        "--json",
        cwd=folder,
    )
    assert rows.returncode == 0, rows.stderr
    assert json.loads(rows.stdout) == [{"n": 450}]


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


def test_info_on_an_empty_postgres_database_creates_nothing_and_init_twice_is_a_no_op(
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
    created = tables()
    again = keel("init", env=env)
    assert again.returncode == 0, again.stderr
    assert "is already initialised in postgresql+psycopg://" in " ".join(again.stdout.split())
    assert tables() == created
    assert keel("info", "--json", env=env).returncode == 0


def test_the_quickstarts_next_steps_work_as_printed(tmp_path: Path) -> None:
    """make demo runs .venv/bin/keel without activating the venv: the printed commands must
    work from a shell whose PATH has no keel."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["PATH"] = "/usr/bin:/bin"
    env["COLUMNS"] = "80"  # a narrow terminal: the commands must not be wrapped
    demo = tmp_path / "demo"
    shown = _quickstart("--dir", str(demo), cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "keel quickstart: the closed loop" in shown.stdout
    for stage in ("ingest, validate", "train, register", "deploy, serve", "monitor, alert"):
        assert stage in shown.stdout
    assert "ROC AUC before and after retraining" in shown.stdout
    # the alert's log action is part of the story, not a WARNING line amid the live view
    assert "keel.alerts" not in shown.stderr
    assert "WARNING" not in shown.stderr
    assert f"Open the dashboard: cd {demo} && " in shown.stdout
    assert shown.stdout.split("Open the dashboard:", 1)[1].split("\n", 1)[0].endswith(" ui")
    steps = shown.stdout.split("Explore it:", 1)[1].splitlines()[1:]
    commands = [line.strip() for line in steps if line.startswith("  ")]
    assert len(commands) >= 6
    assert all(not c.startswith("keel ") for c in commands)  # keel is not on this PATH
    for command in commands:
        if " serve " in command:
            continue  # a server runs until stopped
        ran = subprocess.run(
            ["bash", "-c", command], cwd=demo, env=env, capture_output=True, text=True, timeout=120
        )
        assert ran.returncode == 0, (command, ran.stderr)
