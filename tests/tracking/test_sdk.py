"""The module-level SDK (keel.start_run, keel.log_metric, ...) on a real project."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import keel
from keel.client import default_client, reset_default_client
from keel.errors import InvalidInput
from keel.tracking import RunStatus


def test_fluent_runs_nest_and_shortcuts_use_the_active_run(project: Path) -> None:
    with keel.start_run(experiment="credit", params={"C": 0.5}) as parent:
        keel.log_metric("auc", 0.7)
        keel.log_param("solver", "lbfgs")
        with keel.start_run(name="fold-1") as child:
            assert keel.active_run() is child
            keel.log_metric("auc", 0.8)
            keel.set_tag("fold", 1)
        assert keel.active_run() is parent
    assert keel.active_run() is None
    assert child.info.parent_id == parent.id
    assert child.info.experiment == "credit"
    assert parent.info.params == {"C": "0.5", "solver": "lbfgs"}
    assert child.info.tags["fold"] == "1"


def test_shortcuts_without_an_active_run_say_what_to_do(project: Path) -> None:
    with pytest.raises(InvalidInput, match=r"No active run\. Start one first"):
        keel.log_metric("auc", 0.5)


def test_active_run_is_per_thread(project: Path) -> None:
    seen: list[object] = []
    with keel.start_run(experiment="credit"):
        worker = threading.Thread(target=lambda: seen.append(keel.active_run()))
        worker.start()
        worker.join()
    assert seen == [None]


def test_search_runs_returns_a_dataframe(project: Path) -> None:
    for model, auc in [("gbm", 0.91), ("gbm", 0.75), ("lr", 0.85)]:
        with keel.start_run(
            experiment="credit", params={"model": model}, tags={"team": "risk"}
        ) as run:
            run.log_metric("auc", auc)
    frame = keel.search_runs(
        "credit",
        filter="metrics.auc > 0.8 and params.model = 'gbm' and tags.team = 'risk'",
        order_by=["metrics.auc desc"],
    )
    assert isinstance(frame, pd.DataFrame)
    assert frame["metrics.auc"].tolist() == [0.91]
    everything = keel.search_runs("credit", order_by=["metrics.auc desc"])
    assert everything["metrics.auc"].tolist() == [0.91, 0.85, 0.75]
    assert set(everything["status"]) == {RunStatus.FINISHED}
    with pytest.raises(InvalidInput, match="position"):
        keel.search_runs("credit", filter="metrics.auc >")


def test_metrics_are_flushed_at_interpreter_exit(project: Path) -> None:
    script = textwrap.dedent(
        """
        import keel
        run = keel.start_run(experiment="exit", capture=False)
        for step in range(3000):
            run.log_metric("loss", step, step=step)
        print(run.id)
        # no end_run: the process exits with points still buffered
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=True
    )
    run_id = out.stdout.strip()
    history = default_client().runs.metric_history(run_id, "loss")
    assert [p[2] for p in history] == list(range(3000))


def test_autolog_records_params_metrics_and_model(project: Path) -> None:
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    keel.autolog()
    try:
        with keel.start_run(experiment="auto") as run:
            LogisticRegression(C=0.3).fit(X, y)
        make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)  # a run of its own
    finally:
        keel.autolog(disable=True)
    info = run.info
    assert info.params["estimator"] == "LogisticRegression"
    assert info.params["C"] == "0.3"
    assert 0.8 < info.metrics["training_accuracy"] <= 1.0
    assert 0.8 < info.metrics["training_roc_auc"] <= 1.0
    with default_client().runs.open_artifact(run.id, "model.skops") as fh:
        model = skops.io.loads(fh.read())
    assert (model.predict(X) == LogisticRegression(C=0.3).fit(X, y).predict(X)).all()
    frame = keel.search_runs("default")
    assert frame["params.estimator"].tolist() == ["Pipeline"]  # inner fits do not log
    assert not hasattr(LogisticRegression.fit, "__keel_autolog__")  # disable restored it


def test_system_metrics_are_off_under_pytest_and_on_when_asked(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel import config

    assert config.current().sample_system_metrics is False
    monkeypatch.setenv("KEEL_SYSTEM_METRICS", "1")
    config.reset()
    reset_default_client()
    with keel.start_run(experiment="sys", capture=False) as run:
        pass  # stop() takes a final sample
    assert "system/cpu_percent" in run.info.metrics


def test_get_run_and_download_artifacts_from_the_front_door(project: Path) -> None:
    with keel.start_run(experiment="credit", capture=False) as run:
        keel.log_metric("auc", 0.9)
        keel.log_artifact(b"skops bytes", "model.skops")
    record = keel.get_run(run.id[:8])
    assert record.id == run.id
    assert record.metrics["auc"] == 0.9
    assert [a.name for a in record.artifacts] == ["model.skops"]
    paths = keel.download_artifacts(record, to=project / "restored")
    assert [p.read_bytes() for p in paths] == [b"skops bytes"]
    again = keel.download_artifacts(run.id, "model.skops", to=project / "again")
    assert again == [project / "again" / "model.skops"]
    with pytest.raises(InvalidInput, match="run is named by its id"):
        keel.get_run("")
    with pytest.raises(keel.errors.NotFound):
        keel.get_run("0123456789abcdef")
