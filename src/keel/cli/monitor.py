"""``keel monitor``: monitors as YAML files; evaluate now, over past windows, and report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from ._output import console, esc, print_json

__all__ = ["app"]

app = typer.Typer(
    help="Apply monitor files, evaluate them now or over past windows, and report.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Print as JSON.")
FILE = typer.Argument(..., help="The monitor YAML file.", dir_okay=False)
NAME = typer.Argument(..., help="The monitor's name.")
NOT_PASSED = 3
"""Exit code of ``keel monitor run`` when the result did not pass (scripts and CI gates)."""


def _monitors():
    from keel.client import default_client

    return default_client().monitors


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _time(value: str, option: str) -> int:
    """Epoch milliseconds from ``1800000000000`` or an ISO date/time (UTC unless given)."""
    from keel.errors import InvalidInput

    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{option} must be epoch milliseconds or an ISO time such as 2027-01-15T08:00. "
            f"Got {value!r}."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@app.command("apply")
def apply(file: Path = FILE, json: bool = JSON) -> None:
    """Record the monitor in FILE (replacing the one of that name)."""
    from keel.monitoring import parse_monitor

    row = _monitors().apply(parse_monitor(file))
    if json:
        print_json(row)
    else:
        console.print(
            f"monitor [bold]{esc(row['name'])}[/] watches {esc(row['deployment'])} "
            f"({esc(row['schedule'])})"
        )


@app.command("ls")
def ls(json: bool = JSON) -> None:
    """List monitors with their deployment, schedule and last verdict."""
    from ._table import Table

    listed = _monitors().list()
    if json:
        print_json(listed)
        return
    table = Table(title=f"{len(listed)} monitors", title_justify="left")
    for column in ("name", "deployment", "reference", "schedule", "last window", "last verdict"):
        table.add_column(column)
    for m in listed:
        verdict = {None: "", True: "passed", False: "FAILED"}[m["last_passed"]]
        table.add_row(
            m["name"],
            m["deployment"],
            m["reference"],
            m["schedule"],
            _when(m["last_window_end"]),
            verdict,
        )
    console.print(table)


def _print_result(result) -> None:
    from rich.text import Text

    from ._table import Table

    verdict = "[green]passed[/]" if result.passed else "[red]FAILED[/]"
    console.print(
        f"monitor [bold]{esc(result.monitor)}[/] {_when(result.window_start)} -> "
        f"{_when(result.window_end)}: {verdict} ({len(result.breaches)} breached)"
    )
    table = Table(show_lines=False)
    for column in ("kind", "subject", "score", "threshold", "finding"):
        table.add_column(column)
    for f in sorted(result.findings, key=lambda f: not f.breached):
        style = "red" if f.breached else ""
        score = "" if f.score is None else f"{f.score:.4g}"
        limit = "" if f.threshold is None else f"{f.threshold:g}"
        table.add_row(*(Text(v, style=style) for v in (f.kind, f.subject, score, limit, f.message)))
    console.print(table)


@app.command("run")
def run(
    name: str = NAME,
    at: str = typer.Option(None, "--at", help="Evaluate as of this time (default: now)."),
    json: bool = JSON,
) -> None:
    """Evaluate NAME over the window ending now; exit code 3 if it did not pass."""
    result = _monitors().run(name, now_ms=None if at is None else _time(at, "--at"))
    if json:
        print_json(result.to_dict())
    else:
        _print_result(result)
    if not result.passed:
        raise typer.Exit(NOT_PASSED)


@app.command("backfill")
def backfill(
    name: str = NAME,
    start: str = typer.Option(..., "--from", help="Start: epoch ms or ISO time (UTC)."),
    end: str = typer.Option(..., "--to", help="End: epoch ms or ISO time (UTC)."),
    json: bool = JSON,
) -> None:
    """Evaluate NAME's past windows from --from to --to, in order (at most 1,000)."""
    from ._table import Table

    results = _monitors().backfill(name, _time(start, "--from"), _time(end, "--to"))
    if json:
        print_json([r.to_dict() for r in results])
        return
    table = Table(title=f"{len(results)} windows of {name}", title_justify="left")
    for column in ("window start", "window end", "rows", "verdict", "breaches"):
        table.add_column(column)
    for r in results:
        table.add_row(
            _when(r.window_start),
            _when(r.window_end),
            str(r.scores.get("rows", 0)),
            "passed" if r.passed else "FAILED",
            "; ".join(f.message for f in r.breaches[:3]),
        )
    console.print(table)


@app.command("report")
def report(
    name: str = NAME,
    html: Path = typer.Option(None, "--html", help="Write a self-contained HTML report here."),
    json: bool = JSON,
) -> None:
    """Reference vs current distributions, drift and performance over time."""
    from keel.errors import InvalidInput
    from keel.monitoring import report_html

    if html is None and not json:
        raise InvalidInput("Give --html FILE for the page, or --json for the data.")
    data = _monitors().report(name)
    if html is not None:
        html.write_text(report_html(data), encoding="utf-8")
        if not json:
            console.print(f"wrote {esc(html)} ({len(data['results'])} results)")
    if json:
        print_json(data)
