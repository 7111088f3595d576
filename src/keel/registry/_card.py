"""Model cards: one version's lineage, metrics, evaluations, gates, approvals and history.

The card is assembled once as a list of sections made of blocks (paragraphs, tables,
lists, a chart), then written out twice: as Markdown, and as a self-contained HTML page
(inline CSS, an inline SVG bar chart, no scripts) rendered by Jinja2 with autoescaping,
so descriptions, parameters and comments cannot inject markup.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from keel._plural import count
from keel.errors import NotFound

from ._records import ModelVersion
from ._service import RegistryService

__all__ = ["model_card"]

CHART_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "calibration_error", "r2")
"""Metrics on a 0-1 scale, which share the chart's axis."""


@dataclass
class _Section:
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def text(self, paragraph: str) -> None:
        self.blocks.append(("text", paragraph))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", (header, [[_cell(c) for c in row] for row in rows])))

    def items(self, items: list[str]) -> None:
        self.blocks.append(("items", items))

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))


def model_card(registry: RegistryService, ref: str) -> tuple[str, str]:
    """The model card of version ``ref`` as (Markdown, HTML).

    Args:
        registry: the registry holding the version.
        ref: the version, e.g. ``credit:4`` or ``credit@champion``.

    Returns:
        The Markdown text and a self-contained HTML page with the same content.
    """
    version = registry.get(ref)
    sections = [
        _overview(registry, version),
        _signature(version),
        *_source(registry, version),
        _evaluations(registry, version),
        _approvals(registry, version),
        _history(registry, version),
    ]
    title = f"Model card: {version.ref}"
    return _markdown(title, version.description, sections), _html(title, version, sections)


# -- sections ------------------------------------------------------------------------------


def _overview(registry: RegistryService, version: ModelVersion) -> _Section:
    section = _Section("Model")
    rows = [
        ["name", version.model],
        ["version", version.version],
        ["flavor", version.flavor],
        ["registered", _when(version.created_at)],
        ["aliases", ", ".join(version.aliases) or "none"],
        ["package", version.package_digest],
    ]
    section.table(["", ""], rows)
    rules = registry.policy(version.model).rules
    if rules:
        section.text(
            "Promotion policy: "
            + "; ".join(
                f"{alias} needs {count(rule.approvals, 'approval')}"
                + (" and a passing gate" if rule.gate else "")
                for alias, rule in rules.items()
            )
            + "."
        )
    if version.metrics:
        section.heading("Registered metrics")
        section.table(["metric", "value"], sorted(version.metrics.items()))
    return section


def _signature(version: ModelVersion) -> _Section:
    section = _Section("Signature")
    signature = version.signature or {}
    inputs = signature.get("inputs") or []
    if not inputs:
        section.text("No signature was recorded (register with an input example).")
        return section
    section.table(["input", "type"], [[c.get("name"), c.get("dtype")] for c in inputs])
    output = signature.get("output") or {}
    if output:
        shape = ", ".join("rows" if d is None else str(d) for d in output.get("shape", []))
        columns = ", ".join(str(c.get("name")) for c in output.get("columns", []))
        section.text(
            f"Output: {output.get('dtype', 'values')} of shape ({shape})"
            + (f", columns {columns}" if columns else "")
            + "."
        )
    return section


def _source(registry: RegistryService, version: ModelVersion) -> list[_Section]:
    from keel.store.lineage import lineage_graph

    run_section = _Section("Source run")
    data_section = _Section("Training data")
    if version.run_id is None:
        run_section.text("No run is recorded as this version's source.")
    else:
        from keel.tracking import SqlTracking

        try:
            run = SqlTracking(registry.store).get_run(version.run_id)
        except NotFound:
            run_section.text(f"Run {version.run_id} is recorded but no longer exists.")
        else:
            git = (run.code or {}).get("git") or {}
            rows = [
                ["run", f"{run.name} ({run.id})"],
                ["experiment", run.experiment],
                ["status", run.status],
                ["started", _when(run.started_at)],
                ["code commit", git.get("commit") or "not recorded"],
            ]
            if git.get("branch"):
                rows.append(["branch", git["branch"]])
            if git.get("dirty"):
                rows.append(["uncommitted changes", "yes (the diff is stored with the run)"])
            if (run.code or {}).get("entry_point"):
                rows.append(["entry point", run.code["entry_point"]])
            run_section.table(["", ""], rows)
            if run.params:
                run_section.heading("Parameters")
                run_section.table(["param", "value"], sorted(run.params.items()))
            if run.metrics:
                run_section.heading("Run metrics")
                run_section.table(["metric", "value"], sorted(run.metrics.items()))
            inputs = {
                k.removeprefix("keel.input."): v
                for k, v in run.tags.items()
                if k.startswith("keel.input.")
            }
            if inputs:
                data_section.table(["role", "dataset"], sorted(inputs.items()))
    graph = lineage_graph(registry.store, "model_version", version.id, direction="up")
    if graph.edges:
        label = {key: node.label for key, node in graph.nodes.items()}
        data_section.heading("Lineage (upstream)")
        # Edges were found walking up from the version; reversed, they read as data flows.
        data_section.items(
            [
                f"{_node(e.src, label)} --{e.relation}--> {_node(e.dst, label)}"
                for e in reversed(graph.edges)
            ]
        )
    if not data_section.blocks:
        data_section.text("No training data is recorded for this version.")
    return [run_section, data_section]


def _evaluations(registry: RegistryService, version: ModelVersion) -> _Section:
    section = _Section("Evaluations")
    stored = registry.evaluations(version)
    if not stored:
        section.text(f"None yet: 'keel models evaluate {version.ref} --data ... --label ...'.")
        return section
    for row in reversed(stored):  # newest first
        result = row["metrics"] or {}
        against = result.get("against")
        section.heading(
            f"{_when(row['created_at'])} on {row['data_ref']}"
            + (f" against {against}" if against else "")
        )
        metrics = result.get("metrics") or {}
        if row is stored[-1] and metrics:
            section.blocks.append(("chart", _chart(metrics)))
        sides = list(metrics)
        names = list(dict.fromkeys(k for side in sides for k in metrics[side]))
        if names:
            section.table(
                ["metric", *sides], [[n, *(metrics[s].get(n) for s in sides)] for n in names]
            )
        notes = []
        if result.get("beats_baseline") is False:
            notes.append("does not beat the trivial baseline")
        if row["gate"]:
            verdict = "passed" if row["passed"] else "failed"
            notes.append(f"gate {row['gate']!r} {verdict}")
        if notes:
            section.text("; ".join(notes).capitalize() + ".")
        details = list(result.get("gate_detail") or []) + [
            f"warning: {w}" for w in result.get("warnings") or []
        ]
        if details:
            section.items(details)
    return section


def _approvals(registry: RegistryService, version: ModelVersion) -> _Section:
    section = _Section("Approvals")
    decisions = registry.approvals(version)
    if not decisions:
        section.text("No one has approved or rejected this version.")
        return section
    comments: dict[str, tuple[int, str | None]] = {}
    for event in registry.history(version.model):
        if (
            event.action in ("approve", "reject")
            and event.details.get("version") == version.version
        ):
            comments[event.actor] = (event.at, event.details.get("comment"))
    rows = []
    for actor, decision in decisions.items():
        at, comment = comments.get(actor, (None, None))
        rows.append([actor, decision, _when(at), comment])
    section.table(["who", "decision", "when", "comment"], rows)
    return section


def _history(registry: RegistryService, version: ModelVersion) -> _Section:
    section = _Section("History")
    events = [
        e
        for e in registry.history(version.model)
        if version.version in (e.details.get("version"), e.details.get("to"), e.details.get("from"))
    ]
    section.table(
        ["when", "who", "action", "details"],
        [
            [
                _when(e.at),
                e.actor,
                e.action,
                ", ".join(
                    f"{k}={v}"
                    for k, v in e.details.items()
                    if v is not None and k not in ("event", "undoes", "version")
                ),
            ]
            for e in events
        ],
    )
    return section


# -- writing -------------------------------------------------------------------------------


def _node(key: tuple[str, str], labels: dict[tuple[str, str], str]) -> str:
    label = labels.get(key, key[1])
    return label if label.startswith(f"{key[0]} ") else f"{label} ({key[0].replace('_', ' ')})"


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _markdown(title: str, description: str | None, sections: list[_Section]) -> str:
    lines = [f"# {title}", ""]
    if description:
        lines += [description, ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for kind, block in section.blocks:
            if kind == "text":
                lines += [block, ""]
            elif kind == "heading":
                lines += [f"### {block}", ""]
            elif kind == "items":
                lines += [f"- {item}" for item in block] + [""]
            elif kind == "table":
                header, rows = block
                lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
                lines.append("|" + "---|" * len(header))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                lines.append("")
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _chart(metrics: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Bar geometry for the 0-1 metrics of each model side (inline SVG, no script)."""
    sides = list(metrics)
    names = [n for n in CHART_METRICS if any(n in metrics[s] for s in sides)]
    width_per, bar, height = 28 * max(len(sides), 1) + 24, 24, 160
    bars = []
    for i, name in enumerate(names):
        for j, side in enumerate(sides):
            value = metrics[side].get(name)
            if value is None:
                continue
            clipped = min(max(float(value), 0.0), 1.0)
            bars.append(
                {
                    "x": 40 + i * width_per + j * (bar + 4),
                    "y": round(10 + height * (1 - clipped), 1),
                    "h": round(height * clipped, 1),
                    "w": bar,
                    "side": j,
                    "title": f"{side} {name}: {value:.4g}",
                }
            )
    labels = [{"x": 40 + i * width_per, "text": n} for i, n in enumerate(names)]
    return {
        "width": 100 + len(names) * width_per,
        "height": height,
        "bars": bars,
        "labels": labels,
        "sides": sides,
    }


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
{{ base_css }}
.s0{fill:#2f6fde}.s1{fill:#e3823b}.s2{fill:#9aa4ad}.legend span{margin-right:1rem}
</style></head><body>
<h1>{{ title }}</h1>
{% if description %}<p>{{ description }}</p>{% endif %}
{% for section in sections %}<h2>{{ section.title }}</h2>
{% for kind, block in section.blocks %}
{% if kind == "text" %}<p>{{ block }}</p>
{% elif kind == "heading" %}<h3>{{ block }}</h3>
{% elif kind == "items" %}<ul>{% for item in block %}<li>{{ item }}</li>{% endfor %}</ul>
{% elif kind == "table" %}<table>{% if block[0] | select | list %}<tr>
{% for h in block[0] %}<th>{{ h }}</th>{% endfor %}</tr>{% endif %}
{% for row in block[1] %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% elif kind == "chart" and block.bars %}
<svg width="{{ block.width }}" height="{{ block.height + 40 }}" role="img"
aria-label="evaluation metrics">
<line x1="36" y1="10" x2="36" y2="{{ block.height + 10 }}" stroke="#888"/>
<text x="0" y="16" font-size="11">1.0</text>
<text x="0" y="{{ block.height + 12 }}" font-size="11">0</text>
{% for b in block.bars %}<rect class="s{{ b.side % 3 }}" x="{{ b.x }}" y="{{ b.y }}"
width="{{ b.w }}" height="{{ b.h }}"><title>{{ b.title }}</title></rect>{% endfor %}
{% for l in block.labels %}<text x="{{ l.x }}" y="{{ block.height + 28 }}"
font-size="11">{{ l.text }}</text>{% endfor %}
</svg>
<p class="legend">{% for side in block.sides %}<span><svg width="10" height="10">
<rect class="s{{ loop.index0 % 3 }}" width="10" height="10"/></svg> {{ side }}</span>
{% endfor %}</p>
{% endif %}{% endfor %}{% endfor %}
</body></html>
"""


def _html(title: str, version: ModelVersion, sections: list[_Section]) -> str:
    from keel._html_page import render_page

    return render_page(_PAGE, title=title, description=version.description, sections=sections)
