"""``keel deploy`` as a user runs it: plan, apply (asks), rollback (asks), history, ls,
build; invalid YAML and unknown versions name the line and change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from keel.deploy import parse_spec_text
from keel.store import Store, init_project
from tests._cli import run_keel

from .conftest import CANARY, SPEC, register_credit


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project whose registry holds credit:1..3, and the two spec files."""
    with init_project(tmp_path) as store:
        register_credit(store)
    (tmp_path / "deploy.yaml").write_text(SPEC)
    (tmp_path / "canary.yaml").write_text(CANARY)
    return tmp_path


def _counts(folder: Path) -> dict[str, int]:
    from keel.config import resolve

    with Store.open(resolve(uri=f"sqlite:///{folder / '.keel' / 'keel.db'}")) as store:
        counts = store.counts()
    return {k: counts[k] for k in ("deployments", "rollouts", "audit_events")}


def test_plan_apply_rollback_history(folder: Path) -> None:
    plan = run_keel("deploy", "plan", "deploy.yaml", cwd=folder)
    assert plan.returncode == 0, plan.stderr
    assert "deployment credit-scoring will be created" in plan.stdout
    assert "+ routes.1.version: @challenger" in plan.stdout
    assert "+ shadow: [credit:3]" in plan.stdout
    cancelled = run_keel("deploy", "apply", "deploy.yaml", cwd=folder, stdin="n\n")
    assert cancelled.returncode == 1
    assert "nothing was changed" in cancelled.stdout
    assert _counts(folder)["rollouts"] == 0
    applied = run_keel("deploy", "apply", "deploy.yaml", cwd=folder, stdin="y\n")
    assert applied.returncode == 0, applied.stderr
    assert "applied credit-scoring revision 1 (active)" in applied.stdout
    again = run_keel("deploy", "apply", "deploy.yaml", "--yes", cwd=folder)
    assert "no changes (revision 1 already runs this spec)" in again.stdout
    (folder / "deploy.yaml").write_text(
        SPEC.replace("weight: 90", "weight: 80").replace("weight: 10", "weight: 20")
    )
    plan = run_keel("deploy", "plan", "deploy.yaml", "--json", cwd=folder)
    changes = json.loads(plan.stdout)["changes"]
    assert changes == [
        {"path": "routes.0.weight", "action": "~", "before": 90.0, "after": 80.0},
        {"path": "routes.1.weight", "action": "~", "before": 10.0, "after": 20.0},
    ]
    applied = run_keel("deploy", "apply", "deploy.yaml", "--yes", "--json", cwd=folder)
    assert json.loads(applied.stdout)["rollout"]["revision"] == 2
    back = run_keel("deploy", "rollback", "credit-scoring", cwd=folder, stdin="y\n")
    assert back.returncode == 0, back.stderr
    assert "revision 3 runs the spec of revision 1" in back.stdout
    listed = run_keel("deploy", "ls", cwd=folder)
    assert "credit-scoring" in listed.stdout
    assert "credit@champion 90%" in listed.stdout
    history = run_keel("deploy", "history", "credit-scoring", "--json", cwd=folder)
    assert [(r["revision"], r["status"]) for r in json.loads(history.stdout)] == [
        (3, "active"),
        (2, "rolled_back"),
        (1, "superseded"),
    ]


def test_history_shows_canary_steps(folder: Path) -> None:
    from keel.client import Client

    run_keel("deploy", "apply", "deploy.yaml", "--yes", cwd=folder)
    run_keel("deploy", "apply", "canary.yaml", "--yes", cwd=folder)
    with Client(
        f"sqlite:///{folder / '.keel' / 'keel.db'}", objects=str(folder / ".keel" / "objects")
    ) as client:
        canary = client.deployments.current("credit-scoring")
        client.deployments.record_step(canary.id, 0, 10, "passed", {"requests": 40, "errors": 0})
    history = run_keel("deploy", "history", "credit-scoring", cwd=folder)
    assert history.returncode == 0, history.stderr
    assert "canary" in history.stdout
    assert "0: 10% passed (requests=40, errors=0)" in history.stdout
    assert "credit:3 100%" in history.stdout


def test_mistakes_name_the_line_and_change_nothing(folder: Path) -> None:
    before = _counts(folder)
    (folder / "bad.yaml").write_text(SPEC.replace("@challenger", "@challengr"))
    result = run_keel("deploy", "apply", "bad.yaml", "--yes", cwd=folder)
    assert result.returncode == 1
    assert "bad.yaml line 5 (routes.1.version)" in result.stderr
    assert "Traceback" not in result.stderr
    (folder / "bad.yaml").write_text(SPEC.replace("weight: 10}", "weight: 10"))
    result = run_keel("deploy", "plan", "bad.yaml", cwd=folder)
    assert result.returncode == 1
    assert "bad.yaml line 6: not valid YAML" in result.stderr
    (folder / "bad.yaml").write_text(SPEC + "replicas: 3\n")
    result = run_keel("deploy", "apply", "bad.yaml", "--yes", cwd=folder)
    assert "line 8 (replicas): unknown field 'replicas'" in result.stderr
    result = run_keel("deploy", "apply", "missing.yaml", "--yes", cwd=folder)
    assert result.returncode != 0
    result = run_keel("deploy", "rollback", "nope", "--yes", cwd=folder)
    assert result.returncode == 1
    assert "No deployment named 'nope'" in result.stderr
    result = run_keel("deploy", "apply", "deploy.yaml", "--json", cwd=folder)
    assert "--json cannot ask for confirmation: add --yes" in result.stderr
    assert _counts(folder) == before
    run_keel("deploy", "apply", "deploy.yaml", "--yes", cwd=folder)
    result = run_keel("deploy", "rollback", "credit-scoring", "--yes", cwd=folder)
    assert result.returncode == 1
    assert "nothing to roll back to" in result.stderr


def test_stored_values_print_as_text(folder: Path) -> None:
    spec = SPEC.replace("batching", "sticky_key: '[bold]id'\nbatching")
    (folder / "deploy.yaml").write_text(spec)
    plan = run_keel("deploy", "plan", "deploy.yaml", cwd=folder)
    assert "+ sticky_key: [bold]id" in plan.stdout


def test_build_writes_a_dockerfile_and_manifests(folder: Path) -> None:
    run_keel("deploy", "apply", "deploy.yaml", "--yes", cwd=folder)
    result = run_keel(
        "deploy", "build", "credit-scoring", "--out", "dist", "--replicas", "3", cwd=folder
    )
    assert result.returncode == 0, result.stderr
    assert "kubectl create secret generic credit-scoring-keel" in result.stdout
    config = yaml.safe_load((folder / "dist" / "k8s" / "configmap.yaml").read_text())
    assert parse_spec_text(config["data"]["deployment.yaml"]) == parse_spec_text(SPEC)
    deployment = yaml.safe_load((folder / "dist" / "k8s" / "deployment.yaml").read_text())
    assert deployment["spec"]["replicas"] == 3
    assert (folder / "dist" / "Dockerfile").is_file()
    result = run_keel("deploy", "build", "nope", "--out", "dist", cwd=folder)
    assert result.returncode == 1
    assert "No deployment named 'nope'" in result.stderr
