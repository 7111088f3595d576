"""A whole curve at once: run.log_metrics_array and POST /runs/{id}/metrics/{key}, with
NumPy, Arrow and pandas arrays taken as they are and checked per array."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.config import Config
from keel.errors import InvalidInput
from keel.store import Store
from keel.tracking import Tracker, TrackingBackend
from keel.tracking._http import HttpTracking
from tests.conftest import live_server


def test_a_run_logs_numpy_arrow_and_pandas_curves(
    tracker: Tracker, backend: TrackingBackend
) -> None:
    with tracker.start_run("curves", capture=False) as run:
        run.log_metrics_array("loss", np.array([0.9, 0.5, np.nan], dtype=np.float32))
        run.log_metrics_array("loss", pa.array([0.25, 0.125]))  # continues at step 3
        run.log_metric("loss", 0.0625)  # and on, at step 5
        run.log_metrics_array(
            "acc", pd.Series([0.5, 0.75]), steps=pa.array([10, 20]), timestamps=[1, 2]
        )
        run.log_metrics_array("empty", np.array([]))
    loss = backend.metric_history(run.id, "loss")
    assert [p[2] for p in loss] == [0, 1, 2, 3, 4, 5]
    assert [p[1] for p in loss][:2] == [pytest.approx(0.9), 0.5]
    assert math.isnan(loss[2][1])
    assert [p[1] for p in loss][3:] == [0.25, 0.125, 0.0625]
    assert backend.metric_history(run.id, "acc") == [("acc", 0.5, 10, 1), ("acc", 0.75, 20, 2)]
    assert backend.get_run(run.id).metrics == {"loss": 0.0625, "acc": 0.75}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": np.ones((2, 2))}, "must be one-dimensional; got shape \\(2, 2\\)"),
        ({"values": ["a", "b"]}, "must be numbers"),
        ({"values": "0.5"}, "must be an array or list"),
        ({"values": [1.0, 2.0], "steps": [0]}, "has 2 values but 1 steps"),
        ({"values": [1.0], "steps": [0.5]}, "steps of metric 'm' must be integers"),
        ({"values": [1.0], "steps": [-1]}, "integers from 0 to .* Got -1"),
        ({"values": [1.0], "timestamps": [1.5]}, "timestamps of metric 'm' must be integers"),
    ],
)
def test_a_bad_curve_is_refused_whole(tracker: Tracker, kwargs: dict, message: str) -> None:
    with tracker.start_run("bad-curves", capture=False) as run:
        with pytest.raises(InvalidInput, match=message):
            run.log_metrics_array("m", **kwargs)
        run.log_metric("m", 1.0)
    assert run.info.metrics == {"m": 1.0}


def test_the_service_takes_a_curve_as_columns(backend: TrackingBackend) -> None:
    run = backend.create_run("columns")
    values = np.linspace(0.0, 1.0, 25_000)  # more than one request's worth over HTTP
    backend.log_metric_array(run.id, "auc", values, np.arange(25_000), None)
    backend.log_metric_array(run.id, "odd", [math.inf, math.nan], [0, 1], [5, 6])
    history = backend.metric_history(run.id, "auc")
    assert len(history) == 25_000
    assert history[-1][1:3] == (1.0, 24_999)
    odd = backend.metric_history(run.id, "odd")
    assert odd[0][1] == math.inf
    assert math.isnan(odd[1][1])
    with pytest.raises(InvalidInput, match="has 2 values but 1 steps"):
        backend.log_metric_array(run.id, "auc", [1.0, 2.0], [0])


def test_the_route_refuses_a_bad_curve_with_what_to_fix(store: Store, store_config: Config) -> None:
    with live_server(store_config) as url:
        http = HttpTracking(url)
        run = http.create_run("route")
        path = http._path(f"/runs/{run.id}/metrics/auc")
        with pytest.raises(InvalidInput, match="has 2 values but 1 steps"):
            http.client.request("POST", path, json={"values": [1.0, 2.0], "steps": [0]})
        with pytest.raises(InvalidInput, match="steps"):
            http.client.request("POST", path, json={"values": [1.0]})
        http.client.request("POST", path, json={"values": ["NaN", 0.5], "steps": [0, 1]})
        assert http.get_run(run.id).metrics == {"auc": 0.5}
        http.close()
