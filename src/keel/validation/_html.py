"""A validation report as one self-contained HTML page: inline CSS and SVG, no scripts.

The page shows the verdict, the counts, a bar chart of the failing share per failed check,
every check, the (masked) failing examples, and per checked column a small chart of its
values: a histogram for numbers, with the schema's ``in_range`` bounds drawn as lines, or
the most frequent values for text. It is rendered by Jinja2 with autoescaping, so column
names, values and messages cannot inject markup.

Personal data stays hidden. The engine masks the example rows it keeps; this module also
hides the values of every column that may be personal (found in the data by
:func:`~keel.validation._pii.scan_pii`, named by the policy, or masked by the engine): such
columns get no chart, and their observed values and examples are masked.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from ._report import CheckResult, ValidationReport
    from ._schema import Schema

__all__ = ["personal_columns", "render_html", "shown_example", "shown_observed"]

GENERIC = "name_suggests_personal"
"""The mask kind for a column known to be personal without knowing its kind."""

TOP_VALUES = 10
EXAMPLE_COLUMNS = 12
_MASKED_KEYS = ("min", "max", "latest", "unexpected", "quantile")
"""Observed values that are values of the column, masked for personal columns."""


def render_html(
    report: ValidationReport, table: pa.Table | None = None, schema: Schema | None = None
) -> str:
    """The report as a self-contained HTML page.

    Args:
        report: what :func:`~keel.validation.validate` returned.
        table: the validated table, for the per-column charts (none without it).
        schema: the schema checked against, for the ``in_range`` bounds on the histograms.

    Returns:
        The page: inline CSS and SVG, no scripts, no external URL.
    """
    from keel._html_page import render_page

    personal = personal_columns(report, table, schema)
    summary = report.summary()
    return render_page(
        _PAGE,
        title=f"Validation of {report.subject}",
        report=report,
        summary=summary,
        passed_checks=summary["checks"] - summary["failed"],
        chart=_failure_chart(report),
        rows=[_row(r, personal) for r in _failures_first(report.results)],
        examples=_examples(report, personal),
        columns=_column_charts(report, table, schema, personal),
    )


# -- personal data -------------------------------------------------------------------------


def personal_columns(
    report: ValidationReport, table: pa.Table | None = None, schema: Schema | None = None
) -> dict[str, str]:
    """The columns whose values must not be shown, with the kind to mask them as.

    From the data when given (any value shaped like personal data, or a personal name),
    the schema's ``require_hashed`` policy, the report's ``pii`` and ``hashed`` checks,
    the example values the engine masked, and names that suggest personal data.
    """
    from ._pii import KINDS, _name_suggests_personal, scan_pii

    kinds: dict[str, str] = {}
    if table is not None:
        for finding in scan_pii(table, min_share=0.0):
            kinds.setdefault(finding.column, finding.kind)
    if schema is not None:
        for name in schema.policy.require_hashed:
            kinds.setdefault(name, GENERIC)
    names: set[str] = set()
    for r in report.results:
        if r.column:
            names.add(r.column)
        if r.kind == "hashed" and r.column:
            kinds.setdefault(r.column, GENERIC)
        if r.kind == "pii":
            for text in r.observed.get("found") or []:
                column, _, rest = str(text).rpartition(": ")
                kind = rest.split(" ")[0]
                if column:
                    kinds.setdefault(column, kind if kind in KINDS else GENERIC)
        for row in r.examples:
            for column, value in row.items():
                names.add(column)
                if isinstance(value, str) and _looks_masked(value):
                    kinds.setdefault(column, GENERIC)
    for name in sorted(names):
        if name not in kinds and _name_suggests_personal(name):
            kinds[name] = GENERIC
    return kinds


def shown_example(row: dict[str, Any], personal: dict[str, str]) -> dict[str, Any]:
    """An example row as it may be shown: values of personal columns masked."""
    return {k: _masked(v, personal[k]) if k in personal else v for k, v in row.items()}


def shown_observed(result: CheckResult, personal: dict[str, str], limit: int = 80) -> str:
    """What the check measured, in one short line (``min=3, max=140``)."""
    parts = []
    for key, value in result.observed.items():
        if result.column in personal and key in _MASKED_KEYS:
            value = _masked(value, personal[result.column])
        if isinstance(value, list):
            shown = ", ".join(_short(v) for v in value[:5])
            more = f", +{len(value) - 5}" if len(value) > 5 else ""
            parts.append(f"{key}=[{shown}{more}]")
        else:
            parts.append(f"{key}={_short(value)}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _looks_masked(text: str) -> bool:
    return "***" in text or text.endswith(".*.*.*") or ":*:*" in text


def _masked(value: Any, kind: str) -> Any:
    from ._pii import mask

    if isinstance(value, list):
        return [_masked(v, kind) for v in value]
    if value is None or isinstance(value, bool):
        return value
    text = str(value)
    return text if _looks_masked(text) else mask(text, kind)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = "null" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


# -- content -------------------------------------------------------------------------------


def _status(result: CheckResult) -> tuple[str, str]:
    if result.passed:
        return "✓", "ok"
    return ("✗", "error") if result.severity == "error" else ("!", "warn")


def _row(result: CheckResult, personal: dict[str, str]) -> dict[str, Any]:
    symbol, css = _status(result)
    return {
        "symbol": symbol,
        "css": css,
        "name": result.name,
        "severity": result.severity,
        "failing": "" if result.failing_rows is None else f"{result.failing_rows:,}",
        "share": "" if result.failing_share is None else f"{result.failing_share:.2%}",
        "observed": shown_observed(result, personal, limit=160),
        "message": result.message,
        "description": result.description,
    }


def _examples(report: ValidationReport, personal: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for r in report.errors + report.warnings:
        if not r.examples:
            continue
        rows = [shown_example(row, personal) for row in r.examples]
        names = list(rows[0])
        if r.column in names:
            names.remove(r.column)
            names.insert(0, r.column)
        out.append(
            {
                "name": r.name,
                "css": _status(r)[1],
                "columns": names[:EXAMPLE_COLUMNS],
                "hidden": max(0, len(names) - EXAMPLE_COLUMNS),
                "rows": [[_short(row.get(n)) for n in names[:EXAMPLE_COLUMNS]] for row in rows],
            }
        )
    return out


# -- charts (geometry for inline SVG) ----------------------------------------------------------


def _failures_first(results: list[Any]) -> list[Any]:
    """Failed checks first (errors, then warnings), then the rest, each in schema order."""
    return sorted(results, key=lambda r: (r.passed, r.severity != "error"))


def _failure_chart(report: ValidationReport) -> dict[str, Any] | None:
    """One horizontal bar per failed row check, its length the failing share relative to
    the largest one (a share of 0.04 % next to 0.06 % must still be seen), labelled with
    the rows and the share."""
    failed = [r for r in report.results if not r.passed and r.failing_share is not None]
    if not failed:
        return None
    label, width, bar, gap = 230, 320, 18, 6
    largest = max(min(max(float(r.failing_share or 0.0), 0.0), 1.0) for r in failed)
    bars = []
    for i, r in enumerate(failed):
        share = min(max(float(r.failing_share or 0.0), 0.0), 1.0)
        scaled = share / largest if largest > 0 else 0.0
        bars.append(
            {
                "y": 10 + i * (bar + gap),
                "w": round(max(width * scaled, 1.0 if share > 0 else 0.0), 1),
                "h": bar,
                "css": _status(r)[1],
                "label": r.name if len(r.name) <= 34 else r.name[:33] + "…",
                "value": f"{r.failing_rows:,} ({share:.2%})",
                "title": f"{r.name}: {r.failing_rows:,} rows ({share:.2%})",
            }
        )
    return {
        "label": label,
        "width": width,
        "total_width": label + width + 130,
        "height": 20 + len(failed) * (bar + gap),
        "bars": bars,
    }


def _column_charts(
    report: ValidationReport,
    table: pa.Table | None,
    schema: Schema | None,
    personal: dict[str, str],
) -> list[dict[str, Any]]:
    """Per checked column: a histogram (numbers), top values (text, flags) or a note.

    Only the numeric columns are profiled (for their histograms); top values come from
    one ``value_counts`` each, so a column of ids costs no distinct-count sketch.
    """
    if table is None:
        return []
    names = [
        c
        for c in dict.fromkeys(r.column for r in report.results if r.column)
        if c in table.column_names
    ]
    if not names:
        return []
    from keel.data._profile import _kind, profile_table

    kinds = {name: _kind(table.schema.field(name).type) for name in names}
    numeric = [n for n in names if kinds[n] == "numeric" and n not in personal]
    histograms = profile_table(table.select(numeric)).columns if numeric else {}
    bounds, allowed = _schema_bounds(schema)
    out = []
    for name in names:
        column = table.column(name)
        entry: dict[str, Any] = {
            "name": name,
            "type": str(column.type),
            "failed": any(not r.passed for r in report.results if r.column == name),
            "histogram": None,
            "top": None,
            "note": "",
        }
        present = len(column) - column.null_count
        if name in personal:
            kind = personal[name].replace("_", " ")
            entry["note"] = f"Values not charted: the column may hold personal data ({kind})."
        elif kinds[name] == "numeric" and histograms[name].histogram and histograms[name].count:
            entry["histogram"] = _histogram(
                histograms[name].histogram, bounds.get(name, (None, None))
            )
        elif present == 0:
            entry["note"] = "No values."
        elif kinds[name] in ("categorical", "boolean"):
            top = _most_frequent(column)
            distinct = _distinct(column)
            if len(top) > 1 and top[0][1] == 1:
                entry["note"] = f"Every value is distinct ({present:,} values)."
            elif present > 2 * TOP_VALUES and distinct >= 0.95 * present:
                entry["note"] = (
                    f"Nearly every value is distinct ({distinct:,} of {present:,}): an "
                    "identifier, not charted."
                )
            else:
                entry["top"] = _top_values(top, present, allowed.get(name))
        else:
            what = "time" if kinds[name] == "temporal" else str(column.type)
            entry["note"] = f"No chart for {what} columns."
        out.append(entry)
    return out


def _distinct(column: pa.ChunkedArray) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return int(pc.count_distinct(column, mode="only_valid").as_py())


def _most_frequent(column: pa.ChunkedArray) -> list[tuple[Any, int]]:
    """The ``TOP_VALUES`` most frequent values with their counts, ties in value order;
    two values with a count of 1 when every value is distinct (nothing to chart)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    counted = pc.value_counts(column)
    valid = counted.field("values").is_valid()
    values = counted.field("values").filter(valid)
    counts = counted.field("counts").filter(valid).to_numpy()
    if len(counts) > TOP_VALUES:
        if counts.max() == 1:
            return [(values[0].as_py(), 1), (values[1].as_py(), 1)]
        # Sort only the values that can make the top: a column of ids has millions.
        kth = np.partition(counts, len(counts) - TOP_VALUES)[len(counts) - TOP_VALUES]
        keep = pa.array(counts >= kth)
        values, counts = values.filter(keep), counts[counts >= kth]
    ranked = pa.table({"value": values, "count": pa.array(counts)})
    ranked = ranked.sort_by([("count", "descending"), ("value", "ascending")])
    return [(r["value"], r["count"]) for r in ranked.slice(0, TOP_VALUES).to_pylist()]


def _schema_bounds(
    schema: Schema | None,
) -> tuple[dict[str, tuple[float | None, float | None]], dict[str, list[Any]]]:
    """Numeric ``in_range`` bounds and ``in_set`` values per column, from the schema."""
    bounds: dict[str, tuple[float | None, float | None]] = {}
    allowed: dict[str, list[Any]] = {}
    if schema is None:
        return bounds, allowed
    for check in schema.checks:
        if check.kind == "in_range" and check.column:
            low, high = (_number(getattr(check, k)) for k in ("min", "max"))
            if low is not None or high is not None:
                bounds[check.column] = (low, high)
        elif check.kind == "in_set" and check.column:
            allowed[check.column] = list(check.values)  # type: ignore[attr-defined]
    return bounds, allowed


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


_PLOT_W, _PLOT_H, _PAD = 300, 90, 8


def _histogram(hist: dict[str, Any], bounds: tuple[float | None, float | None]) -> dict[str, Any]:
    """Bars on the column's bins, the x axis widened to show nearby bounds as lines."""
    edges = [float(e) for e in hist["edges"]]
    counts = [int(c) for c in hist["counts"]]
    low, high = edges[0], edges[-1]
    span = (high - low) or 1.0
    off_chart = []
    for side, bound in zip(("min", "max"), bounds, strict=True):
        if bound is None:
            continue
        if low - span <= bound < low:
            low = bound
        elif high < bound <= high + span:
            high = bound
        elif not edges[0] - span <= bound <= edges[-1] + span:
            off_chart.append(f"{side} {_short(bound)}")

    def x(value: float) -> float:
        return round(_PAD + (value - low) / ((high - low) or 1.0) * _PLOT_W, 1)

    top = max(counts) or 1
    lo_bound, hi_bound = bounds
    bars = [
        {
            "css": "error"
            if (lo_bound is not None and edges[i + 1] < lo_bound)
            or (hi_bound is not None and edges[i] > hi_bound)
            else "ok",
            "x": x(edges[i]),
            "w": max(round(x(edges[i + 1]) - x(edges[i]) - 1, 1), 1.0),
            "h": round(_PLOT_H * c / top, 1),
            "y": round(_PAD + _PLOT_H * (1 - c / top), 1),
            "title": f"{_short(edges[i])} to {_short(edges[i + 1])}: {c:,}",
        }
        for i, c in enumerate(counts)
    ]
    lines = [
        {"x": x(b), "label": f"{side} {_short(b)}"}
        for side, b in zip(("min", "max"), bounds, strict=True)
        if b is not None and low <= b <= high
    ]
    return {
        "width": _PLOT_W + 2 * _PAD,
        "height": _PLOT_H + 2 * _PAD + 16,
        "base": _PAD + _PLOT_H,
        "bars": bars,
        "lines": lines,
        "low": _short(low),
        "high": _short(high),
        "off_chart": off_chart,
        "outside": int(hist.get("underflow", 0)) + int(hist.get("overflow", 0)),
    }


def _top_values(top: list[tuple[Any, int]], count: int, allowed: list[Any] | None) -> dict:
    """The most frequent values as horizontal bars; values outside ``in_set`` in red."""
    shown = top[:TOP_VALUES]
    most = max((c for _, c in shown), default=1) or 1
    label, width, bar, gap = 150, 200, 14, 4
    bars = []
    for i, (value, n) in enumerate(shown):
        text = _short(value)
        bars.append(
            {
                "y": 4 + i * (bar + gap),
                "w": round(max(width * n / most, 1.0), 1),
                "h": bar,
                "label": text if len(text) <= 20 else text[:19] + "…",
                "value": f"{n:,} ({n / count:.0%})" if count else f"{n:,}",
                "css": "error" if allowed is not None and value not in allowed else "ok",
                "title": f"{text}: {n:,}",
            }
        )
    rest = count - sum(n for _, n in shown)
    return {
        "label": label,
        "total_width": label + width + 90,
        "height": 8 + len(shown) * (bar + gap),
        "bars": bars,
        "rest": rest if rest > 0 else 0,
    }


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
{{ base_css }}
td.num{text-align:right}
.banner{padding:.8rem 1rem;border-radius:6px;font-size:1.2rem;font-weight:600}
.banner.passed{background:#dafbe1;color:#116329}.banner.failed{background:#ffebe9;color:#a40e26}
.counts span{display:inline-block;margin-right:1.5rem}.counts b{font-size:1.3rem}
td.ok,span.ok{color:#1a7f37}td.error,span.error{color:#cf222e;font-weight:600}
td.warn,span.warn{color:#9a6700;font-weight:600}
rect.ok{fill:#2f6fde}rect.error{fill:#cf222e}rect.warn{fill:#d4a72c}
.column{display:inline-block;vertical-align:top;margin:0 1.5rem 1.5rem 0}
.column h3{margin:.2rem 0;font-size:1rem}.muted{color:#656d76;font-size:.85rem}
svg text{font-size:11px;fill:#1f2328}
</style></head><body>
<h1>{{ title }}</h1>
<div class="banner {{ 'passed' if report.passed else 'failed' }}">
{% if report.passed %}✓ Passed{% else %}✗ Failed{% endif %}:
{{ summary.errors }} error{{ '' if summary.errors == 1 else 's' }},
{{ summary.warnings }} warning{{ '' if summary.warnings == 1 else 's' }}
</div>
<p>{{ report.subject }} against schema <b>{{ report.schema or "unnamed" }}</b>:
{{ "{:,}".format(report.rows) }} rows, {{ report.columns }} columns.
{% if report.created_at %}Checked {{ report.created_at }}{% endif %}
{% if report.duration_ms %} in {{ "%.0f" | format(report.duration_ms) }} ms{% endif %}.
{% if report.id %}Recorded as report <code>{{ report.id }}</code>.{% endif %}</p>
<p class="counts"><span><b>{{ summary.checks }}</b> checks</span>
<span class="ok"><b>{{ passed_checks }}</b> passed</span>
<span class="error"><b>{{ summary.errors }}</b> errors</span>
<span class="warn"><b>{{ summary.warnings }}</b> warnings</span></p>

{% if chart %}<h2>Failing rows per check</h2>
<svg width="{{ chart.total_width }}" height="{{ chart.height }}" role="img"
aria-label="share of failing rows per failed check">
<line x1="{{ chart.label }}" y1="4" x2="{{ chart.label }}" y2="{{ chart.height - 6 }}"
stroke="#888"/>
{% for b in chart.bars %}<text x="{{ chart.label - 6 }}" y="{{ b.y + 13 }}"
text-anchor="end">{{ b.label }}</text>
<rect class="{{ b.css }}" x="{{ chart.label }}" y="{{ b.y }}" width="{{ b.w }}"
height="{{ b.h }}"><title>{{ b.title }}</title></rect>
<text x="{{ chart.label + b.w + 4 }}" y="{{ b.y + 13 }}">{{ b.value }}</text>
{% endfor %}</svg>{% endif %}

<h2>Checks</h2>
<table><tr><th></th><th>check</th><th>severity</th><th>failing rows</th><th>share</th>
<th>observed</th><th>message</th><th>rule</th></tr>
{% for r in rows %}<tr><td class="{{ r.css }}">{{ r.symbol }}</td><td>{{ r.name }}</td>
<td>{{ r.severity }}</td><td class="num">{{ r.failing }}</td><td class="num">{{ r.share }}</td>
<td>{{ r.observed }}</td><td>{{ r.message }}</td><td class="muted">{{ r.description }}</td></tr>
{% endfor %}</table>

{% if examples %}<h2>Failing examples</h2>
<p class="muted">A few failing rows per check; personal data is masked.</p>
{% for e in examples %}<h3><span class="{{ e.css }}">{{ e.name }}</span></h3>
<table><tr>{% for c in e.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in e.rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table>{% if e.hidden %}<p class="muted">{{ e.hidden }} more columns not shown.</p>{% endif %}
{% endfor %}{% endif %}

{% if columns %}<h2>Checked columns</h2>
{% for c in columns %}<div class="column"><h3>{% if c.failed %}<span class="error">✗</span>
{% endif %}{{ c.name }} <span class="muted">{{ c.type }}</span></h3>
{% if c.histogram %}{% set h = c.histogram %}
<svg width="{{ h.width }}" height="{{ h.height }}" role="img"
aria-label="histogram of {{ c.name }}">
{% for b in h.bars %}<rect class="{{ b.css }}" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}"
height="{{ b.h }}"><title>{{ b.title }}</title></rect>{% endfor %}
<line x1="0" y1="{{ h.base }}" x2="{{ h.width }}" y2="{{ h.base }}" stroke="#888"/>
{% for l in h.lines %}<line x1="{{ l.x }}" y1="2" x2="{{ l.x }}" y2="{{ h.base }}"
stroke="#cf222e" stroke-dasharray="4 2" stroke-width="1.5"><title>{{ l.label }}</title></line>
{% endfor %}
<text x="2" y="{{ h.height - 2 }}">{{ h.low }}</text>
<text x="{{ h.width - 2 }}" y="{{ h.height - 2 }}" text-anchor="end">{{ h.high }}</text>
</svg>
{% if h.lines %}<div class="muted">dashed: in_range {% for l in h.lines %}{{ l.label }}{{
", " if not loop.last }}{% endfor %}</div>{% endif %}
{% if h.off_chart %}<div class="muted">bounds off the chart: {{ h.off_chart | join(", ")
}}</div>{% endif %}
{% elif c.top %}{% set t = c.top %}
<svg width="{{ t.total_width }}" height="{{ t.height }}" role="img"
aria-label="most frequent values of {{ c.name }}">
{% for b in t.bars %}<text x="{{ t.label - 6 }}" y="{{ b.y + 11 }}"
text-anchor="end">{{ b.label }}</text>
<rect class="{{ b.css }}" x="{{ t.label }}" y="{{ b.y }}" width="{{ b.w }}"
height="{{ b.h }}"><title>{{ b.title }}</title></rect>
<text x="{{ t.label + b.w + 4 }}" y="{{ b.y + 11 }}">{{ b.value }}</text>{% endfor %}
</svg>
{% if t.rest %}<div class="muted">{{ "{:,}".format(t.rest) }} other values</div>{% endif %}
{% else %}<p class="muted">{{ c.note }}</p>{% endif %}
</div>
{% endfor %}{% endif %}
</body></html>
"""
