"""Monitor fixtures: a real project (a dataset, a run that trained on it, a registered
champion, a deployment) and prediction logs written as a model server's logger writes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from keel.client import Client
from keel.config import resolve
from keel.deploy import DeploymentSpec
from keel.store import init_project

HOUR = 3_600_000
T0 = 1_800_000_000_000  # a fixed moment (2027-01-15), so windows are exact
DEPLOYMENT = "credit-scoring"
REGIONS = np.array(["north", "south", "east", "west"])


def population(rows: int, seed: int, *, shift: float = 0.0, shift_region: str | None = None):
    """Inputs and labels drawn from one process; ``shift`` moves income (in stds), and
    only in ``shift_region`` when given. Labels follow the same law in every window."""
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, rows)
    income = rng.normal(50, 10, rows)
    moved = np.ones(rows, bool) if shift_region is None else region == shift_region
    income = income + shift * 10 * moved
    debt = rng.uniform(0, 1, rows)
    logit = 4 * (debt - 0.5) + 0.08 * (income - 50)
    label = (rng.uniform(0, 1, rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"income": income, "debt": debt, "region": region})
    return frame, label


def make_project(folder: Path) -> Client:
    """credit-train:v1 (4,000 rows), a run that read it and trained credit:1 (champion),
    and the deployment credit-scoring serving the champion."""
    config = resolve(
        uri=f"sqlite:///{folder / 'keel.db'}", objects=str(folder / "objects"), fsync=False
    )
    init_project(folder, config).close()
    client = Client(config=config)
    frame, label = population(4000, 0)
    train = frame.assign(label=label)
    with client.tracker.start_run("train") as run:
        version = client.datasets.log(train, "credit-train")
        run.log_input(version)
        model = LogisticRegression().fit(frame[["income", "debt"]], label)
    registered = client.models.register(
        model, "credit", input_example=frame[["income", "debt"]].head(), run=run.id
    )
    client.models.set_alias(registered.ref, "champion")
    client.deployments.apply(DeploymentSpec.for_model("credit@champion", name=DEPLOYMENT))
    return client


def log_window(
    client: Client,
    start: int,
    rows: int,
    seed: int,
    *,
    shift: float = 0.0,
    shift_region: str | None = None,
    latency_ms: float = 5.0,
    labels: float = 0.0,
    label_at: int | None = None,
) -> list[str]:
    """Log ``rows`` predictions of the champion spread over the hour from ``start``, and
    feedback for the first ``labels`` share of them (at ``label_at``); their request ids."""
    frame, label = population(rows, seed, shift=shift, shift_region=shift_region)
    model = client.models.load("credit@champion")
    proba = model.native.predict_proba(frame[["income", "debt"]])
    at = start + np.arange(rows) * (HOUR // rows)
    ids = [f"req-{seed}-{i}" for i in range(rows)]
    table = pa.table(
        {
            "request_id": pa.array(ids),
            "at": pa.array(at, pa.timestamp("ms", tz="UTC")),
            "deployment": pa.array([DEPLOYMENT] * rows),
            "model_version": pa.array(["credit:1"] * rows),
            "route": pa.array(["route"] * rows),
            "key": pa.array([None] * rows, pa.string()),
            "latency_ms": pa.array(np.full(rows, latency_ms)),
            "row": pa.array(np.zeros(rows, np.int32)),
            "input": pa.StructArray.from_arrays(
                [pa.array(frame[c].to_numpy()) for c in frame.columns], list(frame.columns)
            ),
            "prediction": pa.array(proba.argmax(axis=1).astype(np.int64)),
            "probabilities": pa.array(list(proba), pa.list_(pa.float64())),
        }
    )
    client.predictions.write("predictions", DEPLOYMENT, table)
    labelled = int(rows * labels)
    if labelled:
        feedback = pa.table(
            {
                "request_id": pa.array(ids[:labelled]),
                "key": pa.array([None] * labelled, pa.string()),
                "label": pa.array(label[:labelled]),
                "at": pa.array(
                    np.full(labelled, label_at or start + HOUR), pa.timestamp("ms", tz="UTC")
                ),
                "deployment": pa.array([DEPLOYMENT] * labelled),
            }
        )
        client.predictions.write("feedback", DEPLOYMENT, feedback)
    return ids


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A project with three logged hours: T0 like training, T0+1h with income shifted by
    half a std, T0+2h shifted in the north only; half the first hour is labelled."""
    client = make_project(tmp_path_factory.mktemp("monitors"))
    log_window(client, T0, 2000, 1, labels=0.5)
    log_window(client, T0 + HOUR, 2000, 2, shift=0.5)
    log_window(client, T0 + 2 * HOUR, 2000, 3, shift=1.0, shift_region="north")
    yield client
    client.close()
