"""``keel scan-pii DATA``: which columns hold personal data, never showing a value."""

from __future__ import annotations

import typer

from ._output import console, esc, print_json

__all__ = ["register"]


def scan_pii(
    data: str = typer.Argument(
        ..., help="A dataset reference (credit:v3) or a Parquet, CSV or JSON-lines file."
    ),
    json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    sample: int = typer.Option(
        100_000,
        "--sample",
        min=0,
        help="Check this many evenly spaced rows of a bigger table; 0 checks every row.",
    ),
    min_share: float = typer.Option(
        0.05,
        "--min-share",
        min=0.0,
        max=1.0,
        help="Report a kind only when at least this fraction of a column's values have it.",
    ),
    fail_on_find: bool = typer.Option(
        False, "--fail-on-find", help="Exit with code 3 when anything is found (for CI)."
    ),
) -> None:
    """Find columns holding e-mails, phones, card numbers, IBANs, IPs or national ids.

    Columns whose names suggest personal data (first_name, dob, customer_id) are listed
    too. Shows the column, the kind and the share of values, never the values.
    """
    from keel.validation import load_table
    from keel.validation._pii import scan_pii as scan

    subject = load_table(data, purpose="scan-pii")
    table = subject.table
    findings = scan(table, sample_rows=sample or None, min_share=min_share)
    checked_rows = min(table.num_rows, sample) if sample else table.num_rows
    if json:
        print_json(
            {
                "data": subject.label,
                "rows": table.num_rows,
                "columns": table.num_columns,
                "checked_rows": checked_rows,
                "findings": [f.to_dict() for f in findings],
            }
        )
    else:
        _print(subject.label, table.num_rows, table.num_columns, checked_rows, findings)
    if findings and fail_on_find:
        raise typer.Exit(3)


def _print(label: str, rows: int, columns: int, checked_rows: int, findings: list) -> None:
    from ._table import Table

    looked = (
        f"{rows:,} rows"
        if checked_rows == rows
        else (f"an evenly spaced sample of {checked_rows:,} of {rows:,} rows")
    )
    console.print(f"[bold]{esc(label)}[/]: {columns} columns, checked {looked}", highlight=False)
    if not findings:
        console.print("[green]No personal data found.[/]")
        return
    out = Table()
    out.add_column("column")
    out.add_column("kind")
    out.add_column("share", justify="right")
    out.add_column("matched/checked", justify="right")
    out.add_column("evidence")
    for f in findings:
        if f.share is None:
            share, counts = "-", "-"
        else:
            share, counts = f"{f.share:.1%}", f"{f.matched:,}/{f.checked:,}"
        out.add_row(f.column, f.kind, share, counts, f.evidence)
    console.print(out)
    columns_found = len({f.column for f in findings})
    console.print(f"[yellow]{columns_found} of {columns} columns may hold personal data.[/]")


def register(app: typer.Typer) -> None:
    app.command("scan-pii")(scan_pii)
