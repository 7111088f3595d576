"""The agent inside keel server: monitors run on their schedules, one agent per store."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from keel.monitoring import parse_monitor_text
from keel.monitoring._due import is_due
from keel.server.agent import Agent
from tests.conftest import live_server

from .conftest import DEPLOYMENT, HOUR, T0, log_window, make_project


def test_schedules_every_and_cron() -> None:
    assert is_due("every 1h", None, T0)
    assert not is_due("every 1h", T0, T0 + HOUR - 1)
    assert is_due("every 1h", T0, T0 + HOUR)
    assert not is_due("0 * * * *", T0, T0 + 1)  # T0 is on the hour: next is an hour on
    assert is_due("0 * * * *", T0, T0 + HOUR)


def test_a_pass_runs_each_due_monitor_once(tmp_path: Path) -> None:
    client = make_project(tmp_path / "agent")
    log_window(client, T0, 500, 1)
    spec = f"name: hourly\ndeployment: {DEPLOYMENT}\nwindow: {{size: 1h}}\nschedule: every 1h\n"
    client.monitors.apply(parse_monitor_text(spec))
    agent = Agent(client)
    ((project, name, result),) = agent.run_once(now=T0 + HOUR).monitors
    assert (project, name, result.passed) == ("default", "hourly", True)
    assert agent.run_once(now=T0 + HOUR + 60_000).monitors == []  # not due again yet
    assert [m for _, m, _ in agent.run_once(now=T0 + 2 * HOUR).monitors] == ["hourly"]
    agent.stop()
    ends = [r.window_end for r in client.monitors.results("hourly")]
    assert ends == [T0 + 2 * HOUR, T0 + HOUR]
    client.close()


def test_one_agent_leads_per_store(tmp_path: Path) -> None:
    client = make_project(tmp_path / "two")
    log_window(client, T0, 100, 1)
    spec = f"name: hourly\ndeployment: {DEPLOYMENT}\nwindow: {{size: 1h}}\nschedule: every 1h\n"
    client.monitors.apply(parse_monitor_text(spec))
    first, second = Agent(client), Agent(client)
    try:
        assert len(first.run_once(now=T0 + HOUR).monitors) == 1
        idle = second.run_once(now=T0 + 2 * HOUR)
        assert (idle.leader, idle.monitors) == (False, [])
        first.stop()
        assert [m for _, m, _ in second.run_once(now=T0 + 2 * HOUR).monitors] == ["hourly"]
    finally:
        first.stop()
        second.stop()
        client.close()


def test_keel_server_runs_monitors_on_their_schedule(tmp_path: Path) -> None:
    client = make_project(tmp_path / "served")
    now = int(time.time() * 1000)
    log_window(client, now - HOUR // 2, 300, 1)
    spec = f"name: often\ndeployment: {DEPLOYMENT}\nwindow: {{size: 1h}}\nschedule: every 1h\n"
    client.monitors.apply(parse_monitor_text(spec))
    config = dataclasses.replace(client.config, agent_tick_seconds=0.2)
    with live_server(config) as _url:
        deadline = time.monotonic() + 30
        while not client.monitors.results("often"):
            assert time.monotonic() < deadline, "the agent never ran the monitor"
            time.sleep(0.1)
    (result,) = client.monitors.results("often")
    assert result.scores["rows"] > 100  # the window's logged predictions, evaluated
    assert not [f for f in result.findings if f.kind == "no_data"]
    client.close()
