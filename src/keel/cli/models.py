"""``keel models``: the registry from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from ._output import console, count, esc, print_json

__all__ = ["app"]

app = typer.Typer(
    help="Register, promote, approve, evaluate and roll back models.", no_args_is_help=True
)

JSON = typer.Option(False, "--json", help="Print as JSON.")


def _registry():
    from keel.client import default_client

    return default_client().models


def _when(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


@app.command("ls")
def ls(json: bool = JSON) -> None:
    """List models with their latest version and aliases."""
    from ._table import Table

    models = _registry().list()
    if json:
        print_json(models)
        return
    table = Table(title=count(len(models), "model"), title_justify="left")
    for column in ("name", "latest", "flavor", "versions", "aliases"):
        table.add_column(column)
    for m in models:
        latest = m["latest"] or {}
        aliases = ", ".join(f"{a} -> {ref}" for a, ref in sorted(m["aliases"].items()))
        table.add_row(
            m["name"], latest.get("ref", ""), latest.get("flavor", ""), str(m["versions"]), aliases
        )
    console.print(table)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="credit, credit:4 or credit@champion."), json: bool = JSON
) -> None:
    """Show a version: flavor, signature, metrics, aliases, approvals."""
    from ._table import Table

    registry = _registry()
    version = registry.get(ref)
    approvals = registry.approvals(version)
    if json:
        print_json({**version.to_dict(), "approvals": approvals})
        return
    aliases = f"  [green]@{esc(', @'.join(version.aliases))}[/]" if version.aliases else ""
    console.print(
        f"[bold]{esc(version.ref)}[/] {esc(version.flavor)}{aliases}  "
        f"[dim]{esc(version.package_digest[:16])}[/]"
    )
    if version.run_id:
        console.print(f"source run: {esc(version.run_id)}")
    inputs = (version.signature or {}).get("inputs", [])
    if inputs:
        table = Table(title="signature", title_justify="left")
        table.add_column("input")
        table.add_column("type")
        for column in inputs:
            table.add_row(column["name"], column["dtype"])
        console.print(table)
    for key, value in sorted(version.metrics.items()):
        console.print(f"{esc(key)}: {value:.4g}")
    for actor, decision in approvals.items():
        console.print(f"{esc(decision)} by {esc(actor)}")


@app.command("register")
def register(
    name: str = typer.Argument(..., help="Model name."),
    run: str = typer.Option(..., "--run", help="Run id (or prefix) holding the model."),
    artifact: str = typer.Option("model.skops", "--artifact", help="The run's model artifact."),
    example: str = typer.Option(None, "--example", help="Dataset ref for the input example."),
    drop: list[str] = typer.Option(
        None, "--drop", help="Columns of --example that are not inputs."
    ),
    json: bool = JSON,
) -> None:
    """Register a scikit-learn model logged by a run (skops artifact) as the next version."""
    from keel.client import default_client

    client = default_client()
    version = client.models.register_from_run(
        run,
        name,
        runs=client.runs,
        # only an example needs datasets (a client of a server may not reach them)
        datasets=client.datasets if example else None,
        artifact=artifact,
        example=example,
        drop=drop or (),
    )
    if json:
        print_json(version.to_dict())
    else:
        console.print(
            f"registered [bold]{esc(version.ref)}[/] ({esc(version.flavor)}) "
            f"from run {version.run_id[:12]}"
        )


@app.command("alias")
def alias(
    ref: str = typer.Argument(..., help="The version, e.g. credit:4."),
    name: str = typer.Argument(..., help="The alias, e.g. champion."),
    reason: str = typer.Option(None, "--reason", help="Why (kept in the history)."),
    json: bool = JSON,
) -> None:
    """Point an alias at a version (if the model's policy allows)."""
    version = _registry().set_alias(ref, name, reason=reason)
    if json:
        print_json(version.to_dict())
        return
    console.print(f"{esc(version.model)}@{esc(name)} -> {esc(version.ref)}")


@app.command("rollback")
def rollback(
    model: str = typer.Argument(..., help="Model name."),
    alias_name: str = typer.Option("champion", "--alias", help="Alias to move back."),
    json: bool = JSON,
) -> None:
    """Move an alias back to the version it pointed to before its last move."""
    version = _registry().rollback(model, alias_name)
    if json:
        print_json(version.to_dict())
        return
    console.print(f"{esc(model)}@{esc(alias_name)} rolled back to {esc(version.ref)}")


@app.command("approve")
def approve(
    ref: str = typer.Argument(..., help="The version, e.g. credit:4."),
    comment: str = typer.Option(None, "--comment", help="Why (kept in the history)."),
    json: bool = JSON,
) -> None:
    """Approve a version (recorded with who, when and why)."""
    _decide("approve", ref, comment, json=json)


@app.command("reject")
def reject(
    ref: str = typer.Argument(..., help="The version, e.g. credit:4."),
    comment: str = typer.Option(None, "--comment", help="Why (kept in the history)."),
    json: bool = JSON,
) -> None:
    """Reject a version; it cannot be promoted under a policy until approved again."""
    _decide("reject", ref, comment, json=json)


def _decide(verb: str, ref: str, comment: str | None, *, json: bool) -> None:
    registry = _registry()
    version = registry.get(ref)
    getattr(registry, verb)(version, comment)
    decision = {"approve": "approved", "reject": "rejected"}[verb]
    if json:
        print_json(
            {
                "ref": version.ref,
                "decision": decision,
                "comment": comment,
                "approvals": registry.approvals(version),
            }
        )
        return
    console.print(f"{decision} {esc(version.ref)}")


@app.command("policy")
def policy(
    model: str = typer.Argument(..., help="Model name."),
    alias_name: str = typer.Option("champion", "--alias", help="Alias the rule is for."),
    approvals: int = typer.Option(0, "--approvals", min=0, help="Approvals required."),
    gate: bool = typer.Option(False, "--gate/--no-gate", help="Require a passing evaluation gate."),
    four_eyes: bool = typer.Option(
        False,
        "--four-eyes/--no-four-eyes",
        help="Approvals must come from someone other than whoever registered the version.",
    ),
    json: bool = JSON,
) -> None:
    """Set what moving an alias requires."""
    registry = _registry()
    rules = registry.policy(model).to_dict()["aliases"]
    rules[alias_name] = {"approvals": approvals, "gate": gate, "four_eyes": four_eyes}
    policy = registry.set_policy(model, {"aliases": rules})
    if json:
        print_json({"model": model, **policy.to_dict()})
        return
    console.print(
        f"{esc(model)}@{esc(alias_name)} now needs {max(approvals, int(four_eyes))} approvals"
        + (" from someone other than the registrant" if four_eyes else "")
        + (" and a passing gate" if gate else "")
    )


@app.command("history")
def history(model: str = typer.Argument(..., help="Model name."), json: bool = JSON) -> None:
    """Every registration, alias move, approval, rejection, evaluation and policy change."""
    from ._table import Table

    events = _registry().history(model)
    if json:
        print_json([e.__dict__ for e in events])
        return
    table = Table(title=f"history of {model}", title_justify="left")
    for column in ("when", "who", "action", "details"):
        table.add_column(column)
    for e in events:
        details = ", ".join(
            f"{k}={v}"
            for k, v in e.details.items()
            if v is not None and k not in ("event", "undoes")
        )
        table.add_row(_when(e.at), e.actor, e.action, details)
    console.print(table)


@app.command("evaluate")
def evaluate(
    ref: str = typer.Argument(..., help="Candidate version, e.g. credit:4."),
    data: str = typer.Option(..., "--data", help="Dataset ref with the holdout data."),
    label: str = typer.Option(..., "--label", help="Target column."),
    against: str = typer.Option(
        None, "--against", help="Version to compare with, e.g. credit@champion."
    ),
    by: str = typer.Option(None, "--by", help="Segment column."),
    gate: str = typer.Option(None, "--gate", help="e.g. 'roc_auc >= champion.roc_auc - 0.005'."),
    backtest: str = typer.Option(None, "--backtest", help="Time column for back-testing."),
    freq: str = typer.Option("month", "--freq", help="day, week, month or quarter."),
    json: bool = JSON,
) -> None:
    """Evaluate a version on a dataset (against another), with a baseline and a gate."""
    from keel.registry._sdk import evaluate as run_evaluate

    from ._table import Table

    result = run_evaluate(
        ref,
        data=data,
        label=label,
        against=against,
        by=by,
        gate=gate,
        backtest=backtest,
        freq=freq,
    )
    if json:
        print_json(result.to_dict())
    else:
        table = Table(title=f"{result.candidate} on {result.data}", title_justify="left")
        table.add_column("metric")
        sides = list(result.metrics)
        for side in sides:
            table.add_column(side, justify="right")
        keys = sorted({k for m in result.metrics.values() for k in m})
        for key in keys:
            table.add_row(key, *(_num(result.metrics[s].get(key)) for s in sides))
        console.print(table)
        for warning in result.warnings:
            console.print(f"[yellow]warning:[/] {esc(warning)}")
        for line in result.gate_detail:
            console.print(f"  {esc(line)}")
        if result.gate:
            verdict = "[green]passed[/]" if result.passed else "[red]failed[/]"
            console.print(f"gate {verdict}: {esc(result.gate)}")
    if result.gate and not result.passed:
        raise typer.Exit(1)


def _num(value) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


@app.command("card")
def card(
    ref: str = typer.Argument(..., help="The version, e.g. credit:4."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the .md and .html files."),
    json: bool = JSON,
) -> None:
    """Write a model card (Markdown and HTML): lineage, metrics, evaluations, approvals."""
    from keel.registry._card import model_card

    registry = _registry()
    version = registry.get(ref)
    markdown, html = model_card(registry, version.ref)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{version.model}-{version.version}"
    (out / f"{stem}.md").write_text(markdown)
    (out / f"{stem}.html").write_text(html)
    if json:
        print_json(
            {
                "ref": version.ref,
                "markdown": str(out / f"{stem}.md"),
                "html": str(out / f"{stem}.html"),
            }
        )
        return
    console.print(f"wrote {esc(out / stem)}.md and .html")


@app.command("export")
def export(
    ref: str = typer.Argument(..., help="A scikit-learn version, e.g. credit:4."),
    onnx: bool = typer.Option(True, "--onnx", help="Export to ONNX (the only target so far)."),
    data: str = typer.Option(None, "--data", help="Dataset ref to check agreement on."),
    drop: list[str] = typer.Option(None, "--drop", help="Columns of --data that are not inputs."),
    json: bool = JSON,
) -> None:
    """Export to ONNX, check it agrees with the original, and register it as a new version."""
    from keel.registry._export import export_onnx

    version, agreement = export_onnx(_registry(), ref, data=data, drop=list(drop or []))
    if json:
        print_json({**version.to_dict(), "source": ref, "agreement": agreement})
        return
    console.print(
        f"registered {version.ref} (onnx); agrees with {ref} on {agreement:.1%} of the example rows"
    )
