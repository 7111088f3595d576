"""The dashboard in a real browser (Chromium through Playwright) against a real keel server
on 127.0.0.1 over a project with runs, datasets, models, a deployment and monitor results:
every page loads cleanly, and filtering, comparing, approving, rolling back and following
lineage work by clicks. Screenshots of each page go to the test's output folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from keel.client import Client
from keel.config import Config
from keel.errors import Conflict
from keel.store import new_id
from tests._cli import run_keel
from tests.conftest import live_server

from ._browser import API, CONTRAST, NEEDS_CHROMIUM, Watch, expect, visit
from ._project import fill

pytestmark = [
    NEEDS_CHROMIUM,
    # one worker runs the whole module: one project, one server and one browser, built once
    pytest.mark.xdist_group("ui-browser"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, dict[str, Any]]:
    return fill(tmp_path_factory.mktemp("ui-browser"))


def test_every_page_loads_with_no_errors(page: Any, server: str, project, tmp_path: Path) -> None:
    facts = project[1]
    run = facts["runs"][0]
    paths = {
        "overview": "",
        "runs": "runs",
        "run": f"runs/{run}",
        "compare": f"compare?ids={run},{facts['runs'][1]}",
        "models": "models",
        "model": "models/credit",
        "deployments": "deployments",
        "deployment": f"deployments/{facts['deployment']}",
        "datasets": "datasets",
        "dataset": "datasets/credit-train",
        "monitoring": "monitoring",
        "lineage": "lineage?ref=credit-train:v1",
    }
    for name, path in paths.items():
        visit(page, f"{server}/ui/p/default/{path}")
        page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
        assert page.watch.problems == [], (name, page.watch.problems)
        assert page.text_content("#status") == "", name
    # what each page is for is on it
    visit(page, f"{server}/ui/p/default/")
    assert "credit-scoring" in page.text_content("#deployments")
    assert "warning" in page.text_content("#alerts")
    visit(page, f"{server}/ui/p/default/monitoring")
    assert page.locator("#heatmap .main-svg").count() > 0
    visit(page, f"{server}/ui/p/default/datasets/credit-train")
    failing = page.locator("#reports tr.fail")
    assert failing.count() == 1
    assert "not_null(income)" in failing.text_content()
    assert page.locator("#histograms .chart").count() == 4
    page.click("text=Compare versions")
    page.wait_for_selector("#diff table")
    assert "credit-train:v1 → credit-train:v2" in page.text_content("#diff")
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(f"{n}.png" for n in paths)
    page.goto(f"{server}/ui/p/nope/")  # a mistyped project: the API's own words, no crash
    page.wait_for_selector("body[data-ready=error]")
    assert "'nope'" in page.text_content("#status")
    assert "default" in page.text_content("#status")  # the projects there are


def test_runs_are_paged_by_the_server(page: Any, server: str) -> None:
    visit(page, f"{server}/ui/p/default/runs")
    assert page.locator("#runs tbody tr").count() == 25
    assert page.text_content("#count") == "1\u201325 of 30 runs"
    assert page.is_disabled("#prev")
    page.click("#next")
    expect(page.locator("#runs tbody tr")).to_have_count(5)
    assert page.text_content("#count") == "26\u201330 of 30 runs"
    assert page.is_disabled("#next")
    assert "offset=25" in page.url
    page.click("#prev")
    expect(page.locator("#runs tbody tr")).to_have_count(25)
    assert page.watch.problems == []
    page.fill("#filter", "metrics.auc >")  # a mistake: the search's own message, no table
    page.click("#run-search button[type=submit]")
    page.wait_for_selector("#status:not(:empty)")
    assert "metrics.auc" in page.text_content("#status")
    assert page.locator("#runs tbody tr").count() == 0
    assert any(p.startswith(("400:", "422:")) for p in page.watch.problems)  # refused...
    assert not any(p.startswith(("uncaught", "5")) for p in page.watch.problems)  # ...cleanly


def test_filter_sort_and_compare_runs_by_clicks(page: Any, server: str) -> None:
    visit(page, f"{server}/ui/p/default/runs")
    page.select_option("#experiment", "credit")
    page.click("#run-search button[type=submit]")
    expect(page.locator("#runs tbody tr")).to_have_count(4)
    page.fill("#filter", "params.solver = 'lbfgs'")
    page.click("#run-search button[type=submit]")
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    assert "of 2 runs" in page.text_content("#count")
    assert "filter=params.solver" in page.url  # the view is a link
    page.click("#columns-box summary")
    page.check("#columns input[value='metrics.auc']")
    page.wait_for_selector("th >> text=metrics.auc")
    page.click("button[aria-label='Sort by metrics.auc']")
    page.wait_for_selector("th button[aria-sort=descending]")
    names = page.locator("#runs tbody td:nth-child(2)").all_text_contents()
    assert names == ["logreg-C10.0", "logreg-C0.1"]
    assert page.is_disabled("#compare")
    for box in page.locator("#runs tbody input[type=checkbox]").all():
        box.check()
    page.click("#compare")
    page.wait_for_url("**/compare?ids=*")
    page.wait_for_selector("body[data-ready=true]")
    head = page.locator("#param-diff thead th").all_text_contents()
    assert head == ["param", "logreg-C10.0", "logreg-C0.1"]
    assert page.locator("#param-diff tr.differs").count() == 1  # C differs, solver does not
    assert page.locator("#metrics .chart").count() == 2  # auc and loss, overlaid
    assert page.watch.problems == []


def test_run_page_previews_artifacts_and_smooths(page: Any, server: str, project) -> None:
    visit(page, f"{server}/ui/p/default/runs/{project[1]['runs'][0]}")
    assert page.locator("#metrics .chart").count() == 1  # loss; auc has one value: a table
    page.fill("#smoothing", "0.6")
    page.dispatch_event("#smoothing", "input")
    assert page.text_content("#smoothing-value") == "0.60"
    assert page.locator("#metrics .chart .scatterlayer .trace").count() == 2  # raw and smoothed
    page.select_option("#xaxis", "time")
    page.wait_for_selector("#metrics .chart >> text=time")
    page.click("button[aria-label='Preview confusion.csv']")
    page.wait_for_selector("#preview table")
    assert page.locator("#preview tbody tr").count() == 2
    page.click("button[aria-label='Preview roc.plotly.json']")
    page.wait_for_selector("#preview .main-svg")
    assert page.watch.problems == []


def test_approve_a_model_by_click(page: Any, server: str, project) -> None:
    version = project[1]["challenger"]
    visit(page, f"{server}/ui/p/default/models/credit")
    page.click(f"button[aria-label='Approve credit:{version}']")
    page.wait_for_selector(f".approvals[data-version='{version}'] >> text=approved")
    assert "approved" in page.text_content("#status")
    recorded = httpx.get(f"{server}{API}/models/credit/versions/{version}/approvals").json()
    assert recorded == {"anonymous": "approved"}
    page.click("#show-card")
    assert page.frame_locator("iframe.card").locator("body").text_content()
    assert page.watch.problems == []


def test_roll_back_a_deployment_by_click_with_confirmation(page: Any, server: str, project) -> None:
    name = project[1]["deployment"]
    before = httpx.get(f"{server}{API}/deployments/{name}").json()["revision"]
    visit(page, f"{server}/ui/p/default/deployments/{name}")
    assert page.locator("#split .main-svg").count() > 0  # the traffic split chart
    page.click("#rollback")
    page.click("#confirm-dialog button[value=cancel]")
    assert httpx.get(f"{server}{API}/deployments/{name}").json()["revision"] == before
    page.click("#rollback")
    assert "Roll back" in page.text_content("#confirm-title")
    page.click("#confirm-ok")
    page.wait_for_selector("#status >> text=Rolled back")
    after = httpx.get(f"{server}{API}/deployments/{name}").json()
    assert after["revision"] == before + 1
    assert after["kind"] == "rollback"
    expect(page.locator("#history tbody > tr")).to_have_count(before + 1)  # re-rendered
    assert page.watch.problems == []


def test_acknowledge_and_resolve_an_alert_by_click_a_reader_cannot(
    page: Any, server: str, project, browser: Any
) -> None:
    from keel.server.tokens import TokenService
    from keel.store import Store

    config = project[0]
    [alert] = httpx.get(f"{server}{API}/alerts").json()
    ack, resolve = f"Acknowledge alert {alert['id']}", f"Resolve alert {alert['id']}"
    with Store.open(config) as store:
        _, secret = TokenService(store).create("watcher", "reader")
    bearer = {"Authorization": f"Bearer {secret}"}
    with live_server(config, auth=True) as url:  # a reader: the alert, and no buttons
        context = browser.new_context()
        reader = context.new_page()
        reader.set_default_timeout(20_000)
        reader.add_init_script(f"sessionStorage.setItem('keel.token', {secret!r})")
        reader.goto(f"{url}/ui/p/default/monitoring")
        reader.wait_for_selector("body[data-ready=true]")
        assert alert["message"] in reader.text_content("#alerts")
        assert reader.locator(f"button[aria-label='{ack}']").count() == 0
        assert reader.locator(f"button[aria-label='{resolve}']").count() == 0
        for verb in ("acknowledge", "resolve"):
            refused = httpx.post(f"{url}{API}/alerts/{alert['id']}/{verb}", headers=bearer)
            assert refused.status_code == 403, refused.text
            assert "writer" in refused.text
        context.close()
    assert httpx.get(f"{server}{API}/alerts/{alert['id']}").json()["status"] == "open"
    visit(page, f"{server}/ui/p/default/monitoring")
    page.click(f"button[aria-label='{ack}']")
    page.wait_for_selector("#alerts .handled >> text=acknowledged by anonymous")
    expect(page.locator(f"button[aria-label='{ack}']")).to_have_count(0)
    visit(page, f"{server}/ui/p/default/")  # the Overview says someone is on it
    assert "acknowledged by anonymous" in page.text_content("#alerts")
    visit(page, f"{server}/ui/p/default/monitoring")
    page.click(f"button[aria-label='{resolve}']")  # asks first
    page.click("#confirm-dialog button[value=cancel]")
    assert httpx.get(f"{server}{API}/alerts/{alert['id']}").json()["status"] == "open"
    page.click(f"button[aria-label='{resolve}']")
    page.click("#confirm-ok")
    page.wait_for_selector("#status >> text=Alert resolved by anonymous")
    expect(page.locator("#alerts")).to_contain_text("No alerts.")  # the open ones: none now
    page.select_option("#alert-status", "all")
    page.wait_for_selector("#alerts .handled >> text=resolved by anonymous")
    assert page.locator(f"button[aria-label='{resolve}']").count() == 0
    assert page.watch.problems == []
    done = httpx.get(f"{server}{API}/alerts/{alert['id']}").json()
    assert (done["status"], done["resolved_by"], done["acknowledged_by"]) == (
        "resolved",
        "anonymous",
        "anonymous",
    )
    again = httpx.post(f"{server}{API}/alerts/{alert['id']}/resolve")
    assert again.status_code == 409
    assert "resolved already" in again.text
    long = {"comment": "x" * 2001}
    long = httpx.post(f"{server}{API}/alerts/{alert['id']}/acknowledge", json=long)
    assert long.status_code == 422
    assert httpx.post(f"{server}{API}/alerts/{'0' * 32}/resolve").status_code == 404
    events = httpx.get(f"{server}{API}/activity", params={"limit": 20}).json()
    did = [(e["action"], e["object_id"]) for e in events if e["object_kind"] == "alert"]
    assert ("alert.acknowledge", alert["id"]) in did
    assert ("alert.resolve", alert["id"]) in did
    with Client(server) as remote, pytest.raises(Conflict, match="resolved already"):
        remote.alerts.acknowledge(alert["id"])  # the SDK through the server: the same answer


def test_deployment_health_shows_throughput_latency_and_error_rate(
    page: Any, browser: Any, server: str, project, tmp_path: Path
) -> None:
    from keel.deploy import DeploymentSpec

    config, facts = project
    name = facts["deployment"]
    watched = httpx.get(f"{server}{API}/deployments/{name}/stats").json()
    assert watched["deployment"] == name
    assert [p["source"] for p in watched["points"]] == ["monitor credit-drift"] * 3
    assert all(p["requests"] == 600 and p["p99_ms"] is not None for p in watched["points"])
    assert {p["error_rate"] for p in watched["points"]} == {None}  # not in the prediction log
    visit(page, f"{server}/ui/p/default/deployments/{name}")
    assert page.locator("#health .chart").count() == 2  # throughput and p99 latency
    assert "no failed-request counts yet" in page.text_content("#health")
    # a canary walked in: the model server's own counts at each step give the error rate
    canary = {
        "name": "credit-canary",
        "model": "credit",
        "routes": [{"version": "1", "weight": 100}],
        "canary": {"steps": [10, 50, 100], "interval": "1m"},
    }
    with Client(config=config) as client:
        client.deployments.apply(DeploymentSpec.from_dict(canary))
        rollout = client.deployments.apply(
            DeploymentSpec.from_dict({**canary, "routes": [{"version": "2", "weight": 100}]})
        )
        assert rollout.status == "canary"
        for step, (weight, errors) in enumerate(((10, 1), (50, 4))):
            seen = {"requests": 200, "errors": errors, "p99_ms": 5.0 + step, "elapsed_s": 10.0}
            client.deployments.record_step(rollout.id, step, weight, "passed", seen)
    stats = httpx.get(f"{server}{API}/deployments/credit-canary/stats").json()["points"]
    assert [(p["source"], p["error_rate"]) for p in stats] == [
        ("canary r2 step 1 (10%)", 0.005),
        ("canary r2 step 2 (50%)", 0.02),
    ]
    assert [p["throughput_rps"] for p in stats] == [20.0, 20.0]  # 200 requests in 10 s
    with Client(config=config) as local, Client(server) as remote:  # the SDK, both ways
        assert local.deployments.stats("credit-canary")["points"] == stats
        assert remote.deployments.stats("credit-canary", limit=1)["points"] == stats[-1:]
    env = {"KEEL_URI": config.uri, "KEEL_OBJECTS": config.objects}
    shown = run_keel("deploy", "stats", "credit-canary", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "canary r2 step 2 (50%)" in shown.stdout
    assert "2.00%" in shown.stdout
    visit(page, f"{server}/ui/p/default/deployments/credit-canary")
    assert page.locator("#health .chart").count() == 3  # and the error rate beside them
    assert page.locator("#health .chart[aria-label='error rate over time'] .main-svg").count() > 0
    assert page.watch.problems == []
    # live: a step judged while the page is open is drawn at the next read (every 30 s)
    live = browser.new_page(viewport={"width": 1280, "height": 900})
    live.set_default_timeout(20_000)
    live.watch = Watch(live)
    live.clock.install()
    visit(live, f"{server}/ui/p/default/deployments/credit-canary")
    chart = "#health .chart[aria-label='error rate over time']"
    drawn = "(selector) => document.querySelector(selector).data[0].y"
    assert live.evaluate(drawn, chart) == [0.5, 2.0]  # percent
    assert "read again every 30 s" in live.text_content("#health-updated")
    with Client(config=config) as client:
        seen = {"requests": 100, "errors": 3}
        client.deployments.record_step(rollout.id, 2, 100, "running", seen)
    live.clock.fast_forward(31_000)
    three = "(selector) => document.querySelector(selector)?.data?.[0]?.y?.length === 3"
    live.wait_for_function(three, arg=chart)
    assert live.evaluate(drawn, chart) == [0.5, 2.0, 3.0]
    assert live.watch.problems == []
    live.close()
    missing = httpx.get(f"{server}{API}/deployments/nope/stats")
    assert missing.status_code == 404
    assert "nope" in missing.text
    assert httpx.get(f"{server}{API}/deployments/{name}/stats?limit=0").status_code == 422
    assert len(httpx.get(f"{server}{API}/deployments/{name}/stats?limit=2").json()["points"]) == 2
    # between rollouts: the model server's own counts of every interval give the error rate
    now = int(time.time() * 1000) // 60_000 * 60_000
    counted = {"worker": "host:1", "model_version": "credit:1", "requests": 100, "p99_ms": 9.0}
    rows = [
        {**counted, "id": new_id(), "bucket_ms": at, "start_ms": at, "end_ms": at + 60_000}
        | {"errors": errors, "client_errors": 1, "p50_ms": 2.0}
        for at, errors in ((now - 120_000, 1), (now - 60_000, 3))
    ]
    with Client(config=config) as client:
        assert client.deployments.record_health(name, rows) == 2
    visit(page, f"{server}/ui/p/default/deployments/{name}")
    traces = "(s) => document.querySelector(s).data.map((t) => [t.name, t.y])"
    chart = "#health .chart[aria-label='error rate over time']"
    assert page.evaluate(traces, chart) == [["model server (5xx) %", [1.0, 3.0]]]
    assert "no failed-request counts yet" not in page.text_content("#health")
    assert page.watch.problems == []


def test_follow_lineage_links(page: Any, server: str, project) -> None:
    run = project[1]["runs"][0]
    visit(page, f"{server}/ui/p/default/runs/{run}")
    page.click("#lineage-link")
    page.wait_for_url("**/lineage?ref=run*")
    page.wait_for_selector("#graph svg a.node")
    page.click("#graph a.node[aria-label='dataset version credit-train:v1']")
    page.wait_for_url("**/datasets/credit-train?version=1")
    page.wait_for_selector("body[data-ready=true]")
    assert page.text_content("#version-ref") == "credit-train:v1"
    assert page.watch.problems == []


def test_main_pages_have_readable_contrast(page: Any, server: str) -> None:
    checks = {
        "": ["main h1", "header nav a", "header nav a[aria-current]", "th", "td", "td a"],
        "runs": ["label", "#filter", "button.primary", "#count", "#runs td a"],
        "models/credit": ["button.ok", "button.danger", "#aliases .muted"],
        "datasets/credit-train": [".badge.ok", ".badge.bad", "tr.fail td"],
    }
    for path, selectors in checks.items():
        visit(page, f"{server}/ui/p/default/{path}")
        ratios = page.evaluate(CONTRAST, selectors)
        low = {s: r for s, r in ratios.items() if not isinstance(r, float) or not r >= 4.5}
        assert low == {}, (path, low)  # WCAG AA for normal text


def test_keyboard_reaches_the_skip_link_and_focus_is_visible(page: Any, server: str) -> None:
    visit(page, f"{server}/ui/p/default/runs")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert page.evaluate("document.activeElement.tagName") == "A"
    assert outline != "none"


def test_a_reader_is_asked_for_a_token_and_sees_no_approve_or_rollback(
    browser: Any, project, tmp_path: Path
) -> None:
    from keel.server.tokens import TokenService
    from keel.store import Store

    config, facts = project
    with Store.open(config) as store:
        _, secret = TokenService(store).create("viewer", "reader")
    with live_server(config, auth=True) as url:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{url}/ui/p/default/models/credit")
        page.wait_for_selector("#token-dialog[open]")
        page.fill("#token-input", secret)
        page.click("#token-form button[type=submit]")
        page.wait_for_selector("body[data-ready=true]")
        watch = Watch(page)
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        assert "viewer (reader)" in page.text_content("#whoami")
        assert page.locator("#versions tbody tr").count() == 2
        assert page.locator("button:has-text('Approve')").count() == 0
        assert page.locator("button:has-text('Reject')").count() == 0
        page.screenshot(path=tmp_path / "model-as-reader.png", full_page=True)
        page.goto(f"{url}/ui/p/default/deployments/{facts['deployment']}")
        page.wait_for_selector("body[data-ready=true]")
        assert page.is_hidden("#rollback")
        assert watch.problems == []
        refused = httpx.post(
            f"{url}{API}/deployments/{facts['deployment']}/rollback",
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert refused.status_code == 403
        context.close()


def test_the_screenshot_helper_saves_a_ready_page_and_refuses_a_broken_one(
    browser: Any, server: str, tmp_path: Path
) -> None:
    from keel.ui._screenshots import VIEWPORT, take

    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(20_000)
    shot = tmp_path / "runs.png"
    take(page, f"{server}/ui/p/default/runs", shot, scroll="#runs")
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"])
    with pytest.raises(RuntimeError, match="is not clean"):
        take(browser.new_page(), f"{server}/ui/p/nope/", tmp_path / "nope.png")
    assert not (tmp_path / "nope.png").exists()
    page.close()
