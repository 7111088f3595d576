"""``keel experiments``: list the experiments of a project."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from ._output import console, count, print_json

__all__ = ["app"]

app = typer.Typer(help="List experiments and how many runs each holds.", no_args_is_help=True)


@app.command("ls")
def ls(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the experiments of the project by name, with their number of runs."""
    from keel.client import default_client

    from ._table import Table

    experiments = default_client().runs.list_experiments()
    if json:
        print_json([e.__dict__ for e in experiments])
        return
    table = Table(title=count(len(experiments), "experiment"), title_justify="left")
    for column in ("name", "runs", "created", "id"):
        table.add_column(column, justify="right" if column == "runs" else "left", no_wrap=True)
    for e in experiments:
        when = datetime.fromtimestamp(e.created_at / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(e.name, f"{e.run_count:,}", when, e.id)
    console.print(table)
    if not experiments:
        console.print(
            "[dim]Runs create their experiment: "
            "keel.start_run(experiment='credit') starts the first.[/]"
        )
