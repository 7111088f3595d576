"""``keel ci report``: the comparison a pull request needs, and the gate's decision.

Exit codes: 0 the gate passed, 1 it failed, 2 the report could not be made (bad input: an
unknown version, a malformed gate, no gate or data to be found, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from ._output import console, err_console, esc, print_json

__all__ = ["EXIT_BAD_INPUT", "EXIT_GATE_FAILED", "app"]

EXIT_GATE_FAILED = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(help="Continuous delivery of models: reports for pull requests.")


@app.callback()
def _ci() -> None:
    """Continuous delivery of models: reports for pull requests."""


@app.command("report")
def report(
    candidate: str = typer.Option(
        ..., "--candidate", help="The version under review: credit:7, credit@latest."
    ),
    against: str = typer.Option(
        "@champion", "--against", help="What it would replace: @champion, @alias, N or name:N."
    ),
    gate: str | None = typer.Option(
        None,
        "--gate",
        help="e.g. 'roc_auc >= champion.roc_auc - 0.005'; by default the latest recorded "
        "gate of the candidate (else of the champion).",
    ),
    data: str | None = typer.Option(
        None, "--data", help="Evaluation dataset, e.g. holdout:v3 (default: the gate's)."
    ),
    label: str | None = typer.Option(None, "--label", help="Target column (default: the gate's)."),
    by: str | None = typer.Option(None, "--by", help="Segment column: per-segment deltas."),
    backtest: str | None = typer.Option(
        None, "--backtest", help="Date column: deltas per time window."
    ),
    freq: str = typer.Option("month", "--freq", help="Back-test window: day, week, month..."),
    markdown: bool = typer.Option(
        False, "--markdown", help="Write GitHub-flavoured Markdown (for a pull request comment)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the Markdown or JSON to this file, not stdout."
    ),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
    trust: bool = typer.Option(
        False, "--trust", help="Allow loading pyfunc packages (they unpickle code)."
    ),
) -> None:
    """Compare a candidate model version with the champion and decide the gate.

    Metrics side by side, per-segment and per-window deltas, the validation verdicts of the
    candidate's training data, its recorded evaluations, and the gate's decision. Exits 0
    when the gate passes, 1 when it fails, 2 on bad input.
    """
    from keel.client import default_client
    from keel.errors import KeelError
    from keel.registry._ci_report import ci_report

    if markdown and json:
        _bad("Give --markdown or --json, not both.")
    try:
        result = ci_report(
            default_client(),
            candidate,
            against=against,
            gate=gate,
            data=data,
            label=label,
            by=by,
            backtest=backtest,
            freq=freq,
            trust=trust,
        )
    except KeelError as exc:
        _bad(exc.message)
    if markdown or json:
        text = result.to_markdown() if markdown else _json_text(result.to_dict())
        if output is not None:
            output.write_text(text, encoding="utf-8")
            err_console.print(f"wrote {esc(output)}", highlight=False)
        elif json:
            print_json(result.to_dict())
        else:
            typer.echo(text, nl=False)
    else:
        _show(result)
        if output is not None:
            output.write_text(result.to_markdown(), encoding="utf-8")
    if not result.passed:
        raise typer.Exit(EXIT_GATE_FAILED)


def _bad(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {esc(message)}", highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def _json_text(data: dict) -> str:
    import orjson

    return orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2).decode() + "\n"


def _show(result) -> None:
    from rich.text import Text

    from ._table import Table

    against = result.against or f"{result.asked_against} (none yet)"
    verdict = "[green]passed[/]" if result.passed else "[red]failed[/]"
    console.print(f"[bold]{esc(result.candidate)}[/] vs [bold]{esc(against)}[/]")
    console.print(f"gate {verdict}: {esc(result.gate)}")
    for line in result.gate_detail:
        console.print(f"  {esc(line)}")
    compared = result.against is not None
    table = Table(title=f"on {result.data} ({result.task})", title_justify="left")
    columns = ["metric", "candidate", *(("against", "change") if compared else ()), "baseline"]
    for column in columns:
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in result.comparison:
        cells = [row["metric"], _num(row.get("candidate"))]
        if compared:
            style = {True: "green", False: "red"}.get(row.get("better"), "")
            delta = row.get("delta")
            change = Text("" if delta is None else f"{delta:+.4g}", style)
            cells += [_num(row.get("against")), change]
        cells.append(_num(row.get("baseline")))
        table.add_row(*cells)
    console.print(table)
    for title, rows in (("segments", result.segments), ("back-test", result.backtest)):
        if rows:
            _groups(title, rows)
    if result.training_data:
        data = Table(title="training data validation", title_justify="left")
        for column in ("dataset", "verdict", "summary", "reports"):
            data.add_column(column)
        for d in result.training_data:
            passed = d["passed"]
            mark = Text("—" if passed is None else ("passed" if passed else "failed"))
            mark.stylize("" if passed is None else ("green" if passed else "red"))
            data.add_row(d["dataset"], mark, d["summary"] or "", str(d["reports"]))
        console.print(data)
    for note in result.notes:
        console.print(f"[cyan]note:[/] {esc(note)}")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {esc(warning)}")


def _groups(title: str, rows: list[dict]) -> None:
    from ._table import Table

    metrics = [k for k in rows[0] if k not in ("group", "rows")]
    table = Table(title=title, title_justify="left")
    for column in ("", "rows", *metrics):
        table.add_column(column, justify="left" if column == "" else "right")
    for row in rows:
        cells = []
        for metric in metrics:
            view = row[metric]
            delta = view.get("delta")
            change = "" if delta is None else f" ({delta:+.3g})"
            cells.append(_num(view.get("candidate")) + change)
        table.add_row(str(row["group"]), _num(row.get("rows")), *cells)
    console.print(table)


def _num(value) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
