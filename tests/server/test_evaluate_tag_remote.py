"""Evaluating a model and tagging a dataset version through ``keel server``: the SDK
(keel.Client, keel.evaluate) and the CLI (``keel models evaluate``, ``keel data tag``) with
KEEL_URI=http://... and a token give what they give locally, need a writer, and leave an
audit event under the token's name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel.client import Client, reset_default_client
from keel.config import Config
from keel.errors import PermissionDenied
from keel.registry._evaluate import evaluate as evaluate_locally
from keel.registry._metrics import LATENCY_METRICS
from keel.store.audit import audit_events
from tests._cli import run_keel
from tests._served import Served, serve_store

PROJECT = "credit"
ROLES = ("reader", "writer")
GATE = "roc_auc >= champion.roc_auc - 0.5"


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"income": rng.normal(5, 1, n), "debt": rng.uniform(0, 1, n)})
    frame["default"] = (frame["debt"] + rng.normal(0, 0.2, n) > 0.5).astype(int)
    frame["region"] = rng.choice(["north", "south"], n)
    return frame


def _prepare(client: Client) -> None:
    train, holdout = _frame(), _frame(120, seed=1)
    client.datasets.log(holdout, "holdout")
    client.datasets.log(_frame(80, seed=2), "holdout")
    X, y = train[["income", "debt"]], train["default"]
    client.models.register(LogisticRegression(C=0.01).fit(X, y), "credit", input_example=X)
    client.models.register(LogisticRegression(C=1.0).fit(X, y), "credit", input_example=X)
    client.models.set_alias("credit:1", "champion")


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    with serve_store(store_config, tmp_path, ROLES, project=PROJECT, prepare=_prepare) as live:
        yield live


def _env(served: Served, role: str) -> dict[str, str]:
    return {"KEEL_URI": served.url, "KEEL_TOKEN": served.tokens[role], "KEEL_PROJECT": PROJECT}


def _events(served: Served, kind: str, action: str) -> list[dict]:
    with served.local() as local, local.store.read() as conn:
        return audit_events(conn, object_kind=kind, action=action)


def _comparable(result: dict) -> dict:
    """An evaluation without its latency and throughput figures (measured, so never the
    same twice)."""
    metrics = {
        side: {k: v for k, v in values.items() if k not in LATENCY_METRICS}
        for side, values in result["metrics"].items()
    }
    return {**result, "metrics": metrics}


def test_an_evaluation_through_the_server_is_the_local_one_recorded_under_the_token(
    served: Served,
) -> None:
    with served.local() as local:
        expected = evaluate_locally(
            local.models,  # type: ignore[arg-type]
            "credit:2",
            data="holdout:v1",
            label="default",
            against="credit@champion",
            by="region",
            gate=GATE,
            record=False,
        ).to_dict()
    with served.remote("writer") as writer:
        result = writer.models.evaluate(
            "credit:2",
            data="holdout:v1",
            label="default",
            against="credit@champion",
            by="region",
            gate=GATE,
        )
        recorded = writer.models.evaluations("credit:2")
    assert result.passed is True
    assert _comparable(result.to_dict()) == _comparable(expected)
    assert [(e["data_ref"], e["gate"], e["passed"]) for e in recorded] == [
        ("holdout:v1", GATE, True)
    ]
    [event] = _events(served, "model", "evaluate")
    assert event["actor"] == "writer-token"
    assert event["details"]["against"] == "credit:1"


def test_keel_evaluate_in_the_sdk_goes_through_the_server(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in _env(served, "writer").items():
        monkeypatch.setenv(key, value)
    reset_default_client()
    try:
        result = keel.evaluate("credit:2", data="holdout:v2", label="default", gate="rows >= 80")
    finally:
        reset_default_client()
    assert (result.candidate, result.data, result.passed) == ("credit:2", "holdout:v2", True)
    assert result.metrics["candidate"]["rows"] == 80
    with served.local() as local:
        assert [e["data_ref"] for e in local.models.evaluations("credit:2")] == ["holdout:v2"]


def test_a_reader_can_neither_evaluate_nor_tag(served: Served) -> None:
    with served.remote("reader") as reader:
        with pytest.raises(PermissionDenied):
            reader.models.evaluate("credit:2", data="holdout:v1", label="default")
        with pytest.raises(PermissionDenied):
            reader.datasets.tag("holdout:v1", "golden")
    with served.local() as local:
        assert local.models.evaluations("credit:2") == []
        assert local.datasets.resolve("holdout:v1").tags == ()
    assert _events(served, "model", "evaluate") == []
    assert _events(served, "dataset", "tag") == []


def test_a_dataset_tag_moves_through_the_server_and_is_audited(served: Served) -> None:
    with served.remote("writer") as writer:
        tagged = writer.datasets.tag("holdout:v1", "golden")
        assert (tagged.ref, tagged.tags) == ("holdout:v1", ("golden",))
        moved = writer.datasets.tag("holdout:v2", "golden")
        assert "golden" in moved.tags
        assert writer.datasets.resolve("holdout@golden").ref == "holdout:v2"
    with served.local() as local:
        assert local.datasets.resolve("holdout:v1").tags == ()
    events = _events(served, "dataset", "tag")
    assert [(e["actor"], e["details"]) for e in events] == [
        ("writer-token", {"tag": "golden", "ref": "holdout:v1", "moved_from": None}),
        ("writer-token", {"tag": "golden", "ref": "holdout:v2", "moved_from": "holdout:v1"}),
    ]


def test_the_cli_evaluates_and_tags_through_the_server(served: Served, tmp_path: Path) -> None:
    env = _env(served, "writer")
    tagged = run_keel("data", "tag", "holdout:v1", "golden", "--json", cwd=tmp_path, env=env)
    assert tagged.returncode == 0, tagged.stdout + tagged.stderr
    assert json.loads(tagged.stdout)["ref"] == "holdout:v1"
    evaluated = run_keel(
        "models",
        "evaluate",
        "credit:2",
        "--data",
        "holdout@golden",
        "--label",
        "default",
        "--against",
        "credit@champion",
        "--gate",
        "roc_auc >= 2",
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert evaluated.returncode == 1, evaluated.stdout + evaluated.stderr  # the gate failed
    result = json.loads(evaluated.stdout)
    assert (result["data"], result["against"], result["passed"]) == (
        "holdout:v1",
        "credit:1",
        False,
    )
    refused = run_keel(
        "data", "tag", "holdout:v2", "golden", cwd=tmp_path, env=_env(served, "reader")
    )
    assert refused.returncode == 1
    assert "writer" in refused.stdout + refused.stderr
    with served.local() as local:
        assert local.datasets.resolve("holdout@golden").ref == "holdout:v1"
        assert [e["passed"] for e in local.models.evaluations("credit:2")] == [False]


def test_a_store_client_evaluates_with_the_same_method(served: Served) -> None:
    with served.local() as local:
        result = local.models.evaluate(
            "credit:2",
            data="holdout:v1",
            label="default",
            gate=GATE.replace("champion.", "baseline."),
        )
        assert (result.candidate, result.passed) == ("credit:2", True)
        assert [e["data_ref"] for e in local.models.evaluations("credit:2")] == ["holdout:v1"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PUT", "dataset-versions/holdout:v1/tags", {"tag": "latest"}, 422),  # reserved
        ("PUT", "dataset-versions/holdout:v1/tags", {"tag": "a b"}, 422),
        ("PUT", "dataset-versions/holdout:v1/tags", {}, 422),
        ("PUT", "dataset-versions/nosuch:v1/tags", {"tag": "golden"}, 404),
        ("POST", "models/credit/versions/2/evaluations", {"data": "holdout:v1"}, 422),
        (
            "POST",
            "models/credit/versions/2/evaluations",
            {"data": "holdout:v1", "label": "nope"},
            422,
        ),
        ("POST", "models/credit/versions/2/evaluations", {"data": "nosuch:v1", "label": "x"}, 404),
        (
            "POST",
            "models/credit/versions/9/evaluations",
            {"data": "holdout:v1", "label": "default"},
            404,
        ),
        (
            "POST",
            "models/credit/versions/2/evaluations",
            {"data": "holdout:v1", "label": "default", "gate": "roc_auc >>= 1"},
            422,
        ),
    ],
)
def test_bad_requests_are_4xx_naming_the_problem_and_change_nothing(
    served: Served, method: str, path: str, body: dict, status: int
) -> None:
    url = f"{served.url}/api/v1/projects/{PROJECT}/{path}"
    response = httpx.request(method, url, json=body, headers=served.headers("writer"))
    assert response.status_code == status, response.text
    assert response.json()["message"]
    with served.local() as local:
        assert local.models.evaluations("credit:2") == []
        assert local.datasets.resolve("holdout:v1").tags == ()
