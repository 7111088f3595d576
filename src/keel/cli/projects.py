"""``keel projects``: list the projects of a store or server, and create one explicitly."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from ._output import console, esc, print_json

__all__ = ["app"]

app = typer.Typer(help="List projects and create new ones.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print as JSON.")


def _client():
    from keel.client import default_client

    return default_client()


@app.command("ls")
def ls(json: bool = JSON) -> None:
    """List the projects (on a server: those your token may use)."""
    from ._table import Table

    client = _client()
    projects = client.projects()
    if json:
        print_json(projects)
        return
    current = client.config.project
    table = Table(
        title=f"{len(projects)} project{'s' * (len(projects) != 1)}", title_justify="left"
    )
    for column in ("name", "created", ""):
        table.add_column(column)
    for p in projects:
        when = datetime.fromtimestamp(p["created_at"] / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(p["name"], when, "current" if p["name"] == current else "")
    console.print(table)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The new project's name, e.g. credit-risk."),
    json: bool = JSON,
) -> None:
    """Create a project (an admin token on a server). Work in it with KEEL_PROJECT=NAME."""
    project = _client().create_project(name)
    if json:
        print_json(project)
        return
    console.print(
        f"[green]Created project[/] {esc(project['name'])}. "
        f"Use it with [bold]KEEL_PROJECT={esc(project['name'])}[/] "
        "or keel.Client(project=...) in Python."
    )
