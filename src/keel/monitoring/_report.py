"""A monitor's report: reference and current distributions per input, drift scores and
performance over time; as JSON data, or as one self-contained HTML page (plotly's
JavaScript embedded, no CDN, no other URL)."""

from __future__ import annotations

from typing import Any

import numpy as np

from keel.monitoring._results import MonitorResult

__all__ = ["report_data", "report_html"]

BINS = 30


def report_data(monitors: Any, name: str, *, limit: int = 500) -> dict[str, Any]:
    """The report of monitor ``name`` as JSON-ready data: ``results`` (oldest first:
    window, passed, drift per input, performance, estimate), and ``distributions`` of the
    newest window with data against its reference (histogram edges and shares)."""
    results = list(reversed(monitors.results(name, limit=limit)))
    out: dict[str, Any] = {
        "monitor": name,
        "spec": monitors.get(name).to_dict(),
        "results": [_point(r) for r in results],
        "distributions": {},
    }
    newest = next((r for r in reversed(results) if r.scores.get("reference")), None)
    if newest is not None:
        out["distributions"] = _distributions(monitors, name, newest)
    return out


def _point(result: MonitorResult) -> dict[str, Any]:
    scores = result.to_dict()["scores"]
    return {
        "window_start": result.window_start,
        "window_end": result.window_end,
        "passed": result.passed,
        "rows": scores.get("rows", 0),
        "drift": {k: v for k, v in (scores.get("drift") or {}).items() if "[" not in k},
        "performance": (scores.get("performance") or {}).get("all"),
        "estimated": (scores.get("estimated") or {}).get("all"),
        "p99_ms": scores.get("p99_ms"),
        "breaches": [f.message for f in result.breaches][:20],
    }


def _distributions(monitors: Any, name: str, result: MonitorResult) -> dict[str, Any]:
    from keel.monitoring._baseline import Baseline
    from keel.monitoring._sides import CategoricalSide
    from keel.monitoring._window import read_window

    stored = result.scores["reference"]
    services = monitors._services
    try:
        baseline = Baseline.from_bytes(services.objects.read_bytes(stored["object"]))
    except Exception:  # collected: the report shows what it still can
        return {}
    spec = monitors.get(name)
    frame = read_window(services.predictions, spec, result.window_start, result.window_end).frame
    out: dict[str, Any] = {}
    for column, ref in baseline.whole.columns.items():
        if column.startswith("__") or ref.side is None or column not in frame.columns:
            continue
        current = frame[column]
        if isinstance(ref.side, CategoricalSide):
            keys = [str(k) for k in ref.side.keys[:BINS]]
            counts = current.astype(str).value_counts()
            out[column] = {
                "kind": "categorical",
                "keys": keys,
                "reference": (ref.side.counts[: len(keys)] / max(ref.side.n, 1)).tolist(),
                "current": [float(counts.get(k, 0)) / max(len(current), 1) for k in keys],
            }
            continue
        values = current.to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]
        low = min(ref.side.minimum, values.min()) if len(values) else ref.side.minimum
        high = max(ref.side.maximum, values.max()) if len(values) else ref.side.maximum
        edges = np.linspace(low, high if high > low else low + 1, BINS + 1)
        ref_hist, _ = np.histogram(ref.side.values, edges, weights=ref.side.weights)
        cur_hist, _ = np.histogram(values, edges)
        out[column] = {
            "kind": "numeric",
            "edges": edges.tolist(),
            "reference": (ref_hist / max(ref_hist.sum(), 1)).tolist(),
            "current": (cur_hist / max(cur_hist.sum(), 1)).tolist(),
        }
    return out


def report_html(data: dict[str, Any]) -> str:
    """The report page of :func:`report_data`'s ``data``: one HTML file, plotly inline."""
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    from keel._html_page import render_page

    figures = []
    for column, dist in data["distributions"].items():
        fig = go.Figure()
        if dist["kind"] == "numeric":
            edges = np.asarray(dist["edges"])
            mids = ((edges[:-1] + edges[1:]) / 2).tolist()
        else:
            mids = dist["keys"]
        fig.add_bar(x=mids, y=dist["reference"], name="reference", opacity=0.6)
        fig.add_bar(x=mids, y=dist["current"], name="current window", opacity=0.6)
        fig.update_layout(title=f"{column}: reference vs current", barmode="overlay")
        figures.append(fig)
    times = [r["window_end"] for r in data["results"]]
    from datetime import UTC, datetime

    stamps = [datetime.fromtimestamp(t / 1000, UTC).isoformat() for t in times]
    drift = go.Figure()
    inputs = sorted({k for r in data["results"] for k in r["drift"]})
    for column in inputs:
        drift.add_scatter(
            x=stamps, y=[r["drift"].get(column) for r in data["results"]], name=column
        )
    drift.update_layout(title="drift score per input over time")
    figures.append(drift)
    perf = go.Figure()
    perf.add_scatter(x=stamps, y=[r["performance"] for r in data["results"]], name="realised")
    perf.add_scatter(x=stamps, y=[r["estimated"] for r in data["results"]], name="estimated (CBPE)")
    perf.update_layout(title="performance over time")
    figures.append(perf)
    divs = [
        fig.to_html(full_html=False, include_plotlyjs=False, default_height="360px")
        for fig in figures
    ]
    from markupsafe import Markup

    return render_page(
        _PAGE,
        name=data["monitor"],
        spec=data["spec"],
        results=data["results"][-50:],
        plotly=Markup(get_plotlyjs()),  # plotly's own bundled script, inline
        charts=[Markup(d) for d in divs],  # plotly's markup around our JSON data
    )


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>monitor {{ name }}</title>
<style>{{ base_css }} .bad{color:#cf222e} .ok{color:#1a7f37}</style>
<script>{{ plotly }}</script></head><body>
<h1>Monitor {{ name }}</h1>
<p>deployment <code>{{ spec.deployment }}</code>, reference <code>{{ spec.reference }}</code></p>
{% for chart in charts %}{{ chart }}{% endfor %}
<h2>Latest results</h2><table><tr><th>window end (ms)</th><th>rows</th><th>verdict</th>
<th>breaches</th></tr>
{% for r in results|reverse %}<tr><td>{{ r.window_end }}</td><td>{{ r.rows }}</td>
<td class="{{ 'ok' if r.passed else 'bad' }}">{{ 'passed' if r.passed else 'FAILED' }}</td>
<td>{{ r.breaches|join('; ') }}</td></tr>{% endfor %}</table>
</body></html>"""
