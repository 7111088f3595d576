"""``keel gc``: remove partial writes left by interrupted processes; end dead runs."""

from __future__ import annotations

import re

import typer

from ._output import console, print_json

__all__ = ["parse_duration", "register"]

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: str) -> float:
    """Seconds from '90', '90s', '15m', '1h' or '2d'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", raw.lower())
    if match is None:
        raise typer.BadParameter(
            f"{raw!r} is not a duration. Give a number of seconds or one with a unit: "
            "90s, 15m, 1h, 2d."
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def gc(
    older_than: str = typer.Option(
        "1h",
        "--older-than",
        help="Remove temporary files older than this (90s, 15m, 1h, 2d); younger ones may "
        "belong to a writer that is still running.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; remove nothing."),
    json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Reclaim space and state left by killed or crashed processes.

    Removes the object store's partial writes older than --older-than (they never became
    objects) and records KILLED on RUNNING runs whose process stopped sending heartbeats
    for longer than run_heartbeat_timeout. Objects and records are never removed.
    """
    from keel.client import Client
    from keel.config import current
    from keel.store.gc import gc as run_gc
    from keel.tracking import expire_runs

    grace = parse_duration(older_than)
    with Client(config=current()) as client:
        store = client.store
        report = run_gc(
            store,
            older_than=grace,
            dry_run=dry_run,
            steps={"expired_runs": lambda s, dry: expire_runs(s, dry_run=dry)},
        )
    if json:
        print_json(report.to_dict())
        return
    _print_report(report)


def _print_report(report) -> None:
    from ._table import Table

    verb = "would remove" if report.dry_run else "removed"
    if report.removed:
        title = "Partial writes to remove" if report.dry_run else "Partial writes removed"
        table = Table(title=title, title_justify="left")
        table.add_column("file")
        table.add_column("bytes", justify="right")
        table.add_column("age", justify="right")
        for item in report.removed:
            table.add_row(item["path"], f"{item['bytes']:,}", f"{item['age_s'] / 60:.0f} min")
        console.print(table)
    console.print(
        f"{verb} {len(report.removed)} partial writes, {report.bytes_freed:,} bytes"
        + (f"; kept {report.kept_recent} younger ones" if report.kept_recent else "")
    )
    runs = report.steps.get("expired_runs", [])
    if runs:
        table = Table(title=f"Dead runs {'to mark' if report.dry_run else 'marked'} KILLED")
        table.add_column("run")
        table.add_column("name")
        for run in runs:
            table.add_row(run["id"], run["name"])
        console.print(table)
    if report.dry_run:
        console.print("[dim]dry run: nothing was changed[/]")


def register(app: typer.Typer) -> None:
    app.command("gc")(gc)
