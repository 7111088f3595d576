"""The root typer app: global options, error handling, and the command groups."""

from __future__ import annotations

import sys

import typer

from keel._version import __version__

from . import (
    agent,
    alerts,
    approvals,
    cache,
    ci,
    data,
    delete,
    deploy,
    experiments,
    fsck,
    gc,
    grafana,
    lake,
    lineage,
    models,
    monitor,
    pii,
    pipeline,
    predict,
    project,
    projects,
    quickstart,
    runs,
    serve,
    server,
    tokens,
    ui,
)
from . import validate as validate_cli
from ._main import configure_cli_logging, run_reporting_errors

__all__ = ["app", "main"]

app = typer.Typer(
    name="keel",
    help="keel: track, version, validate, register, serve and monitor ML models; run "
    "pipelines that retrain them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"keel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
) -> None:
    """keel: one tool for the whole ML lifecycle."""
    _state["debug"] = debug
    configure_cli_logging(debug=debug)


project.register(app)
fsck.register(app)
gc.register(app)
quickstart.register(app)
server.register(app)
serve.register(app)
app.add_typer(projects.app, name="projects")
app.add_typer(runs.app, name="runs")
app.add_typer(tokens.app, name="token")
app.add_typer(data.app, name="data")
app.add_typer(lake.app, name="lake")
app.add_typer(models.app, name="models")
app.add_typer(deploy.app, name="deploy")
app.add_typer(monitor.app, name="monitor")
app.add_typer(alerts.app, name="alerts")
app.add_typer(approvals.app, name="approvals")
app.add_typer(ci.app, name="ci")
app.add_typer(cache.app, name="cache")
app.add_typer(pipeline.app, name="pipeline")
lineage.register(app)
predict.register(app)
pii.register(app)
validate_cli.register(app)
grafana.register(monitor.app)
ui.register(app)
agent.register(app)
app.add_typer(experiments.app, name="experiments")
delete.register(app)  # last: joins the runs, experiments, data and models groups


def _global_options_first(argv: list[str]) -> list[str]:
    """``argv`` with ``--debug`` moved before the subcommand wherever it was typed
    (``keel runs ls --debug`` as ``keel --debug runs ls``); after ``--`` it is an argument."""
    end = argv.index("--") if "--" in argv else len(argv)
    head = argv[:end]
    if "--debug" not in head:
        return argv
    return ["--debug", *(a for a in head if a != "--debug"), *argv[end:]]


def main() -> None:
    """The ``keel`` command through the full typer app: user errors exit 1 without a
    traceback. (``keel.cli.main`` runs the plainest forms of two commands without it.)"""
    args = _global_options_first(sys.argv[1:])
    sys.exit(run_reporting_errors(lambda: app(args=args), debug=lambda: _state["debug"]))
