"""``keel deploy``: deployments as config files, planned and applied like Terraform."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from ._output import console, count, esc, print_json

__all__ = ["app"]

app = typer.Typer(
    help="Plan and apply deployment files, roll back, show history, build cluster manifests.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Print as JSON.")
YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
FILE = typer.Argument(..., help="The deployment YAML file.", dir_okay=False)
NAME = typer.Argument(..., help="The deployment's name.")
_COLOURS = {"+": "green", "-": "red", "~": "yellow"}


def _deployments():
    from keel.client import default_client

    return default_client().deployments


def _when(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _print_plan(plan) -> None:
    if plan.empty:
        console.print(
            f"deployment [bold]{esc(plan.deployment)}[/]: no changes "
            f"(revision {plan.current_revision} already runs this spec)"
        )
        return
    if plan.create:
        console.print(f"deployment [bold]{esc(plan.deployment)}[/] will be [green]created[/]")
    else:
        console.print(
            f"deployment [bold]{esc(plan.deployment)}[/] will [yellow]change[/] "
            f"(revision {plan.current_revision} -> {plan.current_revision + 1})"
        )
    for change in plan.changes:
        colour = _COLOURS[change.action]
        if change.action == "~":
            value = f"{esc(_show(change.before))} -> {esc(_show(change.after))}"
        else:
            value = esc(_show(change.after if change.action == "+" else change.before))
        console.print(f"  [{colour}]{change.action} {esc(change.path)}[/]: {value}")
    counts = {a: sum(1 for c in plan.changes if c.action == a) for a in "+~-"}
    console.print(
        f"[bold]{counts['+']}[/] to add, [bold]{counts['~']}[/] to change, "
        f"[bold]{counts['-']}[/] to remove"
    )


def _confirm(question: str, yes: bool, json: bool) -> None:
    if yes:
        return
    if json:
        from keel.errors import InvalidInput

        raise InvalidInput("--json cannot ask for confirmation: add --yes.")
    if not typer.confirm(question, default=False):
        console.print("cancelled; nothing was changed")
        raise typer.Exit(1)


@app.command("plan")
def plan(file: Path = FILE, json: bool = JSON) -> None:
    """Show what applying FILE would change against what runs now."""
    from keel.deploy import parse_spec

    result = _deployments().plan(parse_spec(file))
    if json:
        print_json(result.to_dict())
    else:
        _print_plan(result)


@app.command("apply")
def apply(file: Path = FILE, yes: bool = YES, json: bool = JSON) -> None:
    """Record FILE as the deployment's next rollout (shows the plan and asks first)."""
    from keel.deploy import parse_spec

    spec = parse_spec(file)
    deployments = _deployments()
    planned = deployments.plan(spec)
    if not json:
        _print_plan(planned)
    if not planned.empty:
        _confirm(f"Apply these changes to {spec.name}?", yes, json)
    rollout = deployments.apply(spec)
    if json:
        print_json({"plan": planned.to_dict(), "rollout": rollout.to_dict()})
    elif not planned.empty:
        console.print(
            f"applied [bold]{esc(rollout.deployment)}[/] revision {rollout.revision} "
            f"({esc(rollout.status)})"
        )


@app.command("rollback")
def rollback(name: str = NAME, yes: bool = YES, json: bool = JSON) -> None:
    """Return NAME to the spec that ran before its current rollout (a new revision)."""
    deployments = _deployments()
    current = deployments.get(name)
    if current.previous_revision is not None and not json:
        console.print(
            f"{esc(name)}: revision {current.revision} ({esc(current.status)}) will be rolled "
            f"back to the spec of revision {current.previous_revision}"
        )
    _confirm(f"Roll back {name}?", yes, json)
    rollout = deployments.rollback(name)
    if json:
        print_json(rollout.to_dict())
    else:
        console.print(
            f"rolled back [bold]{esc(name)}[/]: revision {rollout.revision} runs the spec of "
            f"revision {rollout.restores}"
        )


def _routes(spec) -> str:
    from keel.deploy import qualify

    lines = [f"{qualify(r.version, spec.model)} {_show(r.weight)}%" for r in spec.routes]
    lines += [f"{qualify(s, spec.model)} (shadow)" for s in spec.shadow]
    return "\n".join(lines)


def _steps(rollout) -> str:
    lines = []
    for s in rollout.steps:
        seen = ", ".join(f"{k}={_show(v)}" for k, v in s.metrics.items() if v is not None)
        lines.append(f"{s.step}: {_show(s.weight)}% {s.status}" + (f" ({seen})" if seen else ""))
    return "\n".join(lines)


@app.command("history")
def history(name: str = NAME, json: bool = JSON) -> None:
    """Every rollout of NAME, newest first, with its canary steps."""
    from ._table import Table

    rollouts = _deployments().history(name)
    if json:
        print_json([r.to_dict() for r in rollouts])
        return
    table = Table(title=f"history of {name}", title_justify="left", show_lines=True)
    for column in ("revision", "status", "kind", "actor", "when", "routes", "canary steps"):
        table.add_column(column)
    for r in rollouts:
        kind = r.kind if r.restores is None else f"rollback to {r.restores}"
        table.add_row(
            str(r.revision),
            r.status,
            kind,
            r.actor,
            _when(r.created_at),
            _routes(r.spec),
            _steps(r),
        )
    console.print(table)


@app.command("stats")
def stats(
    name: str = NAME,
    limit: int = typer.Option(200, "--limit", help="At most this many newest points (1-1000)."),
    json: bool = JSON,
) -> None:
    """NAME's service health over time, oldest first: the model server's counts of every
    interval (source server), monitor windows and canary steps."""
    from ._table import Table

    found = _deployments().stats(name, limit=limit)
    if json:
        print_json(found)
        return
    table = Table(title=f"service health of {name}", title_justify="left")
    columns = ("when", "source", "requests", "req/s", "p50 ms", "p99 ms", "errors", "4xx")
    for column in (*columns, "error rate"):
        table.add_column(column)
    keys = ("requests", "throughput_rps", "p50_ms", "p99_ms", "errors", "client_errors")
    for p in found["points"]:
        numbers = [p.get(k) for k in keys]
        rate = p["error_rate"]
        table.add_row(
            _when(p["at"]),
            p["source"],
            *("" if v is None else f"{v:,.4g}" for v in numbers),
            "" if rate is None else f"{rate:.2%}",
        )
    console.print(table)


@app.command("ls")
def ls(json: bool = JSON) -> None:
    """List deployments with their current revision, status and routes."""
    from ._table import Table

    listed = _deployments().list()
    if json:
        print_json(listed)
        return
    table = Table(title=count(len(listed), "deployment"), title_justify="left")
    for column in ("name", "revision", "status", "routes", "updated"):
        table.add_column(column)
    for d in listed:
        routes = ", ".join(f"{r['ref']} {_show(r['weight'])}%" for r in d["routes"])
        table.add_row(d["name"], str(d["revision"]), d["status"], routes, _when(d["updated_at"]))
    console.print(table)


@app.command("build")
def build(
    name: str = NAME,
    out: Path = typer.Option(..., "--out", help="Folder for the Dockerfile and manifests."),
    revision: int = typer.Option(None, "--revision", min=1, help="Revision (current by default)."),
    image: str = typer.Option(None, "--image", help="Image the pods run (keel-NAME:REVISION)."),
    replicas: int = typer.Option(2, "--replicas", min=1, help="Replicas (the autoscaler's min)."),
    max_replicas: int = typer.Option(10, "--max-replicas", min=1, help="The autoscaler's max."),
    json: bool = JSON,
) -> None:
    """Write a Dockerfile and Kubernetes manifests (Deployment, Service, autoscaler,
    ConfigMap holding the deployment file) for NAME."""
    from keel.client import default_client
    from keel.deploy._manifests import BuildOptions, k8s_name, write_manifests

    client = default_client()
    rollout = client.deployments.get(name, revision)
    options = BuildOptions(image=image, replicas=replicas, max_replicas=max_replicas)
    written = write_manifests(
        rollout.spec,
        out,
        project=client.config.project,
        revision=rollout.revision,
        options=options,
    )
    if json:
        print_json({"revision": rollout.revision, "files": [str(p) for p in written]})
        return
    console.print(
        f"wrote {count(len(written), 'file')} for {esc(name)} revision {rollout.revision}:"
    )
    for path in written:
        console.print(f"  {esc(path)}")
    secret = f"{k8s_name(rollout.spec.name)}-keel"
    console.print(
        f"then: kubectl create secret generic {esc(secret)} --from-literal=KEEL_URI=... "
        f"--from-literal=KEEL_TOKEN=... && kubectl apply -f {esc(out / 'k8s')}"
    )
