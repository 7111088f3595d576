"""A small real project for the dashboard tests: runs with metric series, two dataset
versions (one failing validation), a champion and a challenger awaiting approval with an
evaluation, a deployment with two revisions and a canary, and drift results with an alert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from keel.client import Client
from keel.config import Config, resolve
from keel.deploy import DeploymentSpec
from keel.monitoring import parse_monitor_text
from keel.store import init_project
from tests.monitoring.conftest import DEPLOYMENT, HOUR, T0, log_window, population

__all__ = ["fill"]


def _runs(client: Client, train: Any, version: Any) -> list[str]:
    """Four runs of experiment 'credit' with params, per-step loss and a final auc (their
    ids), and 26 runs of experiment 'sweep' with a score."""
    ids = []
    for i, c in enumerate([0.01, 0.1, 1.0, 10.0]):
        with client.tracker.start_run("credit", name=f"logreg-C{c}") as run:
            run.log_input(version)
            run.log_params({"C": str(c), "solver": "lbfgs" if i % 2 else "liblinear"})
            run.set_tags({"team": "risk"})
            if i == 0:  # artifacts the run page previews: a CSV table and a plotly figure
                import plotly.graph_objects as go

                run.log_artifact(b"label,predicted,count\n0,0,40\n0,1,10\n", "confusion.csv")
                run.log_figure(go.Figure(go.Scatter(x=[0, 1], y=[0, 1])), "roc")
            for step in range(8):
                run.log_metric("loss", 1.0 / (step + 1 + i), step=step)
            run.log_metric("auc", 0.6 + 0.05 * i)
            ids.append(run.id)
    for i in range(26):  # a sweep, so the runs table has more than one page of 25
        with client.tracker.start_run("sweep", name=f"sweep-{i:02d}") as run:
            run.log_metric("score", i / 26)
    client.tracker.flusher.flush()
    return ids


def fill(folder: Path) -> tuple[Config, dict[str, Any]]:
    """Build the project in ``folder``; its configuration and what the tests look for."""
    from keel.registry import evaluate
    from keel.validation import infer_schema, validate

    config = resolve(
        uri=f"sqlite:///{folder / 'keel.db'}",
        objects=str(folder / "objects"),
        fsync=False,
        agent_tick_seconds=0,  # no agent: what the pages show is what this function made
    )
    init_project(folder, config).close()
    client = Client(config=config)
    frame, label = population(2000, 0)
    train = frame.assign(label=label)
    v1 = client.datasets.log(train, "credit-train", description="training rows")
    broken = train.copy()
    broken.loc[:20, "income"] = np.nan
    v2 = client.datasets.log(broken, "credit-train", description="a feed with gaps")
    schema = infer_schema(v1, name="credit-train", store=client.store)
    validate(v1, schema, store=client.store)
    validate(v2, schema, store=client.store)
    runs = _runs(client, train, v1)
    features = frame[["income", "debt"]]
    model = LogisticRegression().fit(features, label)
    first = client.models.register(model, "credit", input_example=features.head(), run=runs[2])
    client.models.set_alias(first.ref, "champion")
    second = client.models.register(
        LogisticRegression(C=0.5).fit(features, label),
        "credit",
        input_example=features.head(),
        run=runs[3],
    )
    holdout = client.datasets.log(train.tail(500).reset_index(drop=True), "credit-holdout")
    evaluate(
        client.models,
        second.ref,
        data=holdout.ref,
        label="label",
        against="credit@champion",
        datasets=client.datasets,
    )
    client.models.set_policy("credit", {"aliases": {"champion": {"approvals": 1}}})
    client.deployments.apply(DeploymentSpec.for_model("credit@champion", name=DEPLOYMENT))
    client.deployments.apply(
        DeploymentSpec.from_dict(
            {
                "name": DEPLOYMENT,
                "model": "credit",
                "routes": [
                    {"version": first.ref, "weight": 80},
                    {"version": second.ref, "weight": 20},
                ],
            }
        )
    )
    log_window(client, T0, 600, 1)
    log_window(client, T0 + HOUR, 600, 2, shift=1.0)
    log_window(client, T0 + 2 * HOUR, 600, 3, shift=1.0, shift_region="north")
    client.monitors.apply(
        parse_monitor_text(
            f"name: credit-drift\ndeployment: {DEPLOYMENT}\nwindow: {{size: 1h}}\n"
            "drift: {share_of_columns: 0.3}\non_alert: [{log: true}]\n"
        )
    )
    for hours in (1, 2, 3):
        client.monitors.run("credit-drift", now_ms=T0 + hours * HOUR)
    facts = {
        "runs": runs,
        "dataset": "credit-train",
        "model": "credit",
        "challenger": second.version,
        "deployment": DEPLOYMENT,
        "monitor": "credit-drift",
    }
    client.close()
    return config, facts
