"""``keel monitor grafana``: a Grafana dashboard and Prometheus alerting rules for a monitor."""

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
        help="The monitor's YAML file (its limits become alerting rules); default: the "
        "monitor as applied (keel monitor apply).",
        exists=True,
        dir_okay=False,
    ),
    deployment: str | None = typer.Option(
        None, "--deployment", help="The deployment it watches (default: the spec's)."
    ),
) -> None:
    """Write NAME-dashboard.json (Grafana) and NAME-rules.yml (Prometheus) into OUT."""
    from keel.monitoring._grafana import read_spec, write_grafana

    if spec is not None:
        monitor = read_spec(spec, name)
    else:
        from keel.client import default_client
        from keel.errors import NotFound

        try:
            monitor = default_client().monitors.get(name).to_dict()
        except NotFound:
            monitor = {"name": name}  # --deployment may still say what it watches
    if deployment is not None:
        monitor["deployment"] = deployment
    dashboard, rules = write_grafana(out, name, monitor)
    console.print(f"wrote [bold]{esc(dashboard)}[/] and [bold]{esc(rules)}[/]")


def register(app: typer.Typer) -> None:
    """Add ``grafana`` to ``app`` (the ``keel monitor`` group)."""
    app.command("grafana")(grafana)
