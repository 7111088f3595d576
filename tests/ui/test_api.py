"""What the dashboard reads beyond the concept routes: paged run search with totals, recent
activity, the caller's role, dataset diffs; and the pages' own routes, on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keel.client import Client
from keel.config import Config
from keel.errors import InvalidInput
from keel.tracking import RunQuery, SqlTracking
from tests.conftest import live_server

from ._project import fill

API = "/api/v1/projects/default"
pytestmark = pytest.mark.xdist_group("ui-api")  # one project and one server for the module


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, dict]:
    return fill(tmp_path_factory.mktemp("ui-api"))


@pytest.fixture(scope="module")
def api(project: tuple[Config, dict]) -> Iterator[httpx.Client]:
    with live_server(project[0]) as url, httpx.Client(base_url=url) as client:
        yield client


def test_search_pages_with_offset_and_count(api: httpx.Client, project) -> None:
    search = {"experiments": ["credit"], "order_by": ["metrics.auc desc"], "max_results": 3}
    first = api.post(f"{API}/runs/search", json=search).json()
    second = api.post(f"{API}/runs/search", json={**search, "offset": 3}).json()
    assert [r["metrics"]["auc"] for r in first] == pytest.approx([0.75, 0.7, 0.65])
    assert [r["metrics"]["auc"] for r in second] == pytest.approx([0.6])
    assert api.post(f"{API}/runs/count", json=search).json() == {"total": 4}
    narrowed = {**search, "filter": "params.solver = 'lbfgs'"}
    assert api.post(f"{API}/runs/count", json=narrowed).json() == {"total": 2}


def test_a_bad_offset_or_filter_is_a_client_error_that_names_it(api: httpx.Client) -> None:
    response = api.post(f"{API}/runs/search", json={"offset": -1})
    assert response.status_code == 422
    response = api.post(f"{API}/runs/count", json={"filter": "metrics.auc >"})
    assert response.status_code in (400, 422)
    assert "filter" in response.text.lower() or "expected" in response.text.lower()
    response = api.post(f"{API}/runs/count", json={"experiments": ["nope"]})
    assert response.status_code == 404
    assert "nope" in response.text


def test_offset_through_the_sdk_on_both_transports(api: httpx.Client, project) -> None:
    config = project[0]
    local = SqlTracking(Client(config=config).store, project="default")
    query = RunQuery(("credit",), order_by=("metrics.auc asc",), max_results=2, offset=2)
    assert [r.metrics["auc"] for r in local.search_runs(query)] == pytest.approx([0.7, 0.75])
    assert local.count_runs(query) == 4
    assert local.count_runs(RunQuery(filter="metrics.score >= 0.5")) == 13
    assert local.search_runs(RunQuery(offset=30)) == []
    with pytest.raises(InvalidInput, match="offset must be an integer of at least 0"):
        local.search_runs(RunQuery(offset=-3))
    with Client(str(api.base_url)) as remote:
        found = remote.runs.search_runs(query)
        assert remote.runs.count_runs(query) == 4
    assert [r.metrics["auc"] for r in found] == pytest.approx([0.7, 0.75])


def test_activity_is_newest_first_and_whoami_says_the_role(api: httpx.Client) -> None:
    events = api.get(f"{API}/activity", params={"limit": 5}).json()
    assert len(events) == 5
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    assert {"actor", "action", "object_kind", "object_id"} <= set(events[0])
    assert api.get(f"{API}/activity", params={"limit": 0}).status_code == 422
    assert api.get("/api/v1/whoami").json() == {
        "name": "anonymous",
        "role": "admin",
        "projects": [],
        "auth": False,
    }


def test_dataset_diff_between_versions(api: httpx.Client) -> None:
    diff = api.get(f"{API}/dataset-versions/credit-train:v1/diff", params={"to": "credit-train:v2"})
    body = diff.json()
    assert body["a"] == "credit-train:v1"
    assert body["b"] == "credit-train:v2"
    assert body["same"] is False
    assert "income" in body["stats"]
    missing = api.get(
        f"{API}/dataset-versions/credit-train:v1/diff", params={"to": "credit-train:v9"}
    )
    assert missing.status_code == 404
    assert api.get(f"{API}/dataset-versions/credit-train:v1/diff").status_code == 422


def test_pages_plotly_and_redirects(api: httpx.Client) -> None:
    root = api.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/ui/"
    home = api.get("/ui/")
    assert home.status_code == 307
    assert home.headers["location"] == "/ui/p/default/"
    page = api.get("/ui/p/default/runs")
    assert page.status_code == 200
    assert 'data-page="runs"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    plotly = api.get("/ui/static/plotly.min.js")
    assert plotly.status_code == 200
    assert len(plotly.content) > 1_000_000
    assert api.get("/ui/static/nothing.js").status_code == 404
    assert api.get("/ui/static/..%2Fpages.py").status_code == 404
    bad = api.get("/ui/p/not a project!/runs")
    assert bad.status_code == 422
    assert "project" in bad.text.lower()
    escaped = api.get("/ui/p/default/models/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert escaped.status_code == 200
    assert "<img src=x" not in escaped.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in escaped.text


def test_keel_ui_prints_the_url_and_serves_the_dashboard(project, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    config = project[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env.update(KEEL_URI=config.uri, KEEL_OBJECTS=config.objects, KEEL_AGENT_TICK_SECONDS="0")
    command = [sys.executable, "-m", "keel", "ui"]
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            line = process.stdout.readline()
            assert "keel dashboard on http://127.0.0.1:" in line, process.stderr.read()
            url = line.split(" on ")[1].split()[0]
            page = httpx.get(url)
            assert page.status_code == 200
            assert 'data-page="overview"' in page.text
            assert httpx.get(url.split("/ui/")[0] + "/api/v1/whoami").json()["auth"] is False
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_keel_ui_on_a_busy_port_says_so(project, tmp_path: Path) -> None:
    import socket

    from tests._cli import run_keel

    config = project[0]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_keel("ui", "--port", str(port), cwd=tmp_path, env={"KEEL_URI": config.uri})
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
