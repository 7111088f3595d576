"""Prediction logs in the rest of keel: lake views (feedback joined by request id in SQL),
request lineage (SDK, server and CLI), ``keel data erase`` reaching the logs, ``keel fsck``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import keel.lake
from keel.client import Client
from keel.config import Config
from keel.data import DatasetService
from keel.deploy.spec import LoggingPolicy
from keel.errors import NotFound
from keel.serving import PredictionLogger, PredictionStore
from keel.store import Store, init_project, new_id, now_ms
from tests._cli import run_keel
from tests.conftest import live_server


def _serve(logger: PredictionLogger, model: object, frame: pd.DataFrame, **extra: object) -> str:
    request_id = new_id()
    logger.log(
        request_id=request_id,
        at_ms=now_ms(),
        model_version=str(extra.pop("version", "scorer:1")),
        route=str(extra.pop("route", "@champion")),
        inputs=frame,
        outputs=model.predict(frame[["income", "debt"]]) if model else np.zeros(len(frame)),
        latency_ms=0.5,
        **extra,  # type: ignore[arg-type]
    )
    return request_id


def test_lake_joins_feedback_to_predictions_by_request_id(store: Store) -> None:
    logs = PredictionStore(store, project="default")
    logger = PredictionLogger(logs, deployment="credit", flush_seconds=3600)
    ids = []
    for i in range(5):
        ids.append(_serve(logger, None, pd.DataFrame({"income": [float(i)], "debt": [0.1]})))
        if i == 2:
            logger.flush()  # two parts: the view spans them
    logger.feedback([{"request_id": ids[0], "label": 0}, {"request_id": ids[3], "label": 1}])
    logger.close()
    assert [p["rows"] for p in logs.parts("predictions")] == [3, 2]
    service = DatasetService(store, project="default")
    rows = keel.lake.query(
        "SELECT p.request_id, p.input.income AS income, p.prediction, f.label "
        "FROM predictions p JOIN feedback f USING (request_id) ORDER BY income",
        service=service,
    )
    assert rows["request_id"].tolist() == [ids[0], ids[3]]
    assert rows["income"].tolist() == [0.0, 3.0]
    assert rows["label"].tolist() == [0, 1]
    accuracy = keel.lake.query(
        "SELECT avg(CAST(prediction = label AS INTEGER)) AS accuracy "
        "FROM predictions JOIN feedback USING (request_id)",
        service=service,
    )
    assert accuracy["accuracy"].tolist() == [0.5]
    assert {"predictions", "feedback"} <= set(keel.lake.view_names(service))
    empty = DatasetService(store, project="elsewhere")
    assert keel.lake.query("SELECT count(*) AS n FROM predictions", service=empty)["n"][0] == 0


@pytest.fixture
def project(tmp_path: Path) -> Path:
    init_project(tmp_path).close()
    return tmp_path


def test_request_lineage_from_sdk_server_and_cli(project: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.normal(5, 1, 100), "debt": rng.uniform(0, 1, 100)})
    label = (frame["debt"] > 0.5).astype(int)
    with Client(uri=str(project)) as client:
        data = client.datasets.log(frame.assign(label=label), "applications")
        with client.tracker.start_run("baseline") as run:
            run.log_input(data)
            model = LogisticRegression().fit(frame, label)
            version = client.models.register(model, "scorer", input_example=frame, run=run.id)
        logger = PredictionLogger(client.predictions, deployment="credit")
        request_id = _serve(logger, model, frame.head(2), route="@challenger")
        logger.close()
        graph = client.lineage(f"request:{request_id}")
        with pytest.raises(NotFound, match="No logged request"):
            client.lineage(f"request:{new_id()}")
        config = client.config
    assert graph.root == ("prediction", request_id)
    root = graph.nodes[graph.root]
    assert root.details["model_version"] == "scorer:1"
    assert root.details["route"] == "@challenger"
    assert root.details["inputs"][1] == {
        "income": frame["income"][1],
        "debt": frame["debt"][1],
    }
    kinds = dict(graph.nodes.items())
    assert ("model_version", version.id) in kinds
    assert ("run", run.id) in kinds
    assert ("dataset_version", data.id) in kinds  # the training data
    assert "commit" in kinds[("run", run.id)].details
    assert kinds[("run", run.id)].details["python"]

    with live_server(Config(**config.__dict__)) as url, Client(url, project="default") as remote:
        there = remote.lineage(f"request:{request_id}")
        assert there.nodes[there.root].details == root.details
        assert {n.key for n in there.nodes.values()} == set(kinds)

    shown = run_keel("lineage", f"request:{request_id}", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert "scorer:1" in shown.stdout
    assert "@challenger" in shown.stdout
    assert "applications:v1" in shown.stdout
    missing = run_keel("lineage", "request:nope", cwd=project)
    assert missing.returncode == 1
    assert "No logged request 'nope'" in missing.stderr + missing.stdout


def test_data_erase_reaches_hashed_logs_and_fsck_stays_clean(project: Path) -> None:
    customers = pd.DataFrame({"customer_id": ["c-1", "c-2"], "income": [1.0, 2.0]})
    with Client(uri=str(project)) as client:
        client.datasets.log(customers, "customers")
        policy = LoggingPolicy(hash=("customer_id",))
        logger = PredictionLogger(client.predictions, deployment="credit", policy=policy)
        for customer in ("c-1", "c-2", "c-1"):
            frame = pd.DataFrame({"customer_id": [customer], "income": [1.0], "debt": [0.0]})
            _serve(logger, None, frame, key=customer)
        logger.feedback([{"key": "c-1", "label": 1}, {"key": "c-2", "label": 0}])
        logger.close()

    erased = run_keel(
        "data",
        "erase",
        "customers",
        "--where",
        "customer_id = 'c-1'",
        "--key",
        "--yes",
        "--json",
        cwd=project,
    )
    assert erased.returncode == 0, erased.stderr
    result = json.loads(erased.stdout)
    assert result["rows_removed"] == 1
    # two predictions by the hashed input column, then by key: none left there, one feedback
    assert result["prediction_log_rows_removed"] == 3
    with Client(uri=str(project)) as client:
        assert client.predictions.read("predictions").num_rows == 1
        assert client.predictions.read("feedback").num_rows == 1
    checked = run_keel("fsck", "--json", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["ok"]


def test_fsck_names_the_prediction_part_of_a_corrupt_object(project: Path) -> None:
    with Client(uri=str(project)) as client:
        logger = PredictionLogger(client.predictions, deployment="credit")
        _serve(logger, None, pd.DataFrame({"income": [1.0], "debt": [0.0]}))
        logger.close()
        (part,) = client.predictions.parts("predictions")
        path = client.store.objects.path(part["digest"])
    path.chmod(0o644)
    path.write_bytes(b"not the part any more")
    checked = run_keel("fsck", "--json", cwd=project)
    assert checked.returncode == 1
    report = json.loads(checked.stdout)
    assert report["corrupt"] == [part["digest"]]
    assert report["owners"][part["digest"]] == [
        f"prediction log default/credit predictions part {part['id']} (1 rows)"
    ]
