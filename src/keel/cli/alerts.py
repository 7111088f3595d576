"""``keel alerts``: the incidents monitors opened, what their actions did, and acknowledging
or resolving one by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from ._output import console, count, esc, print_json

__all__ = ["app"]

app = typer.Typer(
    help="List, show, acknowledge and resolve the alerts monitors opened.", no_args_is_help=True
)

JSON = typer.Option(False, "--json", help="Print as JSON.")
ID = typer.Argument(..., help="The alert's id.")
COMMENT = typer.Option(None, "--comment", "-m", help="A note recorded with it.")
_COLOURS = {"critical": "red", "warning": "yellow", "info": "blue"}
_ACTION_COLOURS = {"ok": "green", "failed": "red", "held_back": "yellow", "unavailable": "yellow"}


def _alerts():
    from keel.client import default_client

    return default_client().alerts


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


@app.command("ls")
def ls(
    status: str = typer.Option("open", "--status", help="open, resolved or all."),
    monitor: str | None = typer.Option(None, "--monitor", help="One monitor's alerts only."),
    limit: int = typer.Option(100, "--limit", help="At most this many (1-1000)."),
    json: bool = JSON,
) -> None:
    """List alerts, newest first (open ones by default)."""
    from ._table import Table

    alerts = _alerts().list(status=status, monitor=monitor, limit=limit)
    if json:
        print_json([a.to_dict() for a in alerts])
        return
    table = Table(title=f"{len(alerts)} {status} alerts", title_justify="left")
    for column in ("id", "severity", "status", "monitor", "opened", "seen", "message"):
        table.add_column(column)
    for a in alerts:
        table.add_row(
            a.id,
            a.severity,
            a.status,
            a.monitor,
            _when(a.created_at),
            str(a.occurrences),
            a.message,
        )
    console.print(table)


@app.command("show")
def show(alert_id: str = typer.Argument(..., help="The alert's id."), json: bool = JSON) -> None:
    """Show one alert: its findings and what each action did."""
    from rich.text import Text

    from ._table import Table

    alert = _alerts().get(alert_id)
    if json:
        print_json(alert.to_dict())
        return
    colour = _COLOURS.get(alert.severity, "white")
    console.print(
        f"alert [bold]{esc(alert.id)}[/] [{colour}]{esc(alert.severity)}[/] {esc(alert.status)}"
    )
    console.print(f"  monitor     {esc(alert.monitor)} (deployment {esc(alert.deployment)})")
    console.print(f"  opened      {_when(alert.created_at)} by result {esc(alert.result_id)}")
    console.print(f"  last seen   {_when(alert.last_seen)} ({alert.occurrences} results)")
    if alert.acknowledged_by:
        ack = f"{_when(alert.acknowledged_at)} by {esc(alert.acknowledged_by)}"
        console.print(f"  acknowledged {ack}")
    if alert.resolved_at is not None:
        by = f" by {esc(alert.resolved_by)}" if alert.resolved_by else ""
        console.print(f"  resolved    {_when(alert.resolved_at)}{by}")
    if alert.comment:
        console.print(f"  comment     {esc(alert.comment)}")
    if alert.reopened:
        console.print(f"  reopened    {count(alert.reopened, 'time')} within the cool-down")
    console.print(f"  message     {esc(alert.message)}")
    findings = Table(title="findings", title_justify="left")
    for column in ("kind", "subject", "score", "threshold", "message"):
        findings.add_column(column)
    for f in alert.findings:
        score, threshold = f.get("score"), f.get("threshold")
        findings.add_row(
            str(f.get("kind")),
            str(f.get("subject") or ""),
            "" if score is None else f"{score:.4g}",
            "" if threshold is None else f"{threshold:.4g}",
            str(f.get("message") or ""),
        )
    console.print(findings)
    actions = Table(title="actions", title_justify="left")
    for column in ("action", "target", "status", "detail", "when"):
        actions.add_column(column)
    for a in alert.actions:
        status = str(a.get("status"))
        actions.add_row(
            str(a.get("type")),
            str(a.get("target")),
            Text(status, style=_ACTION_COLOURS.get(status, "")),
            str(a.get("detail") or ""),
            _when(a.get("ended_at")),
        )
    console.print(actions)


@app.command("ack")
def ack(alert_id: str = ID, comment: str | None = COMMENT, json: bool = JSON) -> None:
    """Acknowledge an open alert: it stays open, showing who is on it (writer)."""
    alert = _alerts().acknowledge(alert_id, comment)
    if json:
        print_json(alert.to_dict())
        return
    console.print(f"alert {esc(alert.id)} acknowledged by {esc(alert.acknowledged_by)}")


@app.command("resolve")
def resolve(alert_id: str = ID, comment: str | None = COMMENT, json: bool = JSON) -> None:
    """Resolve an open alert by hand (writer)."""
    alert = _alerts().resolve(alert_id, comment)
    if json:
        print_json(alert.to_dict())
        return
    console.print(f"alert {esc(alert.id)} resolved by {esc(alert.resolved_by)}")
