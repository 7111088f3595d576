"""A Grafana dashboard and Prometheus alerting rules for one monitor.

The dashboard shows the deployment's model server (``keel_serve_*``: latency, throughput,
errors, queue depth) beside the monitor's gauges on the platform server (``keel_monitor_*``,
``keel_alerts_open``: drift per feature, performance over time, verdict, open alerts). The
rules fire on what the monitor and its spec say: a failing verdict, open critical alerts,
a monitor that stopped reporting, and the spec's service and performance limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keel.errors import InvalidInput

__all__ = ["alert_rules", "grafana_dashboard", "read_spec", "write_grafana"]

_RATE = "5m"
_HIGHER_IS_BETTER = ("roc_auc", "accuracy", "f1", "precision", "recall", "r2")


def _label(value: str) -> str:
    """``value`` as a PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidInput(f"The {what} must be a name of 1 to 200 characters, not {value!r}.")
    return value


def _target(expr: str, legend: str, ref: str = "A") -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
    }


def _panel(
    pid: int,
    title: str,
    targets: list[dict],
    x: int,
    y: int,
    *,
    kind: str = "timeseries",
    unit: str = "short",
) -> dict[str, Any]:
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": targets,
    }


def grafana_dashboard(monitor_name: str, deployment: str) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) for ``monitor_name`` watching ``deployment``."""
    monitor = _label(_name(monitor_name, "monitor's name"))
    dep = _label(_name(deployment, "deployment's name"))
    requests = f"keel_serve_requests_total{{deployment={dep}}}"
    errors = f'keel_serve_requests_total{{deployment={dep},status=~"5.."}}'
    buckets = f"keel_serve_request_seconds_bucket{{deployment={dep}}}"
    latency = [
        _target(
            f"histogram_quantile({q}, sum by (le) (rate({buckets}[{_RATE}])))", f"p{q * 100:g}", r
        )
        for q, r in ((0.5, "A"), (0.99, "B"))
    ]
    panels = [
        _panel(1, "Latency", latency, 0, 0, unit="s"),
        _panel(
            2,
            "Throughput",
            [_target(f"sum by (model_version) (rate({requests}[{_RATE}]))", "{{model_version}}")],
            12,
            0,
            unit="reqps",
        ),
        _panel(
            3,
            "Error rate",
            [
                _target(
                    f"sum(rate({errors}[{_RATE}])) / "
                    f"clamp_min(sum(rate({requests}[{_RATE}])), 1e-9)",
                    "5xx share",
                )
            ],
            0,
            8,
            unit="percentunit",
        ),
        _panel(
            4,
            "Queue depth",
            [_target(f"keel_serve_queue_depth{{deployment={dep}}}", "{{model_version}}")],
            12,
            8,
        ),
        _panel(
            5,
            "Drift score per feature",
            [_target(f"keel_monitor_drift_score{{monitor={monitor}}}", "{{feature}}")],
            0,
            16,
        ),
        _panel(
            6,
            "Performance over time",
            [
                _target(
                    f'keel_monitor_metric{{monitor={monitor},kind=~"performance|estimated_performance"}}',
                    "{{kind}} {{metric}}",
                )
            ],
            12,
            16,
        ),
        _panel(
            7,
            "Monitor verdict (1 = passed)",
            [_target(f"keel_monitor_passed{{monitor={monitor}}}", "passed")],
            0,
            24,
            kind="stat",
        ),
        _panel(
            8,
            "Open alerts",
            [_target(f"sum by (severity) (keel_alerts_open{{monitor={monitor}}})", "{{severity}}")],
            12,
            24,
            kind="stat",
        ),
    ]
    return {
        "title": f"keel: {monitor_name} ({deployment})",
        "uid": f"keel-{monitor_name}"[:40],
        "tags": ["keel", "monitoring"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "panels": panels,
    }


def _field(spec: Any, name: str) -> Any:
    if isinstance(spec, Mapping):
        return spec.get(name)
    value = getattr(spec, name, None)
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def _get(section: Any, name: str) -> Any:
    return section.get(name) if isinstance(section, Mapping) else getattr(section, name, None)


def alert_rules(monitor_name: str, spec: Any) -> dict[str, Any]:
    """Prometheus alerting rules (the YAML's document as a dict) for a monitor ``spec``
    (a mapping or spec object with ``deployment``, ``window``, ``service``, ``performance``)."""
    from keel.deploy import parse_duration

    monitor = _label(_name(monitor_name, "monitor's name"))
    deployment = _field(spec, "deployment")
    labels = {"monitor": monitor_name}
    rules: list[dict[str, Any]] = [
        {
            "alert": "KeelMonitorFailing",
            "expr": f"keel_monitor_passed{{monitor={monitor}}} == 0",
            "labels": {**labels, "severity": "warning"},
            "annotations": {
                "summary": f"Monitor {monitor_name} did not pass its latest evaluation",
                "description": f"See 'keel alerts ls --monitor {monitor_name}'.",
            },
        },
        {
            "alert": "KeelCriticalAlertOpen",
            "expr": f'sum(keel_alerts_open{{monitor={monitor},severity="critical"}}) > 0',
            "labels": {**labels, "severity": "critical"},
            "annotations": {"summary": f"Monitor {monitor_name} has a critical alert open"},
        },
    ]
    window = _field(spec, "window")
    size = _get(window, "size") if window is not None else None
    seconds = parse_duration(size, what="window.size") if size is not None else 3600.0
    rules.append(
        {
            "alert": "KeelMonitorStale",
            "expr": f"time() - keel_monitor_result_timestamp_seconds{{monitor={monitor}}} "
            f"> {int(3 * seconds)}",
            "labels": {**labels, "severity": "warning"},
            "annotations": {
                "summary": f"Monitor {monitor_name} has not reported for three windows"
            },
        }
    )
    service = _field(spec, "service")
    if deployment and service is not None:
        dep = _label(_name(deployment, "deployment's name"))
        requests = f"keel_serve_requests_total{{deployment={dep}}}"
        max_p99 = _get(service, "max_p99_ms")
        if max_p99 is not None:
            buckets = f"keel_serve_request_seconds_bucket{{deployment={dep}}}"
            rules.append(
                {
                    "alert": "KeelLatencyHigh",
                    "expr": f"histogram_quantile(0.99, sum by (le) (rate({buckets}[{_RATE}]))) "
                    f"* 1000 > {float(max_p99):g}",
                    "for": "5m",
                    "labels": {**labels, "severity": "critical"},
                    "annotations": {"summary": f"{deployment}: p99 latency above {max_p99} ms"},
                }
            )
        max_errors = _get(service, "max_error_rate")
        if max_errors is not None:
            errors = f'keel_serve_requests_total{{deployment={dep},status=~"5.."}}'
            rules.append(
                {
                    "alert": "KeelErrorRateHigh",
                    "expr": f"sum(rate({errors}[{_RATE}])) / "
                    f"sum(rate({requests}[{_RATE}])) > {float(max_errors):g}",
                    "for": "5m",
                    "labels": {**labels, "severity": "critical"},
                    "annotations": {"summary": f"{deployment}: error rate above {max_errors}"},
                }
            )
    performance = _field(spec, "performance")
    metric = _get(performance, "metric") if performance is not None else None
    if isinstance(metric, str):
        bound = _get(performance, "min")
        op = "<"
        if bound is None:
            bound, op = _get(performance, "max"), ">"
        if bound is not None:
            rules.append(
                {
                    "alert": "KeelPerformanceBreached",
                    "expr": f'keel_monitor_metric{{monitor={monitor},kind="performance",'
                    f"metric={_label(metric)}}} {op} {float(bound):g}",
                    "labels": {**labels, "severity": "critical"},
                    "annotations": {"summary": f"{monitor_name}: {metric} {op} {bound}"},
                }
            )
    return {"groups": [{"name": f"keel-{monitor_name}", "rules": rules}]}


def write_grafana(out: Path, monitor_name: str, spec: Any) -> tuple[Path, Path]:
    """Write ``<name>-dashboard.json`` and ``<name>-rules.yml`` into ``out`` (made if
    missing); returns both paths."""
    import yaml

    deployment = _field(spec, "deployment")
    if not isinstance(deployment, str) or not deployment:
        raise InvalidInput(
            f"Monitor {monitor_name!r} names no deployment: the dashboard shows a "
            "deployment's model server. Give one with --deployment."
        )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out} is a file: --out takes a folder to write two files into.")
    out.mkdir(parents=True, exist_ok=True)
    dashboard = out / f"{monitor_name}-dashboard.json"
    rules = out / f"{monitor_name}-rules.yml"
    dashboard.write_text(json.dumps(grafana_dashboard(monitor_name, deployment), indent=2))
    rules.write_text(yaml.safe_dump(alert_rules(monitor_name, spec), sort_keys=False))
    return dashboard, rules


def read_spec(path: Path, name: str) -> dict[str, Any]:
    """A monitor's YAML file as a mapping (what the rules read of it)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"Cannot read the monitor file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"The monitor file {path} must hold a mapping (name, deployment, ...).")
    if data.get("name", name) != name:
        raise InvalidInput(
            f"The monitor file {path} is monitor {data.get('name')!r}, not {name!r}."
        )
    return data
