"""Bad input gets a clear 4xx naming what is wrong, never a 5xx, and never a dead server."""

from __future__ import annotations

import contextlib
import socket

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from keel.client import Client
from keel.deploy import DeploymentSpec
from keel.server.tokens import TokenService
from keel.serving import create_app

from .conftest import serving

ROW = {"income": 61.5, "debt": 0.82}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def url(shared: Client):
    spec = DeploymentSpec.for_model("credit@champion", limits={"max_body_bytes": 4096})
    with serving(create_app(spec, shared)) as base:
        yield base


def _tensor(**changes) -> dict:
    tensor = {"name": "income", "shape": [1], "datatype": "FP64", "data": [50.0]}
    return {
        "inputs": [
            {**tensor, **changes},
            {"name": "debt", "shape": [1], "datatype": "FP64", "data": [0.5]},
        ]
    }


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ([{"incme": 1.0, "debt": 0.2}], 422, ["missing column 'income'", "'incme'", "float64"]),
        ([{"income": "rich", "debt": 0.2}], 422, ["column 'income'", "expected float64"]),
        ([ROW, {"income": 1.0}], 422, ["records[1] has the columns 'income'"]),
        ([], 422, ["non-empty list"]),
        ([1, 2], 422, ["records[0] must be an object"]),
        ({"rows": [ROW]}, 422, ["list of records", "'rows'"]),
        ({"columns": {"income": [1.0, 2.0], "debt": [0.1]}}, 422, ["columns.debt has 1 values"]),
        ("just text", 422, ["non-empty list"]),
    ],
)
def test_predict_names_what_is_wrong(url: str, body, status: int, words: list[str]) -> None:
    answer = httpx.post(f"{url}/predict", json=body)
    assert answer.status_code == status, answer.text
    message = answer.json()["message"]
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (_tensor(data=["a"]), ["input 'income' is FP64", "strings"]),
        (_tensor(datatype="FLOAT"), ["datatype must be one of"]),
        (_tensor(shape=[2]), ["shape [2] needs 2 values and data has 1"]),
        (_tensor(shape=[1, 2, 3]), ["shape must be [n] or [n, k]"]),
        (_tensor(data=[[1.0], [2.0, 3.0]], shape=[2]), ["ragged"]),
        (_tensor(datatype="INT8", data=[300]), ["does not fit INT8"]),
        (_tensor(datatype="INT64", data=[1.5]), ["whole numbers", "numbers with decimals"]),
        (_tensor(name="incme"), ["missing column 'income'", "'incme'"]),
        ({"inputs": []}, ["inputs must be a non-empty list"]),
        (
            {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
            ["the array has 3 columns, expected 2"],
        ),
        (
            {
                "inputs": [
                    {"name": "a", "shape": [2], "datatype": "FP64", "data": [1, 2]},
                    {"name": "b", "shape": [1], "datatype": "FP64", "data": [1]},
                ]
            },
            ["'b' has 1 rows but 'a' has 2"],
        ),
        ({"parameters": [1], "inputs": []}, ["parameters must be an object"]),
        ([1], ["An infer request is an object"]),
    ],
)
def test_infer_names_what_is_wrong(url: str, body, words: list[str]) -> None:
    answer = httpx.post(f"{url}/v2/models/credit/infer", json=body)
    assert answer.status_code == 422, answer.text
    message = answer.json()["message"]
    for word in words:
        assert word in message, message


def test_unknown_models_malformed_json_and_large_bodies(url: str) -> None:
    missing = httpx.post(f"{url}/v2/models/fraud/infer", json=_tensor())
    assert missing.status_code == 404
    assert "No model 'fraud' is served here" in missing.json()["message"]
    for garbled in (b"{not json", b"", b"\xff\xfe"):
        answer = httpx.post(f"{url}/predict", content=garbled, headers=JSON)
        assert answer.status_code == 400, answer.text
        assert "not valid JSON" in answer.json()["message"]
    big = [ROW] * 200  # about 6 KB, over the 4 KB limit
    declared = httpx.post(f"{url}/predict", json=big)
    assert declared.status_code == 413
    assert "limits.max_body_bytes" in declared.json()["message"]

    def chunks():
        for _ in range(10):
            yield b" " * 1000

    streamed = httpx.post(f"{url}/predict", content=chunks(), headers=JSON)
    assert streamed.status_code == 413
    assert httpx.post(f"{url}/feedback", json=[{"key": "k", "label": 1}] * 400).status_code == 413
    assert httpx.get(f"{url}/nowhere").status_code == 404
    assert httpx.put(f"{url}/predict", json=[ROW]).status_code == 405


def test_garbage_bytes_do_not_kill_the_server(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    for garbage in (
        b"\x00\xff\x13\x37" * 64,
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /predict HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    ):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(garbage)
            with contextlib.suppress(ConnectionResetError, TimeoutError):
                sock.recv(1024)
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.post(f"{url}/predict", json=[ROW]).status_code == 200


def test_no_generated_request_gets_a_server_error(url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    statuses: set[int] = set()
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        cases = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | (
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )

        @given(case=cases)
        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def probe(case) -> None:
            response = case.call(base_url=url)
            statuses.add(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
            )

        probe()
        checked.append(operation.label)
    assert len(checked) >= 9
    assert 422 in statuses


def test_tokens_are_required_beyond_health_checks(shared: Client) -> None:
    tokens = TokenService(shared.store)
    _, reader = tokens.create("app", "reader")
    _, writer = tokens.create("labeller", "writer")
    _, elsewhere = tokens.create("other", "reader", projects=["fraud"])
    app = create_app("credit@champion", shared, authenticate=tokens.authenticate)
    with serving(app) as url:
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200
        anonymous = httpx.post(f"{url}/predict", json=[ROW])
        assert anonymous.status_code == 401
        assert "requires a token" in anonymous.json()["message"]
        assert httpx.get(f"{url}/v2/models/credit").status_code == 401
        assert httpx.get(f"{url}/metrics").status_code == 401
        wrong = httpx.post(f"{url}/predict", json=[ROW], headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        as_reader = {"authorization": f"Bearer {reader}"}
        assert httpx.post(f"{url}/predict", json=[ROW], headers=as_reader).status_code == 200
        assert httpx.get(f"{url}/metrics", headers=as_reader).status_code == 200
        feedback = [{"request_id": "r", "label": 1}]
        denied = httpx.post(f"{url}/feedback", json=feedback, headers=as_reader)
        assert denied.status_code == 403
        assert "needs 'writer'" in denied.json()["message"]
        as_writer = {"authorization": f"Bearer {writer}"}
        assert httpx.post(f"{url}/feedback", json=feedback, headers=as_writer).status_code == 202
        scoped = httpx.post(
            f"{url}/predict", json=[ROW], headers={"authorization": f"Bearer {elsewhere}"}
        )
        assert scoped.status_code == 403
        assert "limited to the project fraud" in scoped.json()["message"]
