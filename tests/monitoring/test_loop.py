"""The loop so far, end to end: served predictions drift, a monitor run breaches, an alert
opens once and runs its action, a healthy window resolves it."""

from __future__ import annotations

from pathlib import Path

from keel.monitoring import parse_monitor_text

from .conftest import DEPLOYMENT, HOUR, T0, log_window, make_project


def test_drift_opens_one_alert_that_a_healthy_window_resolves(tmp_path: Path) -> None:
    client = make_project(tmp_path / "loop")
    log_window(client, T0, 2000, 1)
    log_window(client, T0 + HOUR, 2000, 2, shift=0.5)
    log_window(client, T0 + 2 * HOUR, 2000, 3, shift=0.5)
    log_window(client, T0 + 3 * HOUR, 2000, 4)
    marker = tmp_path / "alerted.txt"
    spec = parse_monitor_text(
        f"name: loop\ndeployment: {DEPLOYMENT}\nwindow: {{size: 1h}}\n"
        "drift: {share_of_columns: 0.3}\n"
        f"on_alert: [{{command: [touch, '{marker}']}}]\n"
    )
    client.monitors.apply(spec)
    assert client.monitors.run("loop", now_ms=T0 + HOUR).passed
    assert client.alerts.list(status="all") == []

    drifted = client.monitors.run("loop", now_ms=T0 + 2 * HOUR)
    assert not drifted.passed
    (alert,) = client.alerts.list(status="open")
    assert "data_drift/income" in alert.keys
    from keel.monitoring.alerts import wait_for_actions

    wait_for_actions()
    assert marker.exists()  # the action ran
    marker.unlink()

    again = client.monitors.run("loop", now_ms=T0 + 3 * HOUR)  # the same drift, still open
    assert not again.passed
    (same,) = client.alerts.list(status="open")
    assert same.id == alert.id
    wait_for_actions()
    assert not marker.exists()  # deduplicated: the action did not run twice

    assert client.monitors.run("loop", now_ms=T0 + 4 * HOUR).passed
    assert client.alerts.list(status="open") == []
    (resolved,) = client.alerts.list(status="resolved")
    assert resolved.id == alert.id
    client.close()
