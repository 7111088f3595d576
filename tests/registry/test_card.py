"""Model cards on SQLite and PostgreSQL: lineage, run, evaluations, approvals; HTML escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.data import DatasetService
from keel.registry import _metrics
from keel.registry._card import model_card
from keel.registry._evaluate import evaluate
from keel.registry._service import Actor, RegistryService
from keel.store import Store
from keel.tracking import SqlTracking

SCRIPT = "<script>alert('card')</script>"


@pytest.fixture(autouse=True)
def _few_latency_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_metrics, "LATENCY_CALLS", 10)


@pytest.fixture
def registry(store: Store) -> RegistryService:
    """credit:1 from a tracked run on train:v1, evaluated on holdout:v1 and approved."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.normal(50, 10, 300), "debt": rng.uniform(0, 1, 300)})
    frame["default"] = (frame["debt"] + rng.normal(0, 0.2, 300) > 0.5).astype(int)
    datasets = DatasetService(store)
    train = datasets.log(frame.iloc[:200], "train")
    datasets.log(frame.iloc[200:], "holdout")

    tracking = SqlTracking(store)
    run = tracking.create_run(
        "credit",
        name="fit-lr",
        params={"C": "0.5", "solver": "lbfgs"},
        tags={"keel.input.training": train.ref},
        code={"git": {"commit": "0123456789abcdef", "branch": "main", "dirty": False}},
    )
    tracking.log_batch(run.id, metrics=[("train_auc", 0.93, 0, 0)])
    tracking.log_input(run.id, "dataset_version", train.id)

    service = RegistryService(store, actor=Actor("alice", "admin"))
    X = frame[["income", "debt"]].iloc[:200]
    model = LogisticRegression(C=0.5).fit(X, frame["default"].iloc[:200])
    service.register(
        model, "credit", input_example=X.head(), run=run.id, description=f"Scores {SCRIPT}"
    )
    evaluate(service, "credit:1", data="holdout:v1", label="default", gate="roc_auc >= 0.8")
    service.approve("credit:1", "calibrated <b>well</b>")
    return service


def test_card_markdown_has_lineage_metrics_gate_and_approvals(registry: RegistryService) -> None:
    markdown, _ = model_card(registry, "credit:1")
    auc = registry.evaluations("credit:1")[0]["metrics"]["metrics"]["candidate"]["roc_auc"]
    for expected in (
        "# Model card: credit:1",
        "| flavor | sklearn |",
        "| income | float64 |",
        "| C | 0.5 |",
        "| solver | lbfgs |",
        "| train_auc | 0.93 |",
        "| code commit | 0123456789abcdef |",
        "| training | train:v1 |",
        "- train:v1 (dataset version) --input_to--> run fit-lr (",
        ") --produced--> credit:1 (model version)",
        "on holdout:v1",
        f"| roc_auc | {auc:.4g} | 0.5 |",
        "Gate 'roc_auc >= 0.8' passed.",
        f"- roc_auc {auc:.6g} >= 0.8: true",
        "| alice | approved |",
        "calibrated <b>well</b>",
        "| register |",
        "| evaluate |",
    ):
        assert expected in markdown, expected


def test_card_html_is_self_contained_and_escaped(registry: RegistryService) -> None:
    _, page = model_card(registry, "credit@latest")
    assert page.startswith("<!DOCTYPE html>")
    assert SCRIPT not in page
    assert "<p>Scores &lt;script&gt;alert(&#39;card&#39;)&lt;/script&gt;</p>" in page
    assert "<b>well</b>" not in page
    assert "&lt;b&gt;well&lt;/b&gt;" in page
    assert "<script" not in page
    assert "<svg" in page  # the evaluation chart, inline
    assert "http://" not in page
    assert "https://" not in page
    assert "<td>0123456789abcdef</td>" in page


def test_card_of_a_bare_version_says_what_is_missing(store: Store) -> None:
    registry = RegistryService(store)
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    registry.register(LogisticRegression().fit(X, [0, 0, 1, 1]), "toy")
    markdown, page = model_card(registry, "toy:1")
    assert "No signature was recorded" in markdown
    assert "No run is recorded as this version's source." in markdown
    assert "No training data is recorded" in markdown
    assert "None yet: 'keel models evaluate toy:1" in markdown
    assert "No one has approved or rejected this version." in markdown
    assert "None yet: &#39;keel models evaluate toy:1" in page
