"""``keel quickstart``: the closed-loop example, as far as keel's capabilities reach."""

from __future__ import annotations

from pathlib import Path

import typer

from ._output import console, print_json

__all__ = ["register"]


def quickstart(
    directory: Path | None = typer.Option(
        None, "--dir", help="Folder to run in (default: a new temporary folder)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run the example project end to end and print what each step did."""
    from keel.quickstart import run

    summary = run(directory, console=None if json else console)
    if json:
        print_json(summary.to_dict())
    else:
        summary.print(console)


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
