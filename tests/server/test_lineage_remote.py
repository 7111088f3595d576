"""Lineage and validation reports through ``keel server``: the same values from a local
client and from an http client on the same store (SQLite and PostgreSQL), roles, and 4xx
answers to bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.client import Client
from keel.config import Config
from keel.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from keel.server import TokenService
from keel.store import init_project
from keel.store.lineage import LineageGraph
from keel.validation import infer_schema, validate
from tests._cli import run_keel
from tests.conftest import live_server

PROJECT = "credit"
API = f"/api/v1/projects/{PROJECT}"


@dataclass
class Recorded:
    """A store holding dataset version -> run -> model version, a validation report on the
    dataset version, and tokens; served by a live server with authentication on."""

    config: Config
    url: str
    tokens: dict[str, str]
    dataset_ref: str
    dataset_id: str
    run_id: str
    model_id: str
    report_id: str

    def local(self) -> Client:
        return Client(config=self.config)

    def remote(self, role: str = "reader") -> Client:
        return Client(self.url, project=PROJECT, token=self.tokens[role])

    def headers(self, role: str = "reader") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def recorded(store_config: Config, tmp_path: Path) -> Iterator[Recorded]:
    config = Config(**{**store_config.__dict__, "project": PROJECT})
    init_project(tmp_path, config).close()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"income": rng.normal(5, 1, 200), "debt": rng.uniform(0, 1, 200)})
    label = (frame["debt"] > 0.5).astype(int)
    with Client(config=config) as client:
        schema = infer_schema(frame, name="applications", record=False)
        data = client.datasets.log(frame.assign(label=label), "applications")
        with client.tracker.start_run("baseline", capture=False) as run:
            run.log_input(data)
            model = LogisticRegression().fit(frame, label)
            version = client.models.register(model, "scorer", input_example=frame, run=run.id)
        report = validate(data, schema, store=client.store)
        tokens = TokenService(client.store)
        secrets = {
            "reader": tokens.create("reader", "reader")[1],
            "elsewhere": tokens.create("elsewhere", "reader", projects=["other"])[1],
        }
    with live_server(config, auth=True) as url:
        yield Recorded(config, url, secrets, data.ref, data.id, run.id, version.id, str(report.id))


def _shape(graph: LineageGraph) -> tuple:
    nodes = sorted((n.kind, n.id, n.label) for n in graph.nodes.values())
    edges = sorted((e.src, e.relation, e.dst) for e in graph.edges)
    return graph.root, nodes, edges


def test_the_same_graph_comes_from_the_store_and_through_the_server(recorded: Recorded) -> None:
    with recorded.local() as local, recorded.remote() as remote:
        assert remote.remote
        assert not local.remote
        for ref in (recorded.dataset_ref, f"run:{recorded.run_id}", recorded.run_id):
            for direction in ("up", "down", "both"):
                here = local.lineage(ref, direction=direction)
                there = remote.lineage(ref, direction=direction)
                assert isinstance(there, LineageGraph)
                assert _shape(there) == _shape(here), (ref, direction)
        graph = remote.lineage(recorded.dataset_ref, direction="down")
    nodes = {n.key: n.label for n in graph.nodes.values()}
    assert graph.root == ("dataset_version", recorded.dataset_id)
    assert nodes[("dataset_version", recorded.dataset_id)] == recorded.dataset_ref
    assert nodes[("model_version", recorded.model_id)] == "scorer:1"
    assert nodes[("validation_report", recorded.report_id)].startswith(
        "validation against applications"
    )
    edges = {(e.src[0], e.relation, e.dst[0]) for e in graph.edges}
    assert edges == {
        ("dataset_version", "input_to", "run"),
        ("run", "produced", "model_version"),
        ("dataset_version", "validated_by", "validation_report"),
    }
    # depth bounds the walk the same way on both sides: one edge from the dataset
    with recorded.local() as local, recorded.remote() as remote:
        near = remote.lineage(recorded.dataset_ref, direction="down", depth=1)
        here = local.lineage(recorded.dataset_ref, direction="down", depth=1)
        assert _shape(near) == _shape(here)
    assert ("model_version", recorded.model_id) not in near.nodes


def test_reports_list_get_and_html_match_the_local_ones(recorded: Recorded) -> None:
    with recorded.local() as local, recorded.remote() as remote:
        listed = remote.reports()
        assert listed == local.reports()
        assert [r["id"] for r in listed] == [recorded.report_id]
        assert listed[0]["subject_kind"] == "dataset_version"
        assert listed[0]["subject_id"] == recorded.dataset_id
        assert remote.reports(recorded.dataset_ref) == listed
        assert remote.reports(f"run:{recorded.run_id}") == local.reports(f"run:{recorded.run_id}")
        assert remote.reports(f"run:{recorded.run_id}") == []
        report = remote.report(recorded.report_id)
        assert report == local.report(recorded.report_id)
        assert report.subject == recorded.dataset_ref
        page = remote.report_html(recorded.report_id)
        assert page == local.report_html(recorded.report_id)
        assert page.startswith("<!DOCTYPE html>") or page.lstrip().startswith("<!")
        assert "<script" not in page.lower()
        assert recorded.dataset_ref in page
    html = httpx.get(
        f"{recorded.url}{API}/validation/reports/{recorded.report_id}/html",
        headers=recorded.headers(),
    )
    assert html.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in html.headers["content-security-policy"]


def test_a_reader_token_is_enough_and_no_token_is_refused(recorded: Recorded) -> None:
    paths = [
        f"{API}/lineage?ref={quote(recorded.dataset_ref)}",
        f"{API}/validation/reports",
        f"{API}/validation/reports/{recorded.report_id}",
        f"{API}/validation/reports/{recorded.report_id}/html",
    ]
    for path in paths:
        assert httpx.get(recorded.url + path).status_code == 401, path
        wrong = httpx.get(recorded.url + path, headers={"Authorization": "Bearer keel_nope"})
        assert wrong.status_code == 401, path
        assert httpx.get(recorded.url + path, headers=recorded.headers()).status_code == 200
        # a reader of another project is refused this one's records
        other = httpx.get(recorded.url + path, headers=recorded.headers("elsewhere"))
        assert other.status_code == 403, path
    anonymous = Client(recorded.url, project=PROJECT)
    with anonymous, pytest.raises(Unauthenticated, match="requires a token"):
        anonymous.lineage(recorded.dataset_ref)
    with recorded.remote("elsewhere") as elsewhere, pytest.raises(PermissionDenied):
        elsewhere.reports()


def test_unknown_records_are_404_naming_them(recorded: Recorded) -> None:
    with recorded.remote() as remote, recorded.local() as local:
        for client in (local, remote):
            with pytest.raises(NotFound, match="no version v99"):
                client.lineage("applications:v99")
            with pytest.raises(NotFound, match="'nosuch'"):
                client.lineage("nosuch:v1")
            with pytest.raises(NotFound, match="0{32}"):
                client.lineage("0" * 32)
            with pytest.raises(NotFound, match="No validation report 'f{32}'"):
                client.report("f" * 32)
            with pytest.raises(NotFound, match="No validation report"):
                client.report_html("f" * 32)
            with pytest.raises(NotFound, match="'nosuch'"):
                client.reports("nosuch:v1")
    # a project with nothing in it has nothing to show, and is not created by looking
    other = Client(recorded.url, project="empty", token=recorded.tokens["reader"])
    with other, pytest.raises(NotFound):
        other.lineage(recorded.dataset_ref)
    with recorded.local() as local:
        assert local.store.find_project_id("empty") is None
    # a report is found only in its own project
    empty = Client(config=Config(**{**recorded.config.__dict__, "project": "empty"}))
    with empty, pytest.raises(NotFound, match="No project named 'empty'"):
        empty.report(recorded.report_id)


BAD_QUERIES = [
    "direction=sideways",
    "direction=",
    "depth=-1",
    "depth=101",
    "depth=99999999999999999999999",
    "depth=ten",
    "ref=",
    "ref=" + "a" * 5000,
    "ref=%00",
    "ref=run:%00",
    "ref=credit%00:v1",
    "ref=run:",
    "ref=applications:v99999999999999999999999",
    "ref=applications:v-1",
    "ref=applications@%F0%9F%92%A5",
    "ref=%E2%80%AE" + "0" * 31,
    "ref=..%2F..%2Fetc%2Fpasswd",
    "ref=' OR 1=1 --",
    "ref=applications:v1&ref=run:x",
]


def test_bad_input_is_a_4xx_never_a_5xx(recorded: Recorded) -> None:
    for query in BAD_QUERIES:
        if not query.startswith("ref="):
            query = f"ref={quote(recorded.dataset_ref)}&{query}"
        response = httpx.get(f"{recorded.url}{API}/lineage?{query}", headers=recorded.headers())
        assert 400 <= response.status_code < 500, (query, response.status_code, response.text)
        assert response.json()["message"]
        if "direction" in query or "depth" in query:
            assert response.status_code == 422, query


def test_bad_walks_are_refused_before_any_look_up(recorded: Recorded) -> None:
    with recorded.remote() as remote, recorded.local() as local:
        for client in (local, remote):
            with pytest.raises(InvalidInput, match="direction must be one of up, down, both"):
                client.lineage(recorded.dataset_ref, direction="sideways")
            with pytest.raises(InvalidInput, match="depth must be a whole number from 0 to 100"):
                client.lineage(recorded.dataset_ref, depth=10**9)
            with pytest.raises(InvalidInput, match="limit must be a whole number"):
                local.reports(limit=0)
    for path in (
        "validation/reports?limit=0",
        "validation/reports?limit=100000",
        "validation/reports?subject=",
        "validation/reports?subject=run:%00",
        "validation/reports/%00",
        "validation/reports/" + "f" * 300,
        "validation/reports/..%2F..%2Fhealth/html",
    ):
        response = httpx.get(f"{recorded.url}{API}/{path}", headers=recorded.headers())
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)


def test_keel_lineage_cli_works_against_a_server(recorded: Recorded, tmp_path: Path) -> None:
    env = {
        "KEEL_URI": recorded.url,
        "KEEL_TOKEN": recorded.tokens["reader"],
        "KEEL_PROJECT": PROJECT,
    }
    shown = run_keel("lineage", recorded.dataset_ref, "--down", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert recorded.dataset_ref in shown.stdout
    assert "scorer:1" in shown.stdout
    assert "input_to" in shown.stdout
    assert "produced" in shown.stdout
    as_json = run_keel("lineage", recorded.dataset_ref, "--json", cwd=tmp_path, env=env)
    assert as_json.returncode == 0, as_json.stderr
    with recorded.local() as local:
        expected = local.lineage(recorded.dataset_ref)
    assert _shape(LineageGraph.from_dict(json.loads(as_json.stdout))) == _shape(expected)
    refused = run_keel("lineage", recorded.dataset_ref, cwd=tmp_path, env={**env, "KEEL_TOKEN": ""})
    assert refused.returncode == 1
    assert "token" in (refused.stdout + refused.stderr).lower()
