"""A :class:`~keel.registry._ci_report.CiReport` as GitHub-flavoured Markdown.

The first line is an HTML comment (:data:`MARKER`) that a workflow can search for to edit
its earlier comment on the pull request instead of adding one per push.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._evaluate import SUMMARY

if TYPE_CHECKING:
    from ._ci_report import CiReport

__all__ = ["MARKER", "render"]

MARKER = "<!-- keel-ci-report -->"


def render(report: CiReport) -> str:
    """The report as Markdown: verdict, metrics side by side, segments, back-test, training
    data validation, recorded evaluations, notes and warnings."""
    against = report.against or f"{report.asked_against} (none yet)"
    verdict = "✅ passed" if report.passed else "❌ failed"
    lines = [
        MARKER,
        f"## keel CI report: `{report.candidate}` vs `{against}`",
        "",
        f"**Gate {verdict}**: `{_code(report.gate)}`",
        "",
        *[f"- {_cell(d)}" for d in report.gate_detail],
    ]
    if report.gate_detail:
        lines.append("")
    lines += [
        f"Evaluated on `{report.data}`, label `{report.label}` ({report.task}).",
        "",
        "### Metrics",
        "",
        *_metrics_table(report.comparison, report.against is not None),
    ]
    if not report.beats_baseline:
        lines += ["", "**The candidate does not beat the trivial baseline.**"]
    if report.registered:
        lines += [
            "",
            "<details><summary>Registered metrics (from training)</summary>",
            "",
            *_metrics_table(report.registered, report.against is not None, baseline=False),
            "",
            "</details>",
        ]
    lines += _groups("Segments", report.segments, report.segments_source, report.task)
    lines += _groups("Back-test", report.backtest, report.backtest_source, report.task)
    lines += ["", "### Training data validation", ""]
    if report.training_data:
        lines += ["| dataset | verdict | summary | reports |", "|---|---|---|---|"]
        for d in report.training_data:
            lines.append(
                f"| `{d['dataset']}` | {_verdict(d['passed'])} | {_cell(d['summary'] or '')} "
                f"| {d['reports']} |"
            )
    else:
        lines.append("No training data on record.")
    if report.recorded:
        lines += [
            "",
            "<details><summary>Recorded evaluations of the candidate</summary>",
            "",
            "| when | data | against | gate | verdict |",
            "|---|---|---|---|---|",
        ]
        for r in report.recorded:
            lines.append(
                f"| {_when(r['created_at'])} | `{r['data']}` | {r['against'] or ''} "
                f"| {_cell(r['gate'] or '')} | {_verdict(r['passed'])} |"
            )
        lines += ["", "</details>"]
    if report.notes:
        lines += ["", "### Notes", "", *[f"- {_cell(n)}" for n in report.notes]]
    if report.warnings:
        lines += [
            "",
            "<details><summary>Warnings</summary>",
            "",
            *[f"- {_cell(w)}" for w in report.warnings],
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


def _metrics_table(rows: list[dict[str, Any]], compared: bool, baseline: bool = True) -> list[str]:
    head = ["metric", "candidate"]
    if compared:
        head += ["against", "change"]
    if baseline:
        head.append("baseline")
    out = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for row in rows:
        cells = [row["metric"], _num(row.get("candidate"))]
        if compared:
            cells += [_num(row.get("against")), _change(row.get("delta"), row.get("better"))]
        if baseline:
            cells.append(_num(row.get("baseline")))
        out.append("| " + " | ".join(cells) + " |")
    if compared:
        out += ["", "▲ better, ▼ worse than the version compared with."]
    return out


def _groups(title: str, rows: list[dict[str, Any]], source: str | None, task: str) -> list[str]:
    out = ["", f"### {title}", ""]
    if not rows:
        option = "--by COLUMN" if title == "Segments" else "--backtest DATE_COLUMN"
        return [*out, f"None: give {option} to compare the versions per group."]
    metrics = SUMMARY.get(task, ())
    out += [
        f"From {_cell(source or '')}; each cell is the candidate's value and its change.",
        "",
        "| | rows | " + " | ".join(metrics) + " |",
        "|---|---:" + "|---:" * len(metrics) + "|",
    ]
    for row in rows:
        cells = []
        for metric in metrics:
            view = row.get(metric) or {}
            value, delta = view.get("candidate"), view.get("delta")
            change = "" if delta is None else f" ({delta:+.3g})"
            cells.append(_num(value) + change)
        head = f"| {_cell(row['group'])} | {_num(row.get('rows'))} | "
        out.append(head + " | ".join(cells) + " |")
    return out


def _num(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 10 else f"{value:.4g}"
    return str(value)


def _change(delta: float | None, better: bool | None) -> str:
    if delta is None:
        return ""
    mark = "" if better is None else (" ▲" if better else " ▼")
    return f"{delta:+.4g}{mark}"


def _verdict(passed: bool | None) -> str:
    return "—" if passed is None else ("✅ passed" if passed else "❌ failed")


def _cell(text: Any) -> str:
    """Text safe inside a table cell or list item: no pipes or line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return text.replace("`", "'")


def _when(ms: Any) -> str:
    from datetime import UTC, datetime

    if not isinstance(ms, int | float):
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
