"""Open Inference Protocol v2 and /predict on a real server: each endpoint, each body form."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from keel.client import Client
from keel.serving import create_app

from .conftest import serving, training_data

ROW = {"income": 61.5, "debt": 0.82}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def url(shared: Client):
    with serving(create_app("credit@champion", shared)) as base:
        yield base


def _expected(client: Client, rows: list[dict]) -> list:
    import pandas as pd

    return np.asarray(client.models.load("credit:1").predict(pd.DataFrame(rows))).tolist()


def test_health_and_metadata(url: str) -> None:
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    server = httpx.get(f"{url}/v2").json()
    assert server["name"] == "keel"
    assert "version" in server
    meta = httpx.get(f"{url}/v2/models/credit").json()
    assert meta["name"] == "credit"
    assert meta["versions"] == ["credit:1"]
    assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
        ("income", "FP64"),
        ("debt", "FP64"),
    ]
    assert meta["outputs"][0]["datatype"] == "INT64"
    assert httpx.get(f"{url}/v2/models/credit/ready").json() == {"name": "credit", "ready": True}
    missing = httpx.get(f"{url}/v2/models/credt")
    assert missing.status_code == 404
    assert "Did you mean 'credit'" in missing.json()["message"]


def test_infer_with_one_tensor_per_column(url: str, shared: Client) -> None:
    X, _ = training_data()
    rows = X.head(3).to_dict("records")
    body = {
        "id": "ignored-by-keel",
        "parameters": {"content_type": "pd"},
        "inputs": [
            {
                "name": "income",
                "shape": [3],
                "datatype": "FP64",
                "data": [r["income"] for r in rows],
            },
            {
                "name": "debt",
                "shape": [3, 1],
                "datatype": "FP32",
                "data": [[r["debt"]] for r in rows],
            },
        ],
    }
    response = httpx.post(
        f"{url}/v2/models/credit/infer", json=body, headers={"x-request-id": "r-1"}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert response.headers["keel-model-version"] == "credit:1" == answer["model_version"]
    assert response.headers["x-request-id"] == "r-1" == answer["id"]
    assert answer["model_name"] == "credit"
    (output,) = answer["outputs"]
    assert output["shape"] == [3]
    assert output["datatype"] == "INT64"
    assert output["data"] == _expected(shared, rows)


def test_infer_with_one_2d_tensor_in_signature_order(url: str, shared: Client) -> None:
    X, _ = training_data()
    rows = X.iloc[10:14].to_dict("records")
    data = [[r["income"], r["debt"]] for r in rows]
    body = {"inputs": [{"name": "x", "shape": [4, 2], "datatype": "FP64", "data": data}]}
    answer = httpx.post(f"{url}/v2/models/credit/infer", json=body).json()
    assert answer["outputs"][0]["data"] == _expected(shared, rows)
    assert len(answer["id"]) == 32  # a new request id


def test_predict_takes_records_and_columns(url: str, shared: Client) -> None:
    X, _ = training_data()
    rows = X.iloc[20:25].to_dict("records")
    expected = _expected(shared, rows)
    for body in (rows, {"records": rows}, {"columns": {k: [r[k] for r in rows] for k in ROW}}):
        response = httpx.post(f"{url}/predict", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["predictions"] == expected
        assert answer["model_version"] == "credit:1" == response.headers["keel-model-version"]
        assert answer["request_id"] == response.headers["x-request-id"]
    one = httpx.post(f"{url}/predict", json=[ROW]).json()
    assert one["predictions"] == _expected(shared, [ROW])


def test_a_regression_model_answers_floats(shared: Client) -> None:
    with serving(create_app("price", shared)) as base:
        answer = httpx.post(f"{base}/predict", json=[ROW, ROW]).json()
        assert answer["model_version"] == "price:1"
        assert answer["predictions"] == pytest.approx([123.0, 123.0])
        infer = {
            "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [61.5, 0.8]}]
        }
        out = httpx.post(f"{base}/v2/models/price/infer", json=infer).json()["outputs"][0]
        assert out["datatype"] == "FP64"
        assert out["data"] == pytest.approx([123.0])


def test_openapi_describes_the_hot_routes(url: str) -> None:
    paths = httpx.get(f"{url}/openapi.json", timeout=60).json()["paths"]
    for path in ("/v2/models/{name}/infer", "/predict", "/v2/health/live", "/feedback"):
        assert path in paths
    assert httpx.get(f"{url}/docs").status_code == 200


def test_feedback_is_checked_and_accepted(url: str) -> None:
    ok = httpx.post(
        f"{url}/feedback", json=[{"request_id": "r-1", "label": 1}, {"key": "c9", "label": 0}]
    )
    assert ok.status_code == 202
    assert ok.json() == {"accepted": 2}
    bad = httpx.post(f"{url}/feedback", json=[{"label": 1}])
    assert bad.status_code == 422
    assert "neither request_id nor key" in bad.json()["message"]
    assert httpx.post(f"{url}/feedback", json={"label": 1}).status_code == 422
    garbled = httpx.post(f"{url}/feedback", content=b"{nope", headers=JSON)
    assert garbled.status_code == 400, garbled.text
