"""``keel agent``: the agent alone, in the foreground (``keel server`` runs one too)."""

from __future__ import annotations

import time
from typing import Any

import typer

from ._output import console, esc, print_json

__all__ = ["register"]


def agent(
    tick: float = typer.Option(
        None,
        "--tick",
        min=0.05,
        help="Seconds between passes. Default: the agent_tick_seconds setting (30).",
        show_default=False,
    ),
    once: bool = typer.Option(
        False, "--once", help="Do one pass, wait for the runs it started, print what it did."
    ),
    json: bool = typer.Option(False, "--json", help="Print each pass as JSON."),
) -> None:
    """Run schedules, triggers, monitors and pipeline runs on this store until Ctrl-C.

    Several agents may run against one store: only the one holding the lease acts, and
    another takes over when it stops. Ctrl-C stops after the pass in progress and gives
    the lease up.
    """
    from keel.client import default_client
    from keel.server.agent import Agent

    client = default_client()
    worker = Agent(client, tick_seconds=tick)
    try:
        if once:
            done = worker.run_once()
            worker.wait_for_runs()
            _report(worker, done, json, quiet=False)
            return
        if not json:
            where = client.store.engine.url.render_as_string(hide_password=True)
            console.print(
                f"keel agent {esc(worker.holder)} on {esc(where)}, every "
                f"{worker.tick_seconds:g} s (Ctrl-C stops)"
            )
        leading = False
        while True:
            done = worker.run_once()
            if not json and done.leader != leading:
                console.print("leading" if done.leader else f"not leading: {esc(_who(worker))}")
            leading = done.leader
            _report(worker, done, json, quiet=True)
            time.sleep(worker.tick_seconds)
    except KeyboardInterrupt:
        if not json:
            console.print("stopping: waiting for the runs in progress, then giving the lease up")
    finally:
        worker.stop()


def _who(worker: Any) -> str:
    from keel.server.agent import LEASE
    from keel.store import leases

    holder = leases.holder(worker.store, LEASE)
    return f"agent {holder} leads" if holder else "no agent leads"


def _report(worker: Any, done: Any, json: bool, *, quiet: bool) -> None:
    rows = done.rows()
    if json:
        if rows or not quiet:
            print_json(done.to_dict())
        return
    if quiet and not rows:
        return
    if not done.leader:
        console.print(f"[yellow]not leading[/]: {esc(_who(worker))}; nothing done")
        return
    if not rows:
        console.print("leading: nothing was due")
        return
    from ._table import Table

    table = Table(title=f"agent {done.holder}", title_justify="left")
    for column in ("what", "project", "name", "detail"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["what"], row["project"], row["name"], row["detail"])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("agent")(agent)
