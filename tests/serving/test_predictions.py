"""client.predictions on both transports (a local store on SQLite and PostgreSQL, and a keel
server with tokens): write, parts, read by window, request lookup, erasure; roles; bad input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from keel.client import Client
from keel.config import Config
from keel.errors import InvalidInput, PermissionDenied
from keel.server import TokenService
from keel.store import init_project
from keel.store.fsck import fsck
from tests.conftest import live_server

T0 = 1_700_000_000_000
TIME = pa.timestamp("ms", tz="UTC")
ROLES = ("reader", "writer", "admin")


def _predictions(request_ids: list[str], at: list[int], customers: list[str]) -> pa.Table:
    n = len(request_ids)
    return pa.table(
        {
            "request_id": request_ids,
            "at": pa.array(at, TIME),
            "deployment": ["credit"] * n,
            "model_version": ["credit:1"] * n,
            "route": ["@champion"] * n,
            "key": customers,
            "latency_ms": [1.0] * n,
            "row": pa.array([0] * n, pa.int32()),
            "input": pa.array([{"customer_id": c, "income": 1.5} for c in customers]),
            "prediction": [1] * n,
        }
    )


@dataclass
class Served:
    config: Config
    url: str
    tokens: dict[str, str]

    def client(self, role: str) -> Client:
        return Client(self.url, project="default", token=self.tokens[role])


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    config = Config(**{**store_config.__dict__, "predictions_salt": "a-server-secret-of-16+"})
    init_project(tmp_path, config).close()
    with Client(config=config) as client:
        service = TokenService(client.store)
        tokens = {role: service.create(f"{role}-token", role)[1] for role in ROLES}
    with live_server(config, auth=True) as url:
        yield Served(config, url, tokens)


@pytest.fixture(params=["local", "http"])
def client(request: pytest.FixtureRequest, served: Served) -> Iterator[Client]:
    opened = Client(config=served.config) if request.param == "local" else served.client("admin")
    yield opened
    opened.close()


def test_write_parts_and_read_by_window(client: Client) -> None:
    p = client.predictions
    first = p.write("predictions", "credit", _predictions(["a", "b"], [T0, T0 + 10], ["c1", "c2"]))
    p.write("predictions", "credit", _predictions(["c"], [T0 + 1000], ["c3"]))
    p.write("predictions", "other", _predictions(["d"], [T0 + 2000], ["c4"]))
    parts = p.parts("predictions")
    assert [(x["deployment"], x["rows"]) for x in parts] == [
        ("credit", 2),
        ("credit", 1),
        ("other", 1),
    ]
    assert parts[0]["id"] == first
    assert (parts[0]["first_at"], parts[0]["last_at"]) == (T0, T0 + 10)
    assert [x["rows"] for x in p.parts("predictions", deployment="credit")] == [2, 1]
    assert [x["rows"] for x in p.parts("predictions", since_ms=T0 + 11)] == [1, 1]
    window = p.read("predictions", since_ms=T0 + 5, until_ms=T0 + 2000)
    assert window.column("request_id").to_pylist() == ["b", "c"]
    only = p.read("predictions", deployment="other", columns=["request_id", "input"])
    assert only.column_names == ["request_id", "input"]
    assert only.column("input").to_pylist() == [{"customer_id": "c4", "income": 1.5}]
    assert p.parts("feedback") == []
    assert p.read("feedback").num_rows == 0


def test_find_request_and_erase(client: Client, served: Served) -> None:
    from keel.serving import PredictionLogger
    from keel.store import new_id, now_ms

    p = client.predictions
    logger = PredictionLogger(p, deployment="credit")
    import pandas as pd

    ids = []
    for customer in ("c-1", "c-2", "c-1"):
        ids.append(new_id())
        logger.log(
            request_id=ids[-1],
            at_ms=now_ms(),
            model_version="credit:3",
            route="@challenger",
            inputs=pd.DataFrame({"customer_id": [customer], "income": [2.0]}),
            outputs=[0],
            latency_ms=3.0,
            key=customer,
        )
    logger.feedback([{"request_id": ids[0], "label": 1}, {"key": "c-1", "label": 1}])
    logger.close()
    found = p.find_request(ids[0])
    assert found["model_version"] == "credit:3"
    assert found["route"] == "@challenger"
    assert found["inputs"] == [{"customer_id": "c-1", "income": 2.0}]
    assert found["predictions"] == [0]
    assert [f["label"] for f in found["feedback"]] == [1]
    assert p.find_request(new_id()) is None

    assert p.erase(column="customer_id", values=["c-1"]) == 2
    assert p.erase(column="key", values=["c-1"]) == 1  # the feedback by key
    assert p.find_request(ids[0]) is None
    assert p.read("predictions").column("request_id").to_pylist() == [ids[1]]
    assert p.read("feedback").column("request_id").to_pylist() == [ids[0]]
    assert p.erase(column="request_id", values=[ids[0]]) == 1
    assert p.erase(column="no_such_column", values=["x"]) == 0
    with Client(config=served.config) as local:
        from keel.serving import check_prediction_erasures

        report = fsck(local.store, checks=[check_prediction_erasures])
        assert report.ok, report.to_dict()
        assert not report.unreferenced  # the old parts' objects were deleted


def test_bad_input_is_refused_with_the_rule(client: Client) -> None:
    p = client.predictions
    with pytest.raises(InvalidInput, match="kind must be 'predictions' or 'feedback'"):
        p.parts("logs")
    with pytest.raises(InvalidInput, match="lacks column 'deployment'"):
        p.write("predictions", "credit", pa.table({"request_id": ["a"], "at": [T0]}))
    with pytest.raises(InvalidInput, match="has no rows"):
        p.write("predictions", "credit", _predictions([], [], []))
    with pytest.raises(InvalidInput, match="deployment name"):
        p.write("predictions", "../x", _predictions(["a"], [T0], ["c"]))
    with pytest.raises(InvalidInput, match="values"):
        p.erase(column="key", values=[])
    p.write("predictions", "credit", _predictions(["a"], [T0], ["c"]))
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        p.read("predictions", columns=["nope"])


def test_roles_through_the_server(served: Served) -> None:
    table = _predictions(["a"], [T0], ["c"])
    with (
        served.client("reader") as reader,
        pytest.raises(PermissionDenied, match="needs 'writer'"),
    ):
        reader.predictions.write("predictions", "credit", table)
    with served.client("writer") as writer, Client(config=served.config) as local:
        writer.predictions.write("predictions", "credit", table)
        assert writer.predictions.hash_key() == local.predictions.hash_key()
        with pytest.raises(PermissionDenied, match="needs 'admin'"):
            writer.predictions.erase(column="key", values=["c"])
    with served.client("reader") as reader:
        assert reader.predictions.read("predictions").num_rows == 1
        assert reader.predictions.find_request("a")["key"] == "c"
