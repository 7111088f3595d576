"""Traffic on a real server: A/B proportions, stickiness, shadow, batching, backpressure,
metrics."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from keel.client import Client
from keel.deploy import DeploymentSpec
from keel.serving import create_app

from .conftest import register_slow, serving

ROW = {"income": 61.5, "debt": 0.82}


def _ab(**extra) -> DeploymentSpec:
    return DeploymentSpec.from_dict(
        {
            "name": "credit-ab",
            "model": "credit",
            "routes": [
                {"version": "@champion", "weight": 70},
                {"version": "@challenger", "weight": 30},
            ],
            **extra,
        }
    )


def _metric(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)\{(.*)\} (\S+)$", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match[3])
    return total


def test_routes_split_traffic_by_weight(shared: Client) -> None:
    with serving(create_app(_ab(), shared, seed=3)) as url, httpx.Client(base_url=url) as http:
        versions = Counter(
            http.post("/predict", json=[ROW]).headers["keel-model-version"] for _ in range(2000)
        )
        assert set(versions) == {"credit:1", "credit:2"}
        # 70/30 of 2,000: the standard deviation is about 20, so 120 is six of them
        assert abs(versions["credit:1"] - 1400) < 120
        # the deployment answers under its own name and under its model's
        infer = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 0]}]}
        for name in ("credit-ab", "credit"):
            assert http.post(f"/v2/models/{name}/infer", json=infer).status_code == 200


def test_the_same_sticky_key_reaches_the_same_version(shared: Client) -> None:
    spec = _ab(sticky_key="customer_id")
    with serving(create_app(spec, shared)) as url, httpx.Client(base_url=url) as http:
        seen: dict[str, set[str]] = {}
        for i in range(40):
            for _ in range(3):
                key = f"customer-{i}"
                answer = http.post("/predict", json=[{**ROW, "customer_id": key}])
                assert answer.status_code == 200, answer.text
                seen.setdefault(key, set()).add(answer.json()["model_version"])
        assert all(len(v) == 1 for v in seen.values())
        assert set().union(*seen.values()) == {"credit:1", "credit:2"}
        by_header = {
            http.post("/predict", json=[ROW], headers={"keel-sticky-key": "c-7"}).json()[
                "model_version"
            ]
            for _ in range(10)
        }
        assert len(by_header) == 1


def test_shadow_versions_predict_off_the_response_path(shared: Client) -> None:
    spec = DeploymentSpec.from_dict(
        {"name": "credit", "model": "credit", "routes": ["@champion"], "shadow": ["3"]}
    )
    with serving(create_app(spec, shared)) as url, httpx.Client(base_url=url) as http:
        for _ in range(20):
            answer = http.post("/predict", json=[ROW])
            assert answer.json()["model_version"] == "credit:1"
        deadline = time.monotonic() + 10
        while True:
            text = http.get("/metrics").text
            shadow_rows = _metric(text, "keel_serve_batch_rows_sum", model_version="credit:3")
            if shadow_rows >= 20 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert shadow_rows == 20
        # only the answering version counts as answering requests
        assert _metric(text, "keel_serve_requests_total", model_version="credit:3") == 0
        assert _metric(text, "keel_serve_requests_total", model_version="credit:1") == 20


def test_concurrent_requests_are_predicted_in_batches(shared: Client) -> None:
    spec = DeploymentSpec.for_model("credit@champion", batching={"max_wait_ms": 20})

    async def burst(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url) as http:
            statuses = []
            for _ in range(4):
                answers = await asyncio.gather(
                    *(http.post("/predict", json=[ROW]) for _ in range(24))
                )
                statuses += [a.status_code for a in answers]
            return statuses

    with serving(create_app(spec, shared)) as url:
        statuses = asyncio.run(burst(url))
        text = httpx.get(f"{url}/metrics").text
    assert statuses == [200] * 96
    batches = _metric(text, "keel_serve_batch_rows_count", model_version="credit:1")
    rows = _metric(text, "keel_serve_batch_rows_sum", model_version="credit:1")
    assert rows == 96
    assert batches < 48  # on average more than two requests per predict


def test_a_full_queue_answers_503_and_the_server_keeps_answering(shared: Client) -> None:
    ref = register_slow(shared)
    spec = DeploymentSpec.for_model(
        ref, batching={"max_batch_size": 1, "max_wait_ms": 0}, limits={"max_queue": 2}
    )
    with serving(create_app(spec, shared)) as url:

        def send(_: int) -> httpx.Response:
            return httpx.post(f"{url}/predict", json=[ROW], timeout=60)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(send, range(32)))
        statuses = Counter(a.status_code for a in answers)
        assert set(statuses) == {200, 503}, statuses
        busy = next(a for a in answers if a.status_code == 503)
        assert busy.headers["retry-after"] == "1"
        assert "max_queue" in busy.json()["message"]
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200
        assert send(0).status_code == 200
        text = httpx.get(f"{url}/metrics").text
        assert _metric(text, "keel_serve_requests_total", status="503") == statuses[503]


def test_metrics_after_traffic(shared: Client) -> None:
    with serving(create_app("credit@champion", shared)) as url, httpx.Client(base_url=url) as h:
        for _ in range(5):
            h.post("/predict", json=[ROW, ROW])
        h.post("/predict", json=[{"income": "x", "debt": 1}])
        response = h.get("/metrics")
    text = response.text
    assert response.headers["content-type"].startswith("text/plain")
    labels = {"deployment": "credit", "model_version": "credit:1"}
    assert _metric(text, "keel_serve_requests_total", status="200", **labels) == 5
    assert _metric(text, "keel_serve_requests_total", status="422", **labels) == 1
    assert _metric(text, "keel_serve_request_seconds_count", **labels) == 6  # the 422 too
    assert _metric(text, "keel_serve_batch_rows_sum", **labels) == 10
    assert _metric(text, "keel_serve_predicted_class_total", **labels) == 10
    assert _metric(text, "keel_serve_request_bytes_total", deployment="credit") > 0
    assert _metric(text, "keel_serve_response_bytes_total", deployment="credit") > 0
    assert 'keel_serve_queue_depth{deployment="credit",model_version="credit:1"} 0.0' in text
    assert "process_resident_memory_bytes" in text
    assert "process_cpu_seconds_total" in text
