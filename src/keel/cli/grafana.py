"""``keel grafana``: a Grafana dashboard and Prometheus alerting rules for a monitor."""

from __future__ import annotations

from pathlib import Path

import typer

from ._output import console, esc

__all__ = ["register"]


def grafana(
    name: str = typer.Argument(..., help="The monitor's name."),
    out: Path = typer.Option(..., "--out", help="Folder to write the two files into."),
    spec: Path | None = typer.Option(
        None,
        "--spec",
        help="The monitor's YAML file (its limits become alerting rules).",
        exists=True,
        dir_okay=False,
    ),
    deployment: str | None = typer.Option(
        None, "--deployment", help="The deployment it watches (default: the spec's)."
    ),
) -> None:
    """Write NAME-dashboard.json (Grafana) and NAME-rules.yml (Prometheus) into OUT."""
    from keel.monitoring._grafana import read_spec, write_grafana

    monitor = read_spec(spec, name) if spec is not None else {"name": name}
    if deployment is not None:
        monitor["deployment"] = deployment
    dashboard, rules = write_grafana(out, name, monitor)
    console.print(f"wrote [bold]{esc(dashboard)}[/] and [bold]{esc(rules)}[/]")


def register(app: typer.Typer) -> None:
    app.command("grafana")(grafana)
