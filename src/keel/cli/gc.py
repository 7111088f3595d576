"""``keel gc``: remove partial writes, end dead runs, purge what stayed deleted, and (with
``--objects``) remove unreferenced objects."""

from __future__ import annotations

import re

import typer

from ._output import console, count, print_json

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
    objects: bool = typer.Option(
        False,
        "--objects",
        help="Also remove objects nothing refers to (deleted versions' files, purged runs' "
        "artifacts), once older than --grace.",
    ),
    grace: str = typer.Option(
        None,
        "--grace",
        help="With --objects: keep objects written more recently than this (15m, 1h, 2d): "
        "a writer may be about to reference them. Default: gc_grace_minutes (60m).",
    ),
    retention: str = typer.Option(
        None,
        "--retention",
        help="Purge runs and experiments deleted longer ago than this (2d, 12h). Default: "
        "deleted_retention_days (30d).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; remove nothing."),
    json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Reclaim space and state left by killed processes and by deletes.

    Removes the object store's partial writes older than --older-than (they never became
    objects), records KILLED on RUNNING runs whose process stopped sending heartbeats
    for longer than run_heartbeat_timeout, and purges for good the runs and experiments
    deleted longer ago than the retention period, and removes the service health rows older
    than health_retention_days. With --objects it also removes objects
    nothing refers to any more, unless written within the grace period (safe while other
    processes write). Through a keel server this needs an admin token.
    """
    from keel.client import Client
    from keel.config import current

    grace_s = parse_duration(grace) if grace is not None else None
    days = parse_duration(retention) / 86400 if retention is not None else None
    with Client(config=current()) as client:
        if client.remote:
            report = client.gc(objects=objects, grace=grace_s, retention_days=days, dry_run=dry_run)
        else:
            from keel._gc import run_gc

            report = run_gc(
                client.store,
                objects=objects,
                grace=grace_s,
                retention_days=days,
                dry_run=dry_run,
                older_than=parse_duration(older_than),
            )
    if json:
        print_json(report)
        return
    _print_report(report)


def _print_report(report: dict) -> None:
    from ._table import Table

    dry = report["dry_run"]
    verb = "would remove" if dry else "removed"
    removed = report.get("removed", [])
    if removed:
        title = "Partial writes to remove" if dry else "Partial writes removed"
        table = Table(title=title, title_justify="left")
        table.add_column("file")
        table.add_column("bytes", justify="right")
        table.add_column("age", justify="right")
        for item in removed:
            table.add_row(item["path"], f"{item['bytes']:,}", f"{item['age_s'] / 60:.0f} min")
        console.print(table)
    if "removed" in report:
        kept = report.get("kept_recent")
        console.print(
            f"{verb} {len(removed)} partial writes, {report['bytes_freed']:,} bytes"
            + (f"; kept {kept} younger ones" if kept else "")
        )
    runs = report["steps"].get("expired_runs", [])
    if runs:
        table = Table(title=f"Dead runs {'to mark' if dry else 'marked'} KILLED")
        table.add_column("run")
        table.add_column("name")
        for run in runs:
            table.add_row(run["id"], run["name"])
        console.print(table)
    purged = report["steps"].get("purged", [])
    if purged:
        table = Table(
            title=f"Deleted records {'to purge' if dry else 'purged'}", title_justify="left"
        )
        for column in ("kind", "project", "name", "id", "kept because"):
            table.add_column(column)
        for item in purged:
            table.add_row(
                item["kind"], item["project"], item["name"], item["id"], item["kept"] or ""
            )
        console.print(table)
    health = report["steps"].get("expired_health", [])
    if health:
        rows = count(sum(item["rows"] for item in health), "service health row")
        console.print(
            f"{verb} {rows} older than health_retention_days "
            f"(of {count(len(health), 'deployment')})"
        )
    logged = report["steps"].get("expired_predictions", [])
    if logged:
        predictions = sum(i["rows"] for i in logged if i["kind"] == "predictions")
        feedback = sum(i["rows"] for i in logged if i["kind"] == "feedback")
        deployments = count(len({(i["project"], i["name"]) for i in logged}), "deployment")
        console.print(
            f"{verb} {count(predictions, 'logged prediction')} and "
            f"{count(feedback, 'feedback row')} older than predictions_retention_days "
            f"(of {deployments}); 'keel gc --objects' reclaims their bytes"
        )
    objects = report.get("objects")
    if objects is not None:
        if objects["removed"]:
            table = Table(
                title="Unreferenced objects " + ("to remove" if dry else "removed"),
                title_justify="left",
            )
            table.add_column("object")
            table.add_column("bytes", justify="right")
            table.add_column("age", justify="right")
            for item in objects["removed"]:
                table.add_row(item["digest"], f"{item['bytes']:,}", f"{item['age_s'] / 3600:.1f} h")
            console.print(table)
        console.print(
            f"{verb} {len(objects['removed'])} unreferenced objects, "
            f"{objects['bytes_freed']:,} bytes; kept {objects['kept_recent']} written within "
            f"the grace period ({objects['grace_s'] / 60:g} min)"
        )
        if objects.get("packs_merged"):
            console.print(f"merged {objects['packs_merged']} small pack files into full ones")
    if dry:
        console.print("[dim]dry run: nothing was changed[/]")


def register(app: typer.Typer) -> None:
    app.command("gc")(gc)
