"""Alerts through every face: client.alerts on a store and through ``keel server`` (roles,
statuses), ``keel alerts``, the server's ``/metrics``, and the Grafana files, whose every
metric is checked against what a real model server and platform server export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from keel.client import Client
from keel.config import Config, resolve
from keel.deploy import DeploymentSpec
from keel.errors import InvalidInput, NotFound
from keel.monitoring._grafana import alert_rules, grafana_dashboard
from keel.monitoring._results import Finding, MonitorResult
from keel.monitoring.alerts import handle
from keel.server import TokenService
from keel.store import init_project, new_id
from tests._cli import run_keel
from tests.conftest import live_server

from ..deploy.conftest import register_credit
from .alerting import HOUR, T0, result, spec

PROJECT = "credit"
API = f"/api/v1/projects/{PROJECT}/alerts"


def _scrape(text: str) -> dict[str, list]:
    """Samples by name from a Prometheus text page."""
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def _value(samples: dict[str, list], name: str, **labels: str) -> float:
    [match] = [s.value for s in samples[name] if labels.items() <= s.labels.items()]
    return match


@dataclass
class Served:
    config: Config
    url: str
    tokens: dict[str, str]
    opened: str
    resolved: str

    def headers(self, who: str = "reader") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _fill(client: Client) -> tuple[str, str]:
    """A resolved drift alert and an open one with a performance finding."""
    [old] = handle(client, spec(), result(("data_drift", "income")), wait=True)
    handle(client, spec(), result(at=T0 + HOUR), wait=True)
    findings = (
        Finding("data_drift", "income", 0.3, 0.1, True, "income [drifted]: 0.3 > 0.1"),
        Finding("data_drift", "age", 0.01, 0.1, False, "age: 0.01 <= 0.1"),
        Finding("performance", "roc_auc", 0.71, 0.8, True, "roc_auc 0.71 < 0.8"),
    )
    latest = MonitorResult(
        new_id(), "credit-drift", T0, T0 + 4 * HOUR, False, findings, {}, T0 + 4 * HOUR
    )
    [new] = handle(client, spec(alerting={"cooldown": "1m"}), latest, wait=True)
    return new.id, old.id


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    config = Config(**{**store_config.__dict__, "project": PROJECT})
    init_project(tmp_path, config).close()
    with Client(config=config) as client:
        client.create_project("other")
        opened, resolved = _fill(client)
        service = TokenService(client.store)
        tokens = {
            "reader": service.create("reader-token", "reader")[1],
            "elsewhere": service.create("other-token", "reader", ["other"])[1],
        }
    with live_server(config, auth=True) as url:
        yield Served(config, url, tokens, opened, resolved)


def test_local_and_remote_clients_read_the_same_alerts(served: Served) -> None:
    with (
        Client(config=served.config) as local,
        Client(served.url, project=PROJECT, token=served.tokens["reader"]) as remote,
    ):
        for status in ("open", "resolved", "all"):
            here = [a.to_dict() for a in local.alerts.list(status=status)]
            there = [a.to_dict() for a in remote.alerts.list(status=status)]
            assert here == there
        assert [a.id for a in remote.alerts.list(status="all")] == [served.opened, served.resolved]
        alert = remote.alerts.get(served.opened)
        assert alert.severity == "critical"
        assert alert.keys == ("data_drift/income", "performance/roc_auc")
        assert alert.to_dict() == local.alerts.get(served.opened).to_dict()
        assert remote.alerts.list(monitor="nothing") == []
        with pytest.raises(NotFound, match="No alert 'nope'"):
            remote.alerts.get("nope")
        with pytest.raises(InvalidInput, match="status 'shut' is not one of"):
            remote.alerts.list(status="shut")


def test_rest_answers_client_mistakes_with_4xx(served: Served) -> None:
    with httpx.Client(base_url=served.url) as http:
        assert http.get(API).status_code == 401
        assert http.get(API, headers=served.headers("elsewhere")).status_code == 403
        reader = served.headers()
        assert http.get(API, params={"status": "shut"}, headers=reader).status_code == 422
        assert http.get(API, params={"limit": 0}, headers=reader).status_code == 422
        assert http.get(f"{API}/nope", headers=reader).status_code == 404
        assert http.get(f"{API}/{'x' * 65}", headers=reader).status_code == 422
        listed = http.get(API, params={"status": "all"}, headers=reader)
        assert listed.status_code == 200
        assert [a["id"] for a in listed.json()] == [served.opened, served.resolved]


def test_metrics_export_the_latest_result_and_open_alerts(served: Served) -> None:
    with httpx.Client(base_url=served.url) as http:
        assert http.get("/metrics").status_code == 401
        page = http.get("/metrics", headers=served.headers())
        elsewhere = http.get("/metrics", headers=served.headers("elsewhere"))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    samples = _scrape(page.text)
    who = {"project": PROJECT, "monitor": "credit-drift"}
    assert _value(samples, "keel_monitor_passed", **who) == 0
    assert _value(samples, "keel_monitor_drift_score", **who, feature="income") == 0.3
    assert _value(samples, "keel_monitor_drift_score", **who, feature="age") == 0.01
    assert (
        _value(samples, "keel_monitor_metric", **who, kind="performance", metric="roc_auc") == 0.71
    )
    assert _value(samples, "keel_monitor_result_timestamp_seconds", **who) == (T0 + 4 * HOUR) / 1000
    assert _value(samples, "keel_alerts_open", **who, severity="critical") == 1
    assert len(samples["keel_alerts_open"]) == 1  # the resolved one is not counted
    # a token limited to another project sees none of this project's monitors
    assert elsewhere.status_code == 200
    assert "credit-drift" not in elsewhere.text


def test_keel_alerts_ls_and_show(tmp_path: Path) -> None:
    with init_project(tmp_path) as store, Client(config=store.config) as client:
        opened, resolved = _fill(client)
    listed = run_keel("alerts", "ls", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert opened in listed.stdout
    assert resolved not in listed.stdout
    assert "critical" in listed.stdout
    every = run_keel("alerts", "ls", "--status", "all", "--json", cwd=tmp_path)
    assert [a["id"] for a in json.loads(every.stdout)] == [opened, resolved]
    shown = run_keel("alerts", "show", opened, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "income [drifted]: 0.3 > 0.1" in shown.stdout  # stored text, not markup
    assert "roc_auc" in shown.stdout
    assert "log" in shown.stdout
    as_json = json.loads(run_keel("alerts", "show", opened, "--json", cwd=tmp_path).stdout)
    assert as_json["actions"][0]["status"] == "ok"
    bad = run_keel("alerts", "ls", "--status", "shut", cwd=tmp_path)
    assert bad.returncode == 1
    assert "Alert status 'shut' is not one of open, resolved, all" in bad.stderr
    missing = run_keel("alerts", "show", "nope", cwd=tmp_path)
    assert missing.returncode == 1
    assert "No alert 'nope'" in missing.stderr


def test_keel_alerts_ack_and_resolve(tmp_path: Path) -> None:
    with init_project(tmp_path) as store, Client(config=store.config) as client:
        opened, resolved = _fill(client)
    acked = run_keel("alerts", "ack", opened, "-m", "on it", cwd=tmp_path)
    assert acked.returncode == 0, acked.stderr
    assert f"alert {opened} acknowledged by" in acked.stdout
    shown = run_keel("alerts", "show", opened, cwd=tmp_path)
    assert "acknowledged" in shown.stdout
    assert "on it" in shown.stdout
    done = json.loads(run_keel("alerts", "resolve", opened, "--json", cwd=tmp_path).stdout)
    assert (done["status"], done["comment"]) == ("resolved", "on it")
    assert done["resolved_by"] == done["acknowledged_by"]
    again = run_keel("alerts", "resolve", resolved, cwd=tmp_path)
    assert again.returncode == 1
    assert "resolved already" in again.stderr


# -- Grafana ----------------------------------------------------------------------------

MONITOR = {
    "name": "credit-drift",
    "deployment": "credit",
    "window": {"size": "1h"},
    "service": {"max_p99_ms": 50, "max_error_rate": 0.01},
    "performance": {"metric": "roc_auc", "min": 0.8},
}
_SELECTOR = re.compile(r"\b(keel_[a-z_]+)(?:\{([^}]*)\})?")
_LABEL = re.compile(r"([a-z_]+)\s*(?:=~|!=|!~|=)")


def _references(exprs: list[str]) -> dict[str, set[str]]:
    """Metric names in PromQL expressions, each with the labels its selectors name."""
    found: dict[str, set[str]] = {}
    for expr in exprs:
        for name, selector in _SELECTOR.findall(expr):
            found.setdefault(name, set()).update(_LABEL.findall(selector or ""))
    return found


def test_grafana_files_reference_only_metrics_the_servers_export(tmp_path: Path) -> None:
    from keel.serving import create_app, serve_in_thread

    config = resolve(
        uri=f"sqlite:///{tmp_path / 'keel.db'}", objects=str(tmp_path / "objects"), fsync=False
    )
    init_project(tmp_path, config).close()
    with Client(config=config) as client:
        register_credit(client.store)
        client.deployments.apply(DeploymentSpec.for_model("credit:1"))
        _fill(client)
        with serve_in_thread(create_app("credit:1", client)) as url:
            for _ in range(3):
                assert httpx.post(f"{url}/predict", json=[{"income": 50, "debt": 0.3}]).is_success
            serving = _scrape(httpx.get(f"{url}/metrics").text)
    with live_server(config) as url:
        platform = _scrape(httpx.get(f"{url}/metrics").text)
    exported = {**serving, **platform}

    out = tmp_path / "grafana"
    written = run_keel(
        "monitor",
        "grafana",
        "credit-drift",
        "--out",
        str(out),
        "--spec",
        str(_monitor_file(tmp_path)),
        cwd=tmp_path,
    )
    assert written.returncode == 0, written.stderr
    dashboard = json.loads((out / "credit-drift-dashboard.json").read_text())
    rules = yaml.safe_load((out / "credit-drift-rules.yml").read_text())
    assert dashboard == grafana_dashboard("credit-drift", "credit")
    assert rules == alert_rules("credit-drift", MONITOR)

    panels = {p["title"] for p in dashboard["panels"]}
    assert {"Latency", "Throughput", "Error rate", "Drift score per feature"} <= panels
    assert "Performance over time" in panels
    dashboard_exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    [group] = rules["groups"]
    rule_exprs = [r["expr"] for r in group["rules"]]
    names = {r["alert"] for r in group["rules"]}
    assert {"KeelLatencyHigh", "KeelErrorRateHigh", "KeelPerformanceBreached"} <= names
    assert all(r["labels"]["severity"] in ("warning", "critical") for r in group["rules"])

    references = _references(dashboard_exprs + rule_exprs)
    assert "keel_serve_request_seconds_bucket" in references
    assert "keel_monitor_drift_score" in references
    for name, labels in references.items():
        assert name in exported, f"{name} is not exported by either server"
        have = set().union(*(s.labels for s in exported[name]))
        assert labels <= have, f"{name} has no label(s) {labels - have}"


def _monitor_file(folder: Path) -> Path:
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(MONITOR))
    return path


def test_grafana_refuses_a_monitor_without_a_deployment(tmp_path: Path) -> None:
    bad = run_keel("monitor", "grafana", "lonely", "--out", str(tmp_path / "g"), cwd=tmp_path)
    assert bad.returncode == 1
    assert "names no deployment" in bad.stderr
    (tmp_path / "file").write_text("x")
    other = run_keel(
        "monitor",
        "grafana",
        "m",
        "--deployment",
        "d",
        "--out",
        str(tmp_path / "file"),
        cwd=tmp_path,
    )
    assert other.returncode == 1
    assert "is a file" in other.stderr
    with pytest.raises(InvalidInput, match="monitor's name must be a name"):
        grafana_dashboard("", "credit")
