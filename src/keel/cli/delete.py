"""Delete and restore from the command line: ``keel runs delete|restore``, ``keel
experiments delete|restore``, ``keel data delete``, ``keel models delete``.

The commands join the groups of their concepts (:func:`register`); the ``experiments``
group is created only if no other module made it.
"""

from __future__ import annotations

import typer

from ._output import console, count, esc, print_json

__all__ = ["register"]

JSON = typer.Option(False, "--json", help="Print the result as JSON.")
FORCE = typer.Option(
    False, "--force", help="Delete even if something holds it; says exactly what breaks."
)


def _client():
    from keel.client import default_client

    return default_client()


def _run_id(id_or_prefix: str) -> str:
    """The whole id of the run a person typed (an unambiguous prefix; deleted runs too)."""
    from keel.tracking import resolve_run

    return resolve_run(_client().runs, id_or_prefix).id


def runs_delete(
    run_id: str = typer.Argument(..., help="Run id or unique prefix."), json: bool = JSON
):
    """Delete a run: it vanishes from listings and searches ('keel runs ls --deleted' shows
    it) and can be restored until 'keel gc' purges it after the retention period."""
    result = _client().runs.delete_run(_run_id(run_id))
    _done(
        result,
        json,
        f"deleted run {result['id']} ({result['name']}); restore it with "
        f"'keel runs restore {result['id'][:12]}'",
    )


def runs_restore(
    run_id: str = typer.Argument(..., help="Run id or unique prefix."), json: bool = JSON
):
    """Restore a deleted run (before 'keel gc' purges it)."""
    result = _client().runs.restore_run(_run_id(run_id))
    _done(result, json, f"restored run {result['id']} ({result['name']})")


def experiments_delete(name: str = typer.Argument(..., help="Experiment name."), json: bool = JSON):
    """Delete an experiment and so hide its runs; restorable until 'keel gc' purges it."""
    result = _client().runs.delete_experiment(name)
    _done(
        result,
        json,
        f"deleted experiment {name} ({result['runs']} runs hidden); restore it "
        f"with 'keel experiments restore {name}'",
    )


def experiments_restore(
    name: str = typer.Argument(..., help="Experiment name."), json: bool = JSON
):
    """Restore a deleted experiment and its runs."""
    result = _client().runs.restore_experiment(name)
    _done(result, json, f"restored experiment {name} ({result['runs']} runs)")


def data_delete(
    ref: str = typer.Argument(..., help="An explicit version, e.g. credit:v2."),
    force: bool = FORCE,
    json: bool = JSON,
):
    """Delete a dataset version nothing protected holds (a tag, a model trained on it, ...).

    Refused with the list of what holds it; --force deletes it anyway and lists what broke.
    Its objects are reclaimed by 'keel gc --objects' after the grace period.
    """
    _deleted(_client().datasets.delete(ref, force=force), json)


def models_delete(
    ref: str = typer.Argument(..., help="An explicit version, e.g. credit:3."),
    force: bool = FORCE,
    json: bool = JSON,
):
    """Delete a model version nothing protected holds (an alias, a deployment, ...).

    Refused with the list of what holds it; --force deletes it anyway and lists what broke.
    Its package is reclaimed by 'keel gc --objects' after the grace period.
    """
    _deleted(_client().models.delete(ref, force=force), json)


def _done(result: dict, json: bool, message: str) -> None:
    if json:
        print_json(result)
    else:
        console.print(esc(message), highlight=False)


def _deleted(result, json: bool) -> None:
    if json:
        print_json(result.to_dict())
        return
    kind = result.kind.replace("_", " ")
    console.print(f"deleted {kind} {esc(result.ref)}", highlight=False)
    for line in result.broke:
        console.print(f"[yellow]broke:[/] {esc(line)}", highlight=False)
    console.print(
        f"[dim]{count(len(result.objects), 'object')} it held "
        f"{'is' if len(result.objects) == 1 else 'are'} reclaimed by 'keel gc --objects' "
        "once unreferenced and past the grace period[/]"
    )


def _group(app: typer.Typer, name: str, help: str) -> typer.Typer:
    """The sub-app ``name`` of ``app``, made (and added) only if absent."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group


def register(app: typer.Typer) -> None:
    """Add the delete and restore commands to the concept groups of ``app``."""
    runs = _group(app, "runs", "List, show, compare and reproduce tracked runs.")
    runs.command("delete")(runs_delete)
    runs.command("restore")(runs_restore)
    experiments = _group(app, "experiments", "List, delete and restore experiments.")
    experiments.command("delete")(experiments_delete)
    experiments.command("restore")(experiments_restore)
    _group(app, "data", "Version, inspect, compare and fetch datasets.").command("delete")(
        data_delete
    )
    _group(app, "models", "Register, promote, approve and roll back models.").command("delete")(
        models_delete
    )
