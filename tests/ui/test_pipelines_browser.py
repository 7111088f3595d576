"""The dashboard's Pipelines pages in a real browser (Chromium through Playwright) against a
real keel server over real pipeline runs: the pages load cleanly, the DAG shows each step's
state, logs open on a click or a key, a reader sees no approve or resume buttons, and an
approval decided by a click lets the agent finish the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from keel.client import Client
from keel.config import Config
from tests.conftest import live_server

from ._browser import API, CONTRAST, NEEDS_CHROMIUM, Watch, expect, visit
from ._pipelines import fill_pipelines

pytestmark = [
    NEEDS_CHROMIUM,
    # one server and one browser per module; the tests of a module may run on two workers,
    # each with its own project, so a test depends on no test but the ones before it in here
    pytest.mark.xdist_group("ui-pipelines-browser"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, dict[str, Any]]:
    return fill_pipelines(tmp_path_factory.mktemp("ui-pipelines"))


def run_url(server: str, pipeline: str, run: str) -> str:
    return f"{server}/ui/p/default/pipelines/{pipeline}/runs/{run}"


def states(page: Any) -> dict[str, str]:
    """Each DAG node's step and state."""
    pairs = "nodes => Object.fromEntries(nodes.map(n => [n.dataset.step, n.dataset.state]))"
    return page.eval_on_selector_all("#dag .node", pairs)


def step_row(page: Any, step: str) -> Any:
    """The step runs table's row of ``step``."""
    return page.locator(f"#steps tbody tr:has(td:first-child button:text-is('{step}'))")


def test_pipelines_pages_load_with_no_errors(page: Any, server: str, project, tmp_path: Path):
    facts = project[1]
    paths = {
        "pipelines": "pipelines",
        "pipeline": "pipelines/retrain",
        "pipeline-run-cached": f"pipelines/retrain/runs/{facts['cached']}",
        "pipeline-run-failed": f"pipelines/unreliable/runs/{facts['failed']}",
        "pipeline-run-waiting": f"pipelines/approve-then-promote/runs/{facts['waiting']}",
        "overview": "",
    }
    for name, path in paths.items():
        visit(page, f"{server}/ui/p/default/{path}")
        page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
        assert page.watch.problems == [], (name, page.watch.problems)
        assert page.text_content("#status") == "", name
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted(paths)

    visit(page, f"{server}/ui/p/default/pipelines")
    rows = page.locator("#pipelines tbody tr")
    assert rows.count() == 3
    retrain = page.locator("#pipelines tbody tr", has_text="retrain")
    assert "schedule (cron=0 3 * * *)" in retrain.text_content()
    assert "succeeded" in retrain.text_content()
    assert "failed" in page.locator("#pipelines tbody tr", has_text="unreliable").text_content()
    assert page.locator("#recent tbody tr").count() == 6
    assert "promote credit" in page.text_content("#waiting")
    assert "No agent leads now" in page.text_content("#agent")
    assert page.get_attribute("a[href='/ui/p/default/pipelines']", "aria-current") == "page"

    visit(page, f"{server}/ui/p/default/pipelines/retrain")
    assert page.locator("#history tbody tr").count() == 2
    assert "data ← load.return" in page.text_content("#steps")

    visit(page, f"{server}/ui/p/default/")  # the overview's "waiting for you"
    waiting = page.locator(f"#waiting li[data-approval='{facts['approval']}']")
    assert page.locator("#waiting li").count() == 3
    assert "promote credit" in waiting.text_content()
    href = waiting.locator("a").get_attribute("href")
    assert href == f"/ui/p/default/pipelines/approve-then-promote/runs/{facts['waiting']}"


def test_the_dag_shows_each_step_in_its_state(page: Any, server: str, project) -> None:
    facts = project[1]
    visit(page, run_url(server, "retrain", facts["cached"]))
    assert page.get_attribute("body", "data-status") == "succeeded"
    assert states(page) == {"load": "succeeded", "train": "succeeded", "score": "succeeded"}
    edges = page.eval_on_selector_all(
        "#dag .edge", "es => es.map(e => e.dataset.from + '>' + e.dataset.to).sort()"
    )
    assert edges == ["load>score", "load>train", "train>score"]
    assert "from the cache" in page.get_attribute("#dag .node[data-step=load]", "aria-label")
    assert "from the cache" not in page.get_attribute("#dag .node[data-step=train]", "aria-label")
    load_row = step_row(page, "load")
    assert "hit (" in load_row.text_content()
    assert "hit (" not in step_row(page, "train").text_content()
    # outputs link to their dataset and model pages
    dataset = load_row.locator("a")
    assert dataset.get_attribute("href") == "/ui/p/default/datasets/retrain.load?version=1"
    model = step_row(page, "train").locator("a")
    assert model.get_attribute("href") == "/ui/p/default/models/retrain.train"
    assert page.is_hidden("#resume")
    assert page.is_hidden("#cancel")  # nothing to resume

    visit(page, run_url(server, "unreliable", facts["failed"]))
    assert page.get_attribute("body", "data-status") == "failed"
    assert states(page) == {"flaky": "failed", "double": "not-run"}
    assert "3 attempts" in page.get_attribute("#dag .node[data-step=flaky]", "aria-label")
    assert "Step 'flaky' failed after 3 attempts" in page.text_content("#run-error")
    # the failed step opens by itself: its traceback and every attempt's log
    assert page.text_content("#step-name") == "flaky"
    assert "RuntimeError: planned failure 3" in page.text_content("#traceback")
    page.wait_for_function("!document.getElementById('logs').textContent.startsWith('Loading')")
    assert "attempt 2 failed" in page.text_content("#logs")
    assert page.is_visible("#resume")
    assert page.is_hidden("#cancel")  # a writer may resume

    visit(page, run_url(server, "approve-then-promote", facts["waiting"]))
    assert states(page) == {"double": "succeeded", "promote_after_approval": "waiting"}
    assert page.is_visible("#resume")
    assert page.is_visible("#cancel")


def test_logs_open_by_click_and_by_keyboard(page: Any, server: str, project) -> None:
    facts = project[1]
    visit(page, run_url(server, "retrain", facts["first"]))
    assert page.is_hidden("#step-box")
    page.click("#dag .node[data-step=load]")
    page.wait_for_selector("#logs:has-text('loading month 3')")
    assert page.text_content("#step-name") == "load"
    assert page.is_hidden("#traceback")  # it did not fail
    page.focus("#dag .node[data-step=score]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#step-name:has-text('score')")
    page.wait_for_selector("#logs:has-text('attempt 1 (succeeded)')")
    assert "loading month" not in page.text_content("#logs")
    assert page.watch.problems == []


def test_a_page_for_a_run_that_is_not_there_says_so(page: Any, server: str) -> None:
    page.goto(run_url(server, "retrain", "0" * 32))
    page.wait_for_selector("body[data-ready=error]")
    assert "0" * 32 in page.text_content("#status")
    too_long = httpx.get(run_url(server, "retrain", "x" * 65))
    assert too_long.status_code == 422
    assert "pipeline run id" in too_long.text


def test_states_are_readable_and_the_dag_is_reached_by_keyboard(
    page: Any, server: str, project
) -> None:
    facts = project[1]
    checks = {
        "pipelines": [".badge.state-succeeded", ".badge.state-failed", ".badge.state-waiting"],
        f"pipelines/approve-then-promote/runs/{facts['waiting']}": [
            "#approvals button.ok",
            "#approvals button.danger",
            "#approvals label",
            "#legend .badge.state-waiting",
        ],
        f"pipelines/unreliable/runs/{facts['failed']}": ["#run-error", "#legend .state-not-run"],
    }
    for path, selectors in checks.items():
        visit(page, f"{server}/ui/p/default/{path}")
        ratios = page.evaluate(CONTRAST, selectors)
        low = {s: r for s, r in ratios.items() if not isinstance(r, float) or not r >= 4.5}
        assert low == {}, (path, low)  # WCAG AA for normal text
    visit(page, run_url(server, "retrain", facts["first"]))
    for _ in range(40):  # Tab through the page until a step of the DAG has the focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('node')"):
            break
    assert page.evaluate("document.activeElement.dataset.step") == "load"
    stroke = page.evaluate("getComputedStyle(document.activeElement.querySelector('rect')).stroke")
    assert stroke == "rgb(255, 159, 26)"  # the focus colour, not the state's
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.step") == "train"
    page.keyboard.press(" ")
    page.wait_for_selector("#step-name:has-text('train')")


def test_resume_and_cancel_by_click(page: Any, server: str, project) -> None:
    facts = project[1]
    api = f"{server}{API}/pipelines/-/runs/{facts['failed']}"
    visit(page, run_url(server, "unreliable", facts["failed"]))
    page.click("#resume")
    page.wait_for_selector("body[data-status=queued]")
    expect(page.locator("#status")).to_contain_text("the agent resumes it")
    assert httpx.get(api).json()["status"] == "queued"
    assert page.is_hidden("#resume")
    page.click("#cancel")  # asks first; saying no changes nothing
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-dialog button[value=cancel]")
    assert httpx.get(api).json()["status"] == "queued"
    page.click("#cancel")
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-ok")
    page.wait_for_selector("body[data-status=cancelled]")
    assert httpx.get(api).json()["status"] == "cancelled"
    assert page.is_visible("#resume")  # a cancelled run can be resumed
    assert page.is_hidden("#cancel")
    assert page.watch.problems == []


def test_a_reader_sees_no_approve_resume_or_cancel(browser: Any, project, tmp_path: Path):
    from keel.server.tokens import TokenService
    from keel.store import Store

    config, facts = project
    with Store.open(config) as store:
        _, secret = TokenService(store).create("pipeline-viewer", "reader")
    with live_server(config, auth=True) as url:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(run_url(url, "approve-then-promote", facts["waiting"]))
        page.wait_for_selector("#token-dialog[open]")
        page.fill("#token-input", secret)
        page.click("#token-form button[type=submit]")
        page.wait_for_selector("body[data-ready=true]")
        watch = Watch(page)
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        assert "pipeline-viewer (reader)" in page.text_content("#whoami")
        assert "promote credit" in page.text_content("#approvals")  # shown, not decidable
        assert page.locator("button:has-text('Approve')").count() == 0
        assert page.locator("button:has-text('Reject')").count() == 0
        assert page.is_hidden("#resume")
        assert page.is_hidden("#cancel")
        page.screenshot(path=tmp_path / "pipeline-run-as-reader.png", full_page=True)
        page.goto(f"{url}/ui/p/default/")
        page.wait_for_selector("body[data-ready=true]")
        assert "promote credit" in page.text_content("#waiting")
        assert page.locator("#waiting button").count() == 0
        assert watch.problems == []
        bearer = {"Authorization": f"Bearer {secret}"}
        refused = httpx.post(f"{url}{API}/approvals/{facts['approval']}/approve", headers=bearer)
        assert refused.status_code == 403
        resume = f"{url}{API}/pipelines/-/runs/{facts['waiting']}/resume"
        assert httpx.post(resume, headers=bearer).status_code == 403
        context.close()
    with Client(config=config) as client:  # nothing changed
        assert client.approvals.get(facts["approval"]).status == "pending"


def test_a_decision_made_elsewhere_meanwhile_is_refused_with_the_api_words(
    page: Any, server: str, project
) -> None:
    """The page was open when someone else decided: the click changes nothing and says so."""
    config, facts = project
    visit(page, f"{server}/ui/p/default/")
    item = page.locator(f"#waiting li[data-approval='{facts['rejection']}']")
    with Client(config=config) as client:
        client.approvals.reject(facts["rejection"], comment="not this month")
    item.locator("button:has-text('Approve')").click()
    page.wait_for_selector("#status:not(:empty)")
    assert "is rejected by" in page.text_content("#status")  # the API's own words
    assert "cannot be approved" in page.text_content("#status")
    assert page.watch.problems  # the refused request, and nothing else
    assert all("409" in p for p in page.watch.problems), page.watch.problems
    # the page shows the decision as it stands: who rejected it and why, no buttons left
    page.wait_for_selector(f"#waiting li[data-approval='{facts['rejection']}'].rejected")
    assert "not this month" in item.locator(".verdict").text_content()
    assert item.locator("button").count() == 0
    decided = httpx.get(f"{server}{API}/approvals/{facts['rejection']}").json()
    assert decided["status"] == "rejected"
    assert decided["comment"] == "not this month"


def test_approve_and_reject_by_click_then_the_agent_finishes_the_runs(
    page: Any, server: str, project
):
    from keel.server.agent import Agent

    config, facts = project
    visit(page, run_url(server, "approve-then-promote", facts["waiting"]))
    item = page.locator(f"#approvals li[data-approval='{facts['approval']}']")
    item.locator("input.comment").fill("back-test checked")
    item.locator("button:has-text('Approve')").click()
    page.wait_for_selector("#approvals .verdict:has-text('approved')")
    assert "back-test checked" in item.text_content()
    assert item.locator("button").count() == 0  # decided: no more buttons
    assert "resumes the run" in page.text_content("#status")
    assert page.watch.problems == []
    decided = httpx.get(f"{server}{API}/approvals/{facts['approval']}").json()
    assert decided["status"] == "approved"
    assert decided["comment"] == "back-test checked"

    # reject another on the overview
    visit(page, f"{server}/ui/p/default/")
    item = page.locator(f"#waiting li[data-approval='{facts['decline']}']")
    item.locator("input.comment").fill("segment north got worse")
    item.locator("button:has-text('Reject')").click()
    page.wait_for_selector(f"#waiting li[data-approval='{facts['decline']}'].rejected")
    assert "rejected" in item.locator(".verdict").text_content()
    assert "segment north got worse" in item.text_content()
    assert item.locator("button").count() == 0
    assert page.watch.problems == []
    decided = httpx.get(f"{server}{API}/approvals/{facts['decline']}").json()
    assert decided["status"] == "rejected"
    assert decided["comment"] == "segment north got worse"

    with Client(config=config) as client:
        agent = Agent(client, tick_seconds=1, max_runs=4)
        agent.run_once()
        assert agent.wait_for_runs(120)
        visit(page, f"{server}/ui/p/default/pipelines")
        assert page.text_content("#agent-leader") == agent.holder  # who leads
        agent.release()
    visit(page, run_url(server, "approve-then-promote", facts["waiting"]))
    assert page.get_attribute("body", "data-status") == "succeeded"
    assert states(page) == {"double": "succeeded", "promote_after_approval": "succeeded"}
    assert "approved" in page.text_content("#approvals")
    assert page.locator("#approvals button").count() == 0
    visit(page, run_url(server, "approve-then-promote", facts["declined"]))
    assert page.get_attribute("body", "data-status") == "failed"  # rejected: its step fails
    assert states(page)["promote_after_approval"] == "failed"
    assert "rejected" in page.text_content("#run-error").lower()
    visit(page, f"{server}/ui/p/default/")
    assert facts["approval"] not in page.inner_html("#waiting")
    assert facts["decline"] not in page.inner_html("#waiting")


def test_approvals_are_listed_per_pipeline_run_by_the_server(
    server: str, project, tmp_path: Path
) -> None:
    import json

    from tests._cli import run_keel

    config, facts = project
    listing = f"{server}{API}/approvals"
    every = httpx.get(listing, params={"status": "all"}).json()
    assert len({a["pipeline_run_id"] for a in every}) == 3  # three runs asked for one each
    for run, approval in (("waiting", "approval"), ("declined", "decline")):
        found = httpx.get(listing, params={"status": "all", "pipeline_run": facts[run]}).json()
        assert [(a["id"], a["pipeline_run_id"]) for a in found] == [(facts[approval], facts[run])]
    none = httpx.get(listing, params={"status": "all", "pipeline_run": facts["first"]}).json()
    assert none == []
    assert httpx.get(listing, params={"pipeline_run": ""}).status_code == 422
    assert httpx.get(listing, params={"pipeline_run": "x" * 65}).status_code == 422
    with Client(server) as remote:
        [found] = remote.approvals.list(status="all", pipeline_run=facts["to_reject"])
    assert found.id == facts["rejection"]
    env = {"KEEL_URI": config.uri, "KEEL_OBJECTS": config.objects}
    listed = run_keel(
        "approvals",
        "ls",
        "--status",
        "all",
        "--run",
        facts["waiting"],
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert listed.returncode == 0, listed.stderr
    assert [a["id"] for a in json.loads(listed.stdout)] == [facts["approval"]]
