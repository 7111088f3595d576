"""keel ci report on SQLite and PostgreSQL, locally and through a keel server: real
scikit-learn models trained on small data and registered from runs that read a validated
training set; a candidate that passes the gate and one that fails it; no champion yet;
the gate and data taken from a recorded evaluation; bad input; exit codes; the Markdown;
the docs' example and workflow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from keel.client import Client
from keel.config import Config
from keel.errors import InvalidInput, NotFound
from keel.registry import _metrics
from keel.registry._ci_markdown import MARKER
from keel.registry._ci_report import ci_report
from keel.registry._evaluate import evaluate
from keel.server import TokenService
from keel.store import Store, init_project
from keel.validation import validate
from tests._cli import run_keel
from tests.conftest import live_server

FEATURES = ["income", "debt"]
GATE = "roc_auc >= champion.roc_auc - 0.005"
ROOT = Path(__file__).parent.parent.parent


@pytest.fixture(autouse=True)
def _few_latency_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_metrics, "LATENCY_CALLS", 20)


def make_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "debt": rng.uniform(0, 1, n),
            "region": rng.choice(["north", "south", "west"], n),
            "applied": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"),
        }
    )
    frame["default"] = (frame["debt"] + rng.normal(0, 0.2, n) > 0.5).astype(int)
    return frame


def fill(client: Client, *, champion: bool = True) -> pd.DataFrame:
    """applications:v1 (validated, the training data of both runs), holdout:v1, and
    credit:1 (C=1e-4, weak; the champion) and credit:2 (C=1, strong), each from a run."""
    frame = make_frame()
    train = client.datasets.log(frame.iloc[:400], "applications")
    schema = {"schema": "applications", "columns": {"debt": {"in_range": {"min": 0, "max": 1}}}}
    assert validate(train.ref, schema, store=client.store).passed
    client.datasets.log(frame.iloc[400:], "holdout")
    for c in (1e-4, 1.0):
        with client.tracker.start_run("credit", params={"C": c}, capture=False) as run:
            run.log_input(train)
            model = LogisticRegression(C=c).fit(frame.iloc[:400][FEATURES], frame["default"][:400])
            client.models.register(
                model, "credit", input_example=frame[FEATURES].head(), run=run.id, metrics={"C": c}
            )
    if champion:
        client.models.set_alias("credit:1", "champion")
    return frame


@pytest.fixture
def client(store: Store) -> Iterator[Client]:
    with Client(config=store.config) as opened:
        yield opened


def _row(report, metric: str) -> dict:
    return next(r for r in report.comparison if r["metric"] == metric)


def _evaluations(client: Client) -> int:
    return sum(len(client.models.evaluations(f"credit:{v}")) for v in (1, 2))


def test_a_better_candidate_passes_with_metrics_segments_windows_and_training_data(
    client: Client,
) -> None:
    frame = fill(client)
    report = ci_report(
        client,
        "credit:2",
        gate=GATE,
        data="holdout:v1",
        label="default",
        by="region",
        backtest="applied",
    )
    assert report.passed is True
    assert (report.candidate, report.against, report.asked_against) == (
        "credit:2",
        "credit:1",
        "credit@champion",
    )
    # the evaluation is keel's own (same numbers as evaluate), equal to scikit-learn's
    same = evaluate(
        client.models,
        "credit:2",
        data="holdout:v1",
        label="default",
        against="credit:1",
        record=False,
    )
    holdout = frame.iloc[400:]
    strong = LogisticRegression(C=1.0).fit(frame.iloc[:400][FEATURES], frame["default"][:400])
    auc = skm.roc_auc_score(holdout["default"], strong.predict_proba(holdout[FEATURES])[:, 1])
    roc = _row(report, "roc_auc")
    assert roc["candidate"] == pytest.approx(auc)
    assert roc["candidate"] == pytest.approx(same.metrics["candidate"]["roc_auc"])
    assert roc["against"] == pytest.approx(same.metrics["against"]["roc_auc"])
    assert roc["delta"] == pytest.approx(roc["candidate"] - roc["against"])
    assert roc["better"] is True
    assert roc["baseline"] == pytest.approx(0.5)
    assert _row(report, "log_loss")["better"] is (_row(report, "log_loss")["delta"] < 0)
    assert report.gate_detail == [same_clause(roc)]
    assert {r["metric"]: (r["candidate"], r["against"]) for r in report.registered} == {
        "C": (1.0, 1e-4)
    }
    # per-segment and per-window deltas from the same predictions
    assert [s["group"] for s in report.segments] == ["north", "south", "west"]
    north = holdout[holdout["region"] == "north"]
    view = report.segments[0]["roc_auc"]
    assert report.segments[0]["rows"] == len(north)
    assert view["candidate"] == pytest.approx(
        skm.roc_auc_score(north["default"], strong.predict_proba(north[FEATURES])[:, 1])
    )
    assert view["delta"] == pytest.approx(view["candidate"] - view["against"])
    assert [w["group"] for w in report.backtest] == ["2024-01", "2024-02", "2024-03"]
    assert sum(w["rows"] for w in report.backtest) == len(holdout)
    assert report.segments_source.startswith("this evaluation, by 'region'")
    [trained_on] = report.training_data
    assert trained_on["dataset"] == "applications:v1"
    assert trained_on["passed"] is True
    assert trained_on["reports"] == 1
    assert "0 failed" in trained_on["summary"]
    assert _evaluations(client) == 0  # the report records nothing

    text = report.to_markdown()
    assert text.startswith(MARKER + "\n## keel CI report: `credit:2` vs `credit:1`")
    assert f"**Gate ✅ passed**: `{GATE}`" in text
    assert "| metric | candidate | against | change | baseline |" in text
    assert re.search(r"\| roc_auc \| 0\.\d+ \| 0\.\d+ \| \+0\.\d+ ▲ \| 0\.5 \|", text)
    assert "### Segments" in text
    assert "| north | " in text
    assert "### Back-test" in text
    assert "| 2024-02 | " in text
    assert "| `applications:v1` | ✅ passed | " in text
    assert json.loads(json.dumps(report.to_dict()))["passed"] is True


def same_clause(roc: dict) -> str:
    return f"roc_auc {roc['candidate']:.6g} >= champion.roc_auc {roc['against']:.6g} - 0.005: true"


def test_a_worse_candidate_fails_the_gate(client: Client) -> None:
    fill(client)
    report = ci_report(
        client, "credit:1", against="2", gate=GATE, data="holdout:v1", label="default"
    )
    assert report.passed is False
    assert report.against == "credit:2"
    assert report.gate_detail[0].endswith(": false")
    assert _row(report, "roc_auc")["better"] is False
    assert report.segments == []
    text = report.to_markdown()
    assert "**Gate ❌ failed**" in text
    assert "▼" in text
    assert "None: give --by COLUMN" in text


def test_with_no_champion_yet_the_gate_decides_alone(client: Client) -> None:
    fill(client, champion=False)
    both = "roc_auc >= champion.roc_auc - 0.005 and roc_auc >= 0.7"
    report = ci_report(client, "credit:2", gate=both, data="holdout:v1", label="default")
    assert report.passed is True
    assert report.against is None
    assert report.asked_against == "credit@champion"
    assert len(report.gate_detail) == 1
    assert report.gate_detail[0].startswith("roc_auc ")
    assert "champion" not in report.gate_detail[0]
    assert any("credit has no @champion yet" in n for n in report.notes)
    assert "against" not in report.comparison[0]
    assert "vs `credit@champion (none yet)`" in report.to_markdown()
    # an alternative that names the champion is dropped, the rest decides
    strict = ci_report(
        client,
        "credit:1",
        gate="roc_auc > champion.roc_auc or roc_auc >= 0.99",
        data="holdout:v1",
        label="default",
    )
    assert strict.passed is False
    only = ci_report(client, "credit:1", gate=GATE, data="holdout:v1", label="default")
    assert only.passed is True
    assert only.gate_detail == []
    assert any("with none to beat, the gate passes" in n for n in only.notes)


def test_gate_data_and_views_come_from_the_recorded_evaluation(client: Client) -> None:
    fill(client)
    evaluate(
        client.models,
        "credit:2",
        data="holdout:v1",
        label="default",
        against="credit:1",
        by="region",
        gate=GATE,
    )
    report = ci_report(client, "credit:2")
    assert report.gate == GATE
    assert (report.data, report.label) == ("holdout:v1", "default")
    assert report.passed is True
    taken = "The gate, the data and the label come from the evaluation of credit:2"
    assert any(taken in n for n in report.notes)
    assert [s["group"] for s in report.segments] == ["north", "south", "west"]
    assert report.segments_source.startswith("the recorded evaluation of credit:2")
    assert [r["gate"] for r in report.recorded] == [GATE]
    # a candidate with no gate of its own is held to the champion's
    fill_more = ci_report(client, "credit:1", against="credit:2")
    assert fill_more.gate == GATE
    assert fill_more.passed is False


def test_bad_input_is_refused_and_records_nothing(client: Client) -> None:
    fill(client)
    ok = {"gate": GATE, "data": "holdout:v1", "label": "default"}
    cases = [
        (lambda: ci_report(client, "credit:9", **ok), NotFound, "has no version 9"),
        (lambda: ci_report(client, "nope", **ok), NotFound, "nope"),
        (lambda: ci_report(client, "credit::2", **ok), InvalidInput, "Cannot read the model"),
        (lambda: ci_report(client, "credit:2", against="7", **ok), NotFound, "no version 7"),
        (lambda: ci_report(client, "credit:2", against="other@champion", **ok), NotFound, "other"),
        (lambda: ci_report(client, "credit:2"), InvalidInput, "No --gate, --data, --label"),
        (
            lambda: ci_report(
                client, "credit:2", gate="roc_auc >= = 1", data="holdout:v1", label="default"
            ),
            InvalidInput,
            "Gate syntax error",
        ),
        (lambda: ci_report(client, "credit:2", by="county", **ok), InvalidInput, "county"),
        (
            lambda: ci_report(client, "credit:2", **{**ok, "gate": "auc >= 0.5"}),
            InvalidInput,
            "Unknown metric 'auc'",
        ),
        (lambda: ci_report(client, "credit:2", **{**ok, "label": "y"}), InvalidInput, "'y'"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    assert _evaluations(client) == 0


# -- through a keel server -------------------------------------------------------------


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[tuple[Config, str, str]]:
    init_project(tmp_path, store_config).close()
    with Client(config=store_config) as local:
        fill(local)
        _, token = TokenService(local.store).create("ci", "reader")
    with live_server(store_config, auth=True) as url:
        yield store_config, url, token


def test_through_a_server_the_report_is_the_same(
    served: tuple[Config, str, str], tmp_path: Path
) -> None:
    config, url, token = served
    options = {"gate": GATE, "data": "holdout:v1", "label": "default", "by": "region"}
    with Client(config=config) as local, Client(url, token=token) as remote:
        here = ci_report(local, "credit:2", **options)
        there = ci_report(remote, "credit:2", **options)
    timing = ("latency", "throughput")

    def steady(report) -> list[dict]:
        return [r for r in report.comparison if not r["metric"].startswith(timing)]

    assert steady(there) == steady(here)
    assert there.segments == here.segments
    assert there.training_data == here.training_data
    assert (there.passed, there.against, there.gate_detail) == (True, "credit:1", here.gate_detail)
    # the command, pointed at the server (as a CI job is)
    remote = {"KEEL_URI": url, "KEEL_TOKEN": token}
    given = ("--gate", GATE, "--data", "holdout:v1", "--label", "default")
    cli = run_keel(
        "ci", "report", "--candidate", "credit:2", *given, "--markdown", cwd=tmp_path, env=remote
    )
    assert cli.returncode == 0, cli.stderr
    assert "## keel CI report: `credit:2` vs `credit:1`" in cli.stdout
    assert "| `applications:v1` | ✅ passed |" in cli.stdout


# -- the CLI, the docs and the workflow --------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    with init_project(tmp_path) as store, Client(config=store.config) as client:
        fill(client)
    return tmp_path


def test_cli_exit_codes_markdown_and_json(project: Path) -> None:
    given = ("--gate", GATE, "--data", "holdout:v1", "--label", "default")
    passed = run_keel(
        "ci",
        "report",
        "--candidate",
        "credit:2",
        *given,
        "--markdown",
        "-o",
        "r.md",
        cwd=project,
    )
    assert passed.returncode == 0, passed.stderr
    text = (project / "r.md").read_text()
    assert text.startswith(MARKER)
    assert "Gate ✅ passed" in text
    failed = run_keel(
        "ci",
        "report",
        "--candidate",
        "credit:1",
        "--against",
        "credit:2",
        *given,
        "--markdown",
        cwd=project,
    )
    assert failed.returncode == 1
    assert "Gate ❌ failed" in failed.stdout
    as_json = run_keel("ci", "report", "--candidate", "credit:1", *given, "--json", cwd=project)
    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    assert body["against"] == "credit:1"  # the champion itself
    assert any("is the candidate itself" in w for w in body["warnings"])
    shown = run_keel(
        "ci", "report", "--candidate", "credit:2", *given, "--by", "region", cwd=project
    )
    assert shown.returncode == 0, shown.stderr
    assert "gate passed" in shown.stdout
    assert "applications:v1" in shown.stdout
    for args, message in [
        (("--candidate", "credit:9", *given), "has no version 9"),
        (("--candidate", "credit:2"), "No --gate, --data, --label"),
        (("--candidate", "credit:2", *given, "--markdown", "--json"), "not both"),
        (
            (
                "--candidate",
                "credit:2",
                "--gate",
                "roc_auc >>= 1",
                "--data",
                "holdout:v1",
                "--label",
                "default",
            ),
            "Gate syntax error",
        ),
    ]:
        bad = run_keel("ci", "report", *args, cwd=project)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert message in bad.stderr
    usage = run_keel("ci", "report", cwd=project)
    assert usage.returncode == 2  # typer: --candidate is required


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", (ROOT / "docs" / "ci.md").read_text(), re.DOTALL)


def test_the_workflow_trains_on_pull_requests_and_posts_the_report() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "train.yml").read_text())
    [in_doc] = _blocks("yaml")
    assert yaml.safe_load(in_doc) == workflow  # the doc shows the file as it is
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads 'on' as true
    assert set(triggers) == {"pull_request"}
    assert workflow["permissions"]["pull-requests"] == "write"
    steps = workflow["jobs"]["train"]["steps"]
    runs = [s.get("run", "") for s in steps]
    train = next(i for i, r in enumerate(runs) if "keel pipeline run" in r)
    report = next(i for i, r in enumerate(runs) if "keel ci report" in r)
    comment = next(i for i, r in enumerate(runs) if "gh pr comment" in r)
    assert train < report < comment
    assert "--markdown --output report.md" in runs[report].replace("\\\n", " ").replace("  ", " ")
    assert steps[-1]["if"] == "steps.report.outputs.code != '0'"
    env = workflow["jobs"]["train"]["env"]
    assert {"KEEL_URI", "KEEL_TOKEN"} <= set(env)


def test_the_docs_example_runs_as_written(tmp_path: Path) -> None:
    """The doc's Python builds a project (two versions, one champion) and reports; its shell
    example does the same from an empty folder with the real keel command on the PATH."""
    [python] = _blocks("python")
    [shell] = _blocks("sh")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    (tmp_path / "py").mkdir()
    built = subprocess.run(
        [sys.executable, "-c", python], cwd=tmp_path / "py", env=env, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.split()[:2] == ["True", "credit:1"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("keel", f'"{sys.executable}" -m keel'), ("python", sys.executable)):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        shim.chmod(0o755)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    work = tmp_path / "sh"
    work.mkdir()
    ran = subprocess.run(
        ["bash", "-e", "-c", shell], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stderr
    assert "the strict gate failed: exit code 1" in ran.stdout
    assert (work / "report.md").read_text().startswith(MARKER)
    strict = json.loads((work / "strict.json").read_text())
    assert strict["passed"] is False
    assert strict["against"] == "credit:1"


def test_a_gate_without_the_champion_keeps_what_decides_alone() -> None:
    from keel.registry._gate import parse_gate

    gate = parse_gate(
        "roc_auc >= champion.roc_auc - 0.005 and (accuracy > 0.7 or f1 > against.f1) "
        "and latency_p99_ms <= 20"
    )
    reduced = gate.without("against")
    assert [name for _, name, _ in reduced.metrics()] == ["accuracy", "latency_p99_ms"]
    metrics = {"candidate": {"accuracy": 0.8, "latency_p99_ms": 30.0}}
    verdict = reduced.check(metrics)
    assert verdict.passed is False
    assert verdict.details == ["accuracy 0.8 > 0.7: true", "latency_p99_ms 30 <= 20: false"]
    assert parse_gate("-champion.rmse < -1 or f1 >= champion.f1").without("against") is None
    assert gate.without("baseline").tree == gate.tree  # nothing names the baseline
