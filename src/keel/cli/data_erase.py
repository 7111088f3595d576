"""``keel data erase``: remove rows from every version of a dataset (right to erasure)."""

from __future__ import annotations

import sys

import typer

from ._output import console, count, err_console, esc, print_json

__all__ = ["register"]


def erase(
    dataset: str = typer.Argument(..., help="The dataset's name; every version is erased."),
    where: str = typer.Option(
        ..., "--where", "-w", help="SQL condition on the columns, e.g. \"customer_id = 'c-123'\"."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Erase without asking."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only show the rows each version would lose."
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    logs: bool = typer.Option(
        True,
        "--logs/--no-logs",
        help="Also erase the matching rows from the project's prediction logs (by input "
        'feature); needs --where of the form "column = \'value\'" or "column IN (...)".',
    ),
    key: bool = typer.Option(
        False,
        "--key",
        help="The column is the deployments' sticky key: also erase logged requests and "
        "feedback whose key is one of the values.",
    ),
) -> None:
    """Remove the rows matching --where from every version of DATASET, for good.

    Version numbers, tags and lineage stay; the rewritten versions get new manifests, the old
    objects are deleted once nothing else refers to them, and the erasure (who, when, the
    predicate, rows per version) is recorded for 'keel fsck' to check. Prediction logs and
    feedback lose the matching rows too (hashed columns match by the values' hashes).
    Without --yes, shows what would be removed and asks first.
    """
    from keel.client import default_client
    from keel.data import equality_values
    from keel.data import erase as run_erase

    client = default_client()
    service = client.datasets
    in_logs = equality_values(where) if logs else None
    if logs and in_logs is None:
        err_console.print(
            "[yellow]note:[/] prediction logs are erased only for --where of the form "
            '"column = \'value\'" or "column IN (...)"; erase them with '
            "client.predictions.erase(column=..., values=[...]), or pass --no-logs."
        )
    plan = run_erase(service, dataset, where, dry_run=True)
    if dry_run:
        _show(plan, json=json)
        return
    if not yes:
        if json or not sys.stdin.isatty():
            err_console.print(
                "[bold red]error:[/] erasing cannot be undone: pass --yes to erase, "
                "or --dry-run to only see what would be removed."
            )
            raise typer.Exit(2)
        _show(plan, json=False)
        if not typer.confirm(
            f"Erase {plan.rows_removed:,} rows from {plan.dataset!r} for good?", default=False
        ):
            err_console.print("nothing was erased")
            raise typer.Exit(1)
    result = run_erase(service, dataset, where)
    if in_logs is not None:
        column, values = in_logs
        removed = client.predictions.erase(column=column, values=values)
        if key:
            removed += client.predictions.erase(column="key", values=values)
        result.log_rows_removed = removed  # type: ignore[attr-defined]
    _show(result, json=json)


def _show(result, *, json: bool) -> None:
    from rich.text import Text

    from ._table import Table

    log_rows = getattr(result, "log_rows_removed", None)
    if json:
        print_json({**result.to_dict(), "prediction_log_rows_removed": log_rows})
        return
    title = (
        f"{result.dataset}: {count(result.rows_removed, 'row')} "
        + ("would be removed" if result.dry_run else "removed")
        + f" where {result.predicate}"
    )
    table = Table(title=title, title_justify="left")
    for column in ("version", "rows", "removed", "manifest"):
        table.add_column(column, justify="right" if column in ("rows", "removed") else "left")
    for v in result.versions:
        manifest = v.old_manifest[:12]
        if v.new_manifest:
            manifest += f" -> {v.new_manifest[:12]}"
        style = "red" if v.rows_removed else "dim"
        table.add_row(
            v.ref, f"{v.rows_before:,}", Text(f"{v.rows_removed:,}", style=style), manifest
        )
    console.print(table)
    if result.dry_run:
        return
    console.print(
        f"recorded by {esc(result.actor)}; {len(result.objects_deleted)} old objects deleted"
    )
    if log_rows is not None:
        console.print(f"prediction logs and feedback: {log_rows:,} rows removed")
    for digest, places in result.objects_kept.items():
        console.print(
            f"[yellow]kept[/] {esc(digest[:12])}: still used by {esc(', '.join(places))}; "
            "erase the rows there too"
        )


def register(app: typer.Typer) -> None:
    app.command("erase")(erase)
