"""``keel validate DATA --schema S`` and ``keel infer-schema DATA``: data checks for CI.

``validate`` prints one row per check and exits 3 when a check of severity ``error``
fails, so it can gate a CI job or a pipeline step; ``--html`` writes a self-contained
report and ``--json`` prints the report for scripts. ``infer-schema`` proposes the schema
to start from. Both import the validation engine inside the command, so that ``keel``
itself starts quickly.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import typer

from ._output import console, count, err_console, esc, print_json

__all__ = ["register"]

FAILED_EXIT = 3
"""The exit code when validation finds failing ``error`` checks (1 is a user error such as
a missing file, 2 a usage error such as a mistyped option)."""

_EXAMPLE_COLUMNS = 6
"""Columns shown per example row in the terminal (the checked column first)."""


def validate(
    data: str = typer.Argument(
        ..., help="A dataset reference (credit:v3) or a Parquet, CSV or JSON-lines file."
    ),
    schema: Path = typer.Option(
        ...,
        "--schema",
        "-s",
        help="The schema YAML file (propose one with 'keel infer-schema DATA --out FILE').",
    ),
    html: Path = typer.Option(
        None, "--html", help="Also write a self-contained HTML report (charts, no scripts)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    no_record: bool = typer.Option(
        False,
        "--no-record",
        help="Do not keep the report on record (by default a dataset version's is kept).",
    ),
) -> None:
    """Check DATA against a schema; exit 3 if any check of severity 'error' fails.

    Exit codes (the same with --json):

    0  passed (failed 'warn' checks are shown, and allowed)

    1  could not validate: missing data, malformed schema, unknown dataset

    2  a usage error (an unknown option)

    3  validated, and checks of severity 'error' failed
    """
    from keel.validation import Schema
    from keel.validation import validate as run

    loaded = Schema.load(schema)  # a bad schema fails before the data is read
    report = run(data, loaded, record=False if no_record else None)
    if html is not None:
        written = _write_html(report, loaded, data, html)
        (err_console if json else console).print(
            f"wrote the HTML report to {esc(written)}", highlight=False
        )
    if json:
        print_json(report.to_dict())
    else:
        _print(report, loaded)
    if not report.passed:
        raise typer.Exit(FAILED_EXIT)


def infer_schema(
    data: str = typer.Argument(
        ..., help="A dataset reference (credit:v1) or a Parquet, CSV or JSON-lines file."
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="Write the schema here (default: print the YAML)."
    ),
    name: str = typer.Option(
        None, "--name", "-n", help="The schema's name (default: the dataset's name)."
    ),
    margin: float = typer.Option(
        0.1,
        "--margin",
        min=0.0,
        help="Widen each numeric range by this share of its width on both sides.",
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing --out file."),
    json: bool = typer.Option(
        False, "--json", help="Print the schema (and the --out file written) as JSON."
    ),
) -> None:
    """Propose a schema from DATA: types, missing values, ranges, allowed values, formats.

    The proposal describes the data as it is: read it, tighten or loosen it, keep it in
    git, and check new data with 'keel validate DATA --schema FILE'.
    """
    import sys

    from keel.errors import AlreadyExists, InvalidInput
    from keel.validation import infer_schema as infer

    if out is not None and out.exists() and not force:
        raise AlreadyExists(
            f"{out} already exists; infer-schema does not overwrite a schema you may have "
            "edited. Pass --force to replace it, or choose another --out."
        )
    proposed = infer(data, name=name, margin=margin)
    if out is None:
        if json:
            print_json({"schema": proposed.to_dict(), "written": None})
            return
        sys.stdout.write(proposed.to_yaml())
        sys.stdout.flush()
        return
    try:
        written = proposed.save(out)
    except OSError as exc:
        raise InvalidInput(
            f"Cannot write the schema to {out}: {exc.strerror or exc}. "
            "Choose an --out path in a folder you can write to."
        ) from exc
    if json:
        print_json({"schema": proposed.to_dict(), "written": str(written)})
        return
    checks = len(proposed.all_checks())
    console.print(
        f"[green]wrote[/] a schema of {count(checks, 'check')} for {esc(data)} to {esc(written)}",
        highlight=False,
    )
    console.print(
        f"Review and edit it, commit it, then check data with:\n"
        f"  keel validate {esc(data)} --schema {esc(written)}",
        highlight=False,
    )


# -- the terminal report ---------------------------------------------------------------------


def _print(report: Any, schema: Any) -> None:
    from rich.text import Text

    from keel.validation._html import personal_columns, shown_example, shown_observed

    from ._table import Table

    personal = personal_columns(report, schema=schema)
    verdict = "[bold green]passed[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(
        f"[bold]{esc(report.subject)}[/] against schema "
        f"[bold]{esc(report.schema or 'unnamed')}[/]: {report.rows:,} rows, "
        f"{count(report.columns, 'column')}, {count(len(report.results), 'check')}: "
        f"{verdict} "
        f"({count(len(report.errors), 'error')}, {count(len(report.warnings), 'warning')})",
        highlight=False,
    )
    out = Table()
    out.add_column("", no_wrap=True)
    out.add_column("check")
    out.add_column("failing rows", justify="right")
    out.add_column("observed")
    out.add_column("message")
    # failures first (errors, then warnings), then what passed, each in schema order
    for r in sorted(report.results, key=lambda r: (r.passed, r.severity != "error")):
        if r.passed:
            status = Text("✓", style="green")
        elif r.severity == "error":
            status = Text("✗ error", style="bold red")
        else:
            status = Text("! warn", style="yellow")
        out.add_row(status, r.name, _failing(r), str(shown_observed(r, personal)), r.message)
    console.print(out)
    for r in report.errors + report.warnings:
        if r.examples:
            _print_examples([shown_example(row, personal) for row in r.examples], r)
    if report.id:
        console.print(f"[dim]recorded as validation report {report.id}[/]", highlight=False)


def _print_examples(rows: list[dict[str, Any]], result: Any) -> None:
    """A few failing rows of ``result``, already masked, the checked column first."""
    from ._table import Table

    names = list(rows[0])
    if result.column in names:
        names.remove(result.column)
        names.insert(0, result.column)
    hidden = len(names) - _EXAMPLE_COLUMNS
    names = names[:_EXAMPLE_COLUMNS]
    title = f"examples failing {result.name}"
    if hidden > 0:
        title += f" ({hidden} more columns not shown)"
    table = Table(title=title, title_justify="left", title_style="bold")
    for name in names:
        table.add_column(str(name))
    for row in rows:
        table.add_row(*(_cell(row.get(name)) for name in names))
    console.print(table)


def _failing(result: Any) -> str:
    if result.failing_rows is None:
        return ""
    if result.failing_share is None:
        return f"{result.failing_rows:,}"
    return f"{result.failing_rows:,} ({result.failing_share:.1%})"


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _write_html(report: Any, schema: Any, data: str, path: Path) -> Path:
    """Render the report with histograms of the validated data, written atomically."""
    from keel.errors import InvalidInput
    from keel.validation import load_table
    from keel.validation._html import render_html

    # The table is read again for the charts: validate() does not hand it back. A dataset
    # reference such as credit@latest is pinned to the version that was validated.
    source = report.subject if report.subject_kind == "dataset_version" else data
    page = render_html(report, load_table(source, purpose="validate").table, schema)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InvalidInput(
            f"Cannot write the HTML report to {path}: {exc.strerror or exc}. "
            "Choose a --html path in a folder you can write to."
        ) from exc
    return path


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("infer-schema")(infer_schema)
