"""``keel quickstart``: the closed-loop example project, run end to end."""

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
    fast: bool = typer.Option(
        False, "--fast", help="Fewer applications and a quicker canary (as the tests run it)."
    ),
) -> None:
    """Run the closed loop end to end and print what each stage did."""
    from keel.quickstart import run

    summary = run(directory, console=None if json else console, fast=fast)
    if json:
        print_json(summary.to_dict())
    else:
        summary.print(console)


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
