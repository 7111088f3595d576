"""``keel approvals``: the decisions pipeline runs wait for (``keel.approval`` in a step)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from ._output import console, count, esc, print_json

__all__ = ["app"]

app = typer.Typer(
    help="List, show, approve and reject the approvals pipeline runs wait for.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Print as JSON.")
ID = typer.Argument(..., help="The approval's id, or a prefix of it only it has.")
COMMENT = typer.Option(None, "--comment", "-m", help="Why: recorded with the decision.")
_COLOURS = {"pending": "yellow", "approved": "green", "rejected": "red", "expired": "dim"}


def _approvals():
    from keel.client import default_client

    return default_client().approvals


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


@app.command("ls")
def ls(
    status: str = typer.Option(
        "pending", "--status", help="pending, approved, rejected, expired or all."
    ),
    limit: int = typer.Option(100, "--limit", help="At most this many (1-1000)."),
    run: str | None = typer.Option(None, "--run", help="One pipeline run's approvals only."),
    json: bool = JSON,
) -> None:
    """List approvals, newest first (pending ones by default)."""
    from rich.text import Text

    from ._table import Table

    found = _approvals().list(status=status, limit=limit, pipeline_run=run)
    if json:
        print_json([a.to_dict() for a in found])
        return
    noun = "approval" if status == "all" else f"{esc(status)} approval"
    table = Table(title=count(len(found), noun), title_justify="left")
    for column in ("id", "title", "status", "pipeline", "step", "requested", "expires", "by"):
        table.add_column(column)
    for a in found:
        table.add_row(
            a.id[:12],
            a.title,
            Text(a.status, style=_COLOURS.get(a.status, "")),
            a.pipeline,
            a.step,
            _when(a.requested_at),
            _when(a.timeout_at) if a.status == "pending" else "",
            a.decided_by or "",
        )
    console.print(table)
    if found and status == "pending":
        console.print("[dim]decide with: keel approvals approve|reject ID --comment '...'[/]")


@app.command("show")
def show(approval_id: str = ID, json: bool = JSON) -> None:
    """Show one approval: its run and step, and who decided what, when and why."""
    _print(_approvals().get(approval_id), json)


@app.command("approve")
def approve(approval_id: str = ID, comment: str | None = COMMENT, json: bool = JSON) -> None:
    """Approve a pending approval (needs the approver role); the run goes on when resumed."""
    _print(_approvals().approve(approval_id, comment), json)


@app.command("reject")
def reject(approval_id: str = ID, comment: str | None = COMMENT, json: bool = JSON) -> None:
    """Reject a pending approval (needs the approver role); the waiting step then fails."""
    _print(_approvals().reject(approval_id, comment), json)


def _print(approval, json: bool) -> None:
    if json:
        print_json(approval.to_dict())
        return
    colour = _COLOURS.get(approval.status, "white")
    console.print(
        f"approval [bold]{esc(approval.id)}[/] {esc(approval.title)} "
        f"[{colour}]{esc(approval.status)}[/]"
    )
    console.print(f"  pipeline    {esc(approval.pipeline)} run {esc(approval.pipeline_run_id)}")
    console.print(f"  step        {esc(approval.step)}")
    console.print(f"  requested   {_when(approval.requested_at)}")
    if approval.timeout_at is not None:
        console.print(f"  times out   {_when(approval.timeout_at)}")
    if approval.decided_by:
        console.print(f"  decided     {_when(approval.decided_at)} by {esc(approval.decided_by)}")
    elif approval.status == "expired" and approval.decided_at:
        console.print(f"  expired     {_when(approval.decided_at)}")
    if approval.comment:
        console.print(f"  comment     {esc(approval.comment)}")
