"""``keel pipeline``: run pipelines, list them and their runs, show a run's DAG, read logs,
resume and cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from ._output import console, esc, print_json

__all__ = ["app"]

app = typer.Typer(help="Run pipelines, show their runs as trees, resume failed runs.")

JSON = typer.Option(False, "--json", help="Print as JSON.")
RUN = typer.Argument(..., help="A pipeline run's id.")
FAILED = 1
"""Exit code of ``keel pipeline run`` and ``resume`` when the run failed."""
STYLE = {
    "succeeded": "green",
    "cached": "cyan",
    "running": "yellow",
    "waiting": "magenta",
    "failed": "red",
    "cancelled": "dim",
    "queued": "dim",
    "pending": "dim",
}


def _client():
    from keel.client import default_client

    return default_client()


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _state(step: dict[str, Any]) -> str:
    return "cached" if step.get("cached_from") else step["status"]


def _styled(status: str) -> str:
    return f"[{STYLE.get(status, '')}]{esc(status)}[/]"


@app.command("ls")
def ls(json: bool = JSON) -> None:
    """List pipelines with their steps and last run."""
    from ._table import Table

    listed = _client().pipelines.list()
    if json:
        print_json(listed)
        return
    table = Table(title=f"{len(listed)} pipelines", title_justify="left")
    for column in ("name", "steps", "params", "last run", "status", "at"):
        table.add_column(column)
    for p in listed:
        table.add_row(
            p["name"],
            str(len(p["steps"])),
            ", ".join(p["params"]),
            (p["last_run"] or "")[:12],
            p["last_status"] or "",
            _when(p["last_run_at"]),
        )
    console.print(table)


@app.command("runs")
def runs(
    name: str = typer.Argument(None, help="One pipeline's runs only."),
    status: str = typer.Option(None, "--status", help="Runs in this status only."),
    limit: int = typer.Option(50, "--limit", help="At most this many, newest first."),
    json: bool = JSON,
) -> None:
    """List pipeline runs, newest first."""
    from ._table import Table

    listed = _client().pipelines.runs(name, status=status, limit=limit)
    if json:
        print_json(listed)
        return
    table = Table(title=f"{len(listed)} runs", title_justify="left")
    for column in ("id", "pipeline", "status", "trigger", "created", "ended"):
        table.add_column(column)
    for r in listed:
        table.add_row(
            r["id"],
            r["pipeline"],
            r["status"],
            (r["trigger"] or {}).get("kind", ""),
            _when(r["created_at"]),
            _when(r["ended_at"]),
        )
    console.print(table)


@app.command("run")
def run(
    target: str = typer.Argument(
        ..., help="A recorded pipeline's NAME, module:function or path/to/file.py:function."
    ),
    param: list[str] = typer.Option(None, "--param", "-p", help="A param: name=value."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step again."),
    executor: str = typer.Option("local", "--executor", help="local or ray."),
    json: bool = JSON,
) -> None:
    """Run a pipeline here and now, with a live view of its steps."""
    from keel.pipelines import import_pipeline
    from keel.pipelines._params import parse_assignments

    params = parse_assignments(param or [])
    client = _client()
    entry = target
    if ":" not in target:
        entry = client.pipelines.get(target)["spec"]["entrypoint"]
    pipeline = import_pipeline(entry)
    from keel.pipelines._executors import check_executor

    check_executor(executor)
    pipeline.check_params(params)  # bad params: one line, before the live view starts
    pipeline.spec()
    if json:
        result = pipeline.run(params, executor=executor, cache=not no_cache, client=client)
        print_json(result.to_dict())
    else:
        result = _run_live(pipeline, params, executor, not no_cache, client)
        _print_run(client.pipelines.run(result.id) if not client.remote else result.to_dict())
        if result.error:
            console.print(f"[red]{esc(result.error)}[/]")
    if result.status == "failed":
        raise typer.Exit(FAILED)


def _run_live(pipeline, params, executor, cache, client):
    from rich.progress import Progress, SpinnerColumn, TextColumn

    steps = list(pipeline.graph.nodes)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
    ) as progress:
        task = progress.add_task(f"{pipeline.name}: 0/{len(steps)} steps", total=len(steps))
        done: set[str] = set()

        def report(record: dict[str, Any]) -> None:
            if record["status"] in ("succeeded", "failed", "waiting"):
                done.add(record["step"])
            progress.update(
                task,
                completed=len(done),
                description=f"{pipeline.name}: {len(done)}/{len(steps)} steps, "
                f"{record['step']} {record['status']}",
            )

        return pipeline.run(params, executor=executor, cache=cache, client=client, progress=report)


def _print_run(run: dict[str, Any]) -> None:
    from rich.tree import Tree

    spec_steps: list[dict[str, Any]] = []
    try:
        spec_steps = _client().pipelines.get(run["pipeline"])["spec"].get("steps", [])
    except Exception:  # a pipeline recorded elsewhere: show the step runs alone
        spec_steps = []
    latest = {s["step"]: s for s in run.get("steps", [])}
    tree = Tree(f"[bold]{esc(run['pipeline'])}[/] run {esc(run['id'])}: {_styled(run['status'])}")
    names = [s["name"] for s in spec_steps] or list(latest)
    inputs = {
        s["name"]: sorted({v.split(".")[0] for v in s.get("inputs", {}).values()})
        for s in spec_steps
    }
    nodes: dict[str, Any] = {}
    for name in names:
        step = latest.get(name)
        state = _state(step) if step else "pending"
        label = f"{esc(name)} {_styled(state)}"
        if step and step.get("attempt", 1) > 1:
            label += f" (attempt {step['attempt']})"
        if step and step.get("run_id"):
            label += f" [dim]run {esc(step['run_id'])}[/]"
        for out in ((step or {}).get("outputs") or {}).values():
            if out and out.get("kind") in ("dataset_version", "model_version"):
                label += f" -> {esc(out['ref'])}"
        ups = [u for u in inputs.get(name, []) if u in nodes]
        parent = nodes[ups[0]] if ups else tree
        if len(ups) > 1:
            label += f" [dim](after {', '.join(esc(u) for u in ups)})[/]"
        nodes[name] = parent.add(label)
    console.print(tree)
    if run.get("error"):
        console.print(f"[red]{esc(run['error'])}[/]")


@app.command("show")
def show(run_id: str = RUN, json: bool = JSON) -> None:
    """Show a run: its DAG as a tree with each step's state."""
    found = _client().pipelines.run(run_id)
    if json:
        print_json(found)
    else:
        _print_run(found)


@app.command("resume")
def resume(run_id: str = RUN, json: bool = JSON) -> None:
    """Run a failed, waiting or cancelled run again from its unfinished steps (through a
    keel server: queue it for the server's agent)."""
    found = _client().pipelines.resume(run_id)
    if json:
        print_json(found)
    else:
        _print_run(found)
    if found["status"] == "failed":
        raise typer.Exit(FAILED)


@app.command("cancel")
def cancel(run_id: str = RUN, json: bool = JSON) -> None:
    """Cancel a queued, waiting or running run."""
    found = _client().pipelines.cancel(run_id)
    if json:
        print_json(found)
    else:
        console.print(f"run {esc(found['id'])}: {_styled(found['status'])}")


@app.command("logs")
def logs(
    run_id: str = RUN,
    step: str = typer.Option(None, "--step", help="One step's only."),
    json: bool = JSON,
) -> None:
    """Print each step run's captured output and traceback."""
    found = _client().pipelines.logs(run_id, step)
    if json:
        print_json(found)
        return
    for entry in found:
        console.rule(f"{esc(entry['step'])} (attempt {entry['attempt']}, {entry['status']})")
        console.print(entry["log"] or "(no output)", highlight=False, markup=False)
