"""``keel fsck``: verify every object and every reference in the store."""

from __future__ import annotations

import typer

from ._output import console, print_json

__all__ = ["register"]


def fsck(json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Check every object against its digest and every metadata reference to an object.

    Also checks that every file a dataset or model version lists is stored, and every
    recorded erasure: its predicate matches no row of the dataset and no object it took
    out of use is still stored (prediction log erasures too). Exits 1 if anything is
    wrong. Changes nothing.
    """
    from functools import partial

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from keel.client import Client
    from keel.config import current
    from keel.data import check_erasures, check_listed_objects, version_owners
    from keel.registry import package_owners, stored_examples
    from keel.serving import check_prediction_erasures, prediction_owners
    from keel.store.fsck import fsck as run_fsck
    from keel.tracking import artifact_owners

    checks = [
        partial(check_erasures, copies=[stored_examples]),
        check_prediction_erasures,
        check_listed_objects,
    ]
    owners = [artifact_owners, version_owners, package_owners, prediction_owners]
    with Client(config=current()) as client:
        store = client.store
        if json:
            report = run_fsck(store, checks=checks, owners=owners)
        else:
            with Progress(
                TextColumn("verifying objects"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("verify", total=None)
                report = run_fsck(
                    store,
                    lambda done, total: bar.update(task, completed=done, total=total),
                    checks=checks,
                    owners=owners,
                )
    if json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report) -> None:
    from ._table import Table

    console.print(
        f"checked {report.objects_checked:,} objects and "
        f"{report.references_checked:,} referenced digests"
    )
    if report.ok:
        console.print("[green]ok[/]: every object is intact and every reference resolves")
    if report.missing or report.corrupt or report.problems:
        table = Table(title="Problems", title_justify="left")
        table.add_column("problem", style="red")
        table.add_column("object")
        table.add_column("belongs to / detail")
        for digest, places in report.missing.items():
            table.add_row("missing", digest, _owner(report, digest, places))
        for digest in report.corrupt:
            table.add_row("corrupt", digest, _owner(report, digest, []))
        for problem in report.problems:
            table.add_row(problem["problem"], problem["object"], problem["detail"])
        console.print(table)
    if report.unreferenced:
        console.print(
            f"[dim]{len(report.unreferenced)} stored objects are not referenced (harmless; "
            "'keel gc --objects' removes them once past its grace period)[/]"
        )
    if report.stale_temporaries:
        console.print(
            f"{report.stale_temporaries} partial writes left by interrupted processes "
            f"({report.stale_temporary_bytes:,} bytes): reclaimable by 'keel gc'"
        )


def _owner(report, digest: str, places: list[str]) -> str:
    """What holds the object, in users' words; the raw places only if no concept knows it."""
    named = report.owners.get(digest)
    if named:
        return "; ".join(named)
    if places:
        return "recorded in " + ", ".join(places) + " (no dataset, model or run names it)"
    return "no dataset, model or run names it"


def register(app: typer.Typer) -> None:
    app.command("fsck")(fsck)
