"""``keel runs``: list, show, compare and reproduce tracked runs."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import typer

from ._output import console, count, err_console, esc, print_json

__all__ = ["app"]

app = typer.Typer(help="List, show, compare and reproduce tracked runs.", no_args_is_help=True)


def _backend():
    from keel.client import default_client

    return default_client().runs


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.4g}"


def _resolve(run_id: str):
    """A run by id or by an unambiguous id prefix (as shown by 'keel runs ls')."""
    from keel.tracking import resolve_run

    return resolve_run(_backend(), run_id)


@app.command("ls")
def ls(
    experiment: list[str] = typer.Option(
        None, "--experiment", "-e", help="Only these experiments."
    ),
    filter: str = typer.Option(None, "--filter", "-f", help='e.g. "metrics.auc > 0.8"'),
    order_by: list[str] = typer.Option(None, "--order-by", "-o", help="e.g. 'metrics.auc desc'"),
    limit: int = typer.Option(50, "--limit", "-n", help="Most runs to show."),
    json: bool = typer.Option(False, "--json", help="Print runs as JSON."),
    deleted: bool = typer.Option(
        False, "--deleted", help="Also deleted runs (not yet purged), marked DELETED."
    ),
) -> None:
    """List runs, newest first, with their status and latest metrics."""
    from rich.text import Text

    from keel.tracking import RunQuery
    from keel.tracking._records import RUN_EXTRAS

    from ._table import Table

    runs = _backend().search_runs(
        RunQuery(
            tuple(experiment or ()),
            filter,
            tuple(order_by or ()),
            limit,
            include_deleted=deleted,
            include=RUN_EXTRAS if json else (),  # the JSON listing has every field
        )
    )
    if json:
        print_json([r.to_dict() for r in runs])
        return
    metric_keys = sorted({k for r in runs for k in r.metrics if not k.startswith("system/")})
    hidden, metric_keys = _fit_metric_columns(runs, metric_keys, console.width)
    caption: Text | None = None
    if hidden:  # say what did not fit rather than drop it silently
        names = ", ".join(hidden[:5]) + (", ..." if len(hidden) > 5 else "")
        caption = Text(
            f"{count(len(hidden), 'metric column')} hidden for width: {names} "
            "(a wider terminal shows more; --json shows all)"
        )
    table = Table(
        title=count(len(runs), "run"), title_justify="left", caption=caption, caption_justify="left"
    )
    for column in ("id", "experiment", "name", "status", "started"):
        table.add_column(column, no_wrap=True)
    for key in metric_keys:
        table.add_column(key, justify="right", min_width=8, overflow="fold")
    styles = {"FINISHED": "green", "FAILED": "red", "RUNNING": "yellow", "KILLED": "magenta"}
    for r in runs:
        status = Text(r.status, style=styles.get(r.status, "white"))
        if r.deleted_at is not None:
            status = Text("DELETED", style="dim")
        table.add_row(
            r.id[:12],
            r.experiment,
            r.name,
            status,
            _when(r.started_at)[5:16],
            *(_num(r.metrics.get(k)) for k in metric_keys),
        )
    console.print(table)


def _fit_metric_columns(runs: list, keys: list[str], width: int) -> tuple[list[str], list[str]]:
    """``(hidden, shown)``: the metric columns that fit, in order, beside the fixed ones
    (each column takes its widest cell plus three characters of border and padding)."""
    fixed = [12, 10, 4, 8, 11]  # id, experiment, name, status, started: at least the header
    for r in runs:
        fixed[1], fixed[2] = max(fixed[1], len(r.experiment)), max(fixed[2], len(r.name))
    used = sum(w + 3 for w in fixed) + 1
    for i, key in enumerate(keys):
        cells = max((len(_num(r.metrics.get(key))) for r in runs), default=0)
        used += max(8, len(key), cells) + 3
        if used > width:
            return keys[i:], keys[:i]
    return [], keys


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id or id prefix."),
    json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    """Show one run: params, metrics, tags, artifacts, code and environment."""
    from ._table import Table

    run = _resolve(run_id)
    if json:
        print_json(run.to_dict())
        return
    duration = f"{run.duration_s:.1f} s" if run.duration_s is not None else "running"
    console.print(
        f"[bold]{esc(run.name)}[/]  {run.id}  [dim]{esc(run.experiment)}[/]  "
        f"{esc(run.status)}  {duration}"
    )
    git = (run.code or {}).get("git") or {}
    if git:
        dirty = " (dirty)" if git.get("dirty") else ""
        where = f"{git.get('commit')} on {git.get('branch')}{dirty}  {git.get('remote') or ''}"
        console.print(f"code: {esc(where)}")
    for title, items in (
        ("params", run.params),
        ("metrics", {k: _num(v) for k, v in run.metrics.items()}),
        ("tags", run.tags),
    ):
        if items:
            table = Table(title=title, title_justify="left", show_header=False)
            table.add_column(style="bold")
            table.add_column()
            for key, value in sorted(items.items()):
                table.add_row(key, str(value))
            console.print(table)
    if run.artifacts:
        table = Table(title="artifacts", title_justify="left")
        for column in ("name", "kind", "size", "digest"):
            table.add_column(column)
        for a in run.artifacts:
            table.add_row(a.name, a.kind, f"{a.size:,}", a.digest[:16])
        console.print(table)
    if run.error:
        console.print("[red]error:[/]\n" + esc(run.error))


@app.command("artifacts")
def artifacts(
    run_id: str = typer.Argument(..., help="Run id or id prefix."),
    get: str = typer.Option(
        None, "--get", help="Download this artifact, or every artifact under this folder name."
    ),
    to: Path = typer.Option(
        None, "--to", help="Folder to download into (with no --get: every artifact)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the artifacts or files as JSON."),
) -> None:
    """List a run's artifacts, or download them (--get NAME, --to DIR), verified."""
    from keel.tracking import download_artifacts, select_artifacts

    from ._table import Table

    run = _resolve(run_id)
    if get is None and to is None:
        if json:
            print_json([a.__dict__ for a in run.artifacts])
            return
        table = Table(title=f"{count(len(run.artifacts), 'artifact')} of run {run.id[:12]}")
        table.title_justify = "left"
        for column in ("name", "kind", "size", "digest", "logged"):
            table.add_column(column, justify="right" if column == "size" else "left")
        for a in run.artifacts:
            table.add_row(a.name, a.kind, f"{a.size:,}", a.digest[:16], _when(a.created_at))
        console.print(table)
        return
    chosen = select_artifacts(run, get)
    folder = to if to is not None else Path(".")
    paths = download_artifacts(_backend(), run, get, folder)
    if json:
        print_json(
            [
                {"name": a.name, "digest": a.digest, "size": a.size, "path": str(p)}
                for a, p in zip(chosen, paths, strict=True)
            ]
        )
        return
    size = sum(a.size for a in chosen)
    console.print(
        f"wrote {count(len(paths), 'artifact')} ({size:,} bytes) of run {run.id[:12]} "
        f"to {esc(folder)}",
        highlight=False,
    )


@app.command("compare")
def compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids or prefixes."),
    json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Params that differ and metrics side by side."""
    from rich.text import Text

    from keel.errors import InvalidInput

    from ._table import Table

    if len(run_ids) < 2:
        raise InvalidInput("Give at least two runs to compare.")
    runs = [_resolve(r) for r in run_ids]
    param_keys = sorted({k for r in runs for k in r.params})
    differing = [k for k in param_keys if len({r.params.get(k) for r in runs}) > 1]
    metric_keys = sorted({k for r in runs for k in r.metrics if not k.startswith("system/")})
    if json:
        print_json(
            {
                "runs": [r.id for r in runs],
                "params": {k: [r.params.get(k) for r in runs] for k in differing},
                "metrics": {k: [r.metrics.get(k) for r in runs] for k in metric_keys},
            }
        )
        return
    table = Table(title="params that differ", title_justify="left")
    table.add_column("param", style="bold")
    for r in runs:
        table.add_column(f"{r.name}\n{r.id[:12]}")
    for key in differing:
        table.add_row(key, *(r.params.get(key, "") for r in runs))
    console.print(table if differing else "[dim]all params are equal[/]")
    table = Table(title="metrics", title_justify="left")
    table.add_column("metric", style="bold")
    for r in runs:
        table.add_column(f"{r.name}\n{r.id[:12]}", justify="right")
    for key in metric_keys:
        values = [r.metrics.get(key) for r in runs]
        finite = [v for v in values if v is not None and math.isfinite(v)]
        best = max(finite) if finite else None
        cells = [
            Text(_num(v), style="green") if v == best and len(finite) > 1 else _num(v)
            for v in values
        ]
        table.add_row(key, *cells)
    console.print(table)


@app.command("reproduce")
def reproduce(
    run_id: str = typer.Argument(..., help="Run id or id prefix."),
    keep: bool = typer.Option(False, "--keep", help="Keep the git worktree afterwards."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Run without asking for confirmation."),
    allow_foreign_code: bool = typer.Option(
        False,
        "--allow-foreign-code",
        help="Run a record that does not look like keel's own capture (read the plan first).",
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Re-run a run from its recorded commit, diff and arguments; compare the metrics.

    Shows exactly what will run (command, commit, diff, who logged the run) and asks first.
    """
    from keel.config import current
    from keel.tracking._reproduce import plan_reproduction
    from keel.tracking._reproduce import reproduce as run_reproduce

    from ._table import Table

    original = _resolve(run_id)
    plan = plan_reproduction(original.id, _backend())
    _show_plan(plan)
    if plan.problems and not allow_foreign_code:
        from keel.errors import PermissionDenied

        raise PermissionDenied(
            f"Run {original.id}'s code record did not come from keel's own capture: "
            f"{'; '.join(plan.problems)}. Reproducing it could run anything; pass "
            "--allow-foreign-code only if you trust who logged it."
        )
    if not yes and not typer.confirm("Run this command?", default=False, err=True):
        typer.echo("Nothing was run.", err=True)
        raise typer.Exit(1)
    result = run_reproduce(plan, _backend(), current(), keep=keep, allow_foreign_code=True)
    changes = result.metric_changes()
    if json:
        print_json(
            {
                "original": original.id,
                "reproductions": [r.id for r in result.new_runs],
                "returncode": result.returncode,
                "metrics": {k: {"original": a, "reproduced": b} for k, a, b in changes},
                "notes": result.notes,
            }
        )
    else:
        for note in result.notes:
            console.print(f"[dim]{esc(note)}[/]")
        if not result.new_runs:
            console.print("[red]the re-run recorded no run[/]")
        else:
            table = Table(title=f"{original.id[:12]} reproduced as {result.new_runs[0].id[:12]}")
            for column in ("metric", "original", "reproduced", "difference"):
                table.add_column(column, justify="right" if column != "metric" else "left")
            for key, a, b in changes:
                diff = _num(b - a) if a is not None and b is not None else ""
                table.add_row(key, _num(a), _num(b), diff)
            console.print(table)
    if result.returncode != 0 or not result.new_runs:
        raise typer.Exit(1)


def _show_plan(plan) -> None:
    """The reproduction plan on stderr, so that stdout stays clean for --json."""
    import shlex
    from functools import partial

    err = partial(err_console.print, highlight=False)
    err(f"[bold]Reproducing run {plan.run.id}[/] ({esc(plan.run.experiment)})")
    err(f"  commit   {esc(plan.commit)} in {esc(str(plan.repo))}")
    err(f"  command  python {esc(shlex.join(plan.command))}")
    err(f"  in       {esc(plan.cwd)}")
    who = ", ".join(f"{k} {v!r}" for k, v in plan.logged_by.items()) or "unknown"
    err(f"  logged   by {esc(who)}")
    if plan.diff_files:
        err(f"  diff     {count(len(plan.diff_files), 'file')} changed since the commit:")
        for name, added, removed in plan.diff_files[:20]:
            err(f"           {esc(name)} [green]+{added}[/] [red]-{removed}[/]")
        if len(plan.diff_files) > 20:
            err(f"           and {count(len(plan.diff_files) - 20, 'more file')}")
    for problem in plan.problems:
        err(f"  [red]warning[/] {esc(problem)}")
