"""The registry from the SDK's front door (issue 16): keel.set_alias, keel.approve,
keel.reject and keel.evaluate as the CLI names them; a model registered in a run carries
the run's metrics and inputs; start_run(inputs=...) links data; a run with no input warns."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel.client import default_client, reset_default_client
from keel.errors import InvalidInput, NotFound, PermissionDenied
from keel.registry._sdk import MissingLineageWarning
from keel.store import init_project
from keel.tracking import RunQuery
from tests.conftest import live_server

RNG = np.random.default_rng(0)
X = pd.DataFrame({"income": RNG.normal(50, 10, 200), "debt": RNG.uniform(0, 1, 200)})
Y = (X["debt"] + RNG.normal(0, 0.2, 200) > 0.5).astype(int)


@pytest.fixture(params=["store", "server"])
def sdk(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> Iterator[str]:
    """The SDK's default client on a project's store, or on a keel server over it."""
    init_project(tmp_path).close()
    monkeypatch.chdir(tmp_path)
    reset_default_client()
    if request.param == "store":
        yield "store"
    else:
        with live_server(default_client().config) as url:
            monkeypatch.setenv("KEEL_URI", url)
            reset_default_client()
            yield "server"
    reset_default_client()


def _model() -> LogisticRegression:
    return LogisticRegression().fit(X, Y)


def test_a_model_registered_in_a_run_carries_its_metrics_and_inputs(sdk: str) -> None:
    train = keel.log_dataset(X.assign(default=Y), "applications")
    with keel.start_run(experiment="credit", capture=False, inputs=[train]) as run:
        keel.log_metric("auc", 0.8)
        keel.log_metric("auc", 0.9)
        version = keel.register_model(_model(), "credit", input_example=X.head())
    assert version.run_id == run.id
    assert version.metrics == {"auc": 0.9}
    assert keel.load_model(version.ref).manifest.training_data == ["applications:v1"]
    graph = default_client().lineage(train.ref, direction="down")
    assert ("model_version", version.id) in graph.nodes


def test_data_loaded_in_the_run_is_the_training_data(sdk: str) -> None:
    keel.log_dataset(X.assign(default=Y), "applications")
    keel.log_dataset(X.head(50), "extra")
    with keel.start_run(experiment="credit", capture=False, inputs="extra:v1"):
        keel.load_dataset("applications")
        version = keel.register_model(_model(), "credit", input_example=X.head())
    assert keel.load_model(version.ref).manifest.training_data == [
        "applications:v1",
        "extra:v1",
    ]


def test_told_otherwise_the_version_carries_what_it_was_given(sdk: str) -> None:
    keel.log_dataset(X, "applications")
    keel.log_dataset(X.head(10), "other")
    with keel.start_run(experiment="credit", capture=False, inputs=["applications"]):
        keel.log_metric("auc", 0.9)
        chosen = keel.register_model(
            _model(), "credit", metrics={"f1": 0.5}, training_data=["other@latest"]
        )
        bare = keel.register_model(_model(), "credit", metrics={}, training_data=[])
    assert chosen.metrics == {"f1": 0.5}
    assert keel.load_model(chosen.ref).manifest.training_data == ["other:v1"]  # canonical
    assert bare.metrics == {}
    assert keel.load_model(bare.ref).manifest.training_data == []


def test_a_run_without_inputs_warns_when_it_registers(sdk: str, caplog) -> None:
    with keel.start_run(experiment="credit", capture=False) as run:
        with pytest.warns(MissingLineageWarning, match=r"recorded no input dataset.*inputs=") as w:
            version = keel.register_model(_model(), "credit")
        assert len(w) == 1
        assert run.id[:12] in str(w[0].message)
    assert version.ref == "credit:1"  # a warning, not a refusal
    assert any("recorded no input" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="keel.registry"):
        keel.register_model(_model(), "credit")  # outside a run: nothing to warn about
    assert not caplog.records


def test_bad_inputs_change_nothing(sdk: str) -> None:
    keel.log_dataset(X, "applications")
    with pytest.raises(NotFound, match="no version v7"):
        keel.start_run(experiment="credit", inputs=["applications:v7"])
    with pytest.raises(InvalidInput, match="dataset versions or references"):
        keel.start_run(experiment="credit", inputs=[3])
    assert keel.active_run() is None
    assert default_client().runs.search_runs(RunQuery()) == []
    with keel.start_run(experiment="credit", capture=False, inputs=["applications"]):
        with pytest.raises(NotFound):
            keel.register_model(_model(), "credit", training_data=["nowhere:v1"])
        with pytest.raises(InvalidInput, match="run id or a run"):
            keel.register_model(_model(), "credit", run=42)
    assert default_client().models.list() == []


def test_aliases_and_decisions_from_the_front_door(sdk: str) -> None:
    first = keel.register_model(_model(), "credit", input_example=X.head())
    second = keel.register_model(_model(), "credit", input_example=X.head())
    assert keel.set_alias(first, "champion", reason="first").aliases == ("champion",)
    default_client().models.set_policy("credit", {"aliases": {"champion": {"approvals": 1}}})
    with pytest.raises(PermissionDenied, match="0 of the 1 approval required"):
        keel.set_alias("credit:2", "champion")
    assert keel.approve("credit:2", "looks right") == second
    assert keel.reject(first).ref == "credit:1"
    assert keel.set_alias("credit:2", "champion").ref == "credit:2"
    with pytest.raises(PermissionDenied, match="rejected by"):
        keel.set_alias("credit:1", "champion")
    actions = [e.action for e in default_client().models.history("credit")]
    assert actions.count("approve") == 1
    assert actions.count("reject") == 1
    with pytest.raises(NotFound):
        keel.approve("credit:9")


def test_evaluate_from_the_front_door(sdk: str) -> None:
    keel.log_dataset(X.assign(default=Y), "holdout")
    keel.register_model(_model(), "credit", input_example=X.head())
    result = keel.evaluate("credit:1", data="holdout:v1", label="default", gate="roc_auc >= 0.5")
    assert result.passed
    assert result.metrics["candidate"]["roc_auc"] > 0.5
    assert len(default_client().models.evaluations("credit:1")) == 1
    with pytest.raises(InvalidInput):
        keel.evaluate("credit:1", data="holdout:v1", label="nope")


def test_an_input_logged_by_reference_counts_as_training_data(sdk: str) -> None:
    keel.log_dataset(X, "applications")
    with keel.start_run(experiment="credit", capture=False) as run:
        run.log_input("applications:1")  # a reference, in either form
        run.log_input("not-a-dataset", role="notes")  # free text naming no version
        version = keel.register_model(_model(), "credit")  # no warning: strict mode would fail
    assert keel.load_model(version.ref).manifest.training_data == ["applications:v1"]
