"""``keel data add``, ``pull`` and ``status``: data versioned beside the code, DVC-style.

The typer side only: what the commands do and print is in :mod:`._workspace_run`, which
the entry point also runs directly for ``add`` and ``status`` (start-up time is part of
every one of these commands, and ``keel data status`` should answer in a blink).
"""

from __future__ import annotations

from pathlib import Path

import typer

from . import _workspace_run as run

__all__ = ["register"]


def add(
    path: Path = typer.Argument(..., help="File or folder to version (inside the project)."),
    name: str = typer.Option(
        None, "--name", "-n", help="Dataset name (default: the pointer's, else the file name)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Version PATH as a dataset and write PATH.keel, a pointer to commit with your code.

    Only files changed since keel last saw them are read. PATH is added to the
    .gitignore beside it, so git keeps the pointer and keel keeps the bytes.
    """
    run.add(path, name=name, json=json)


def pull(
    paths: list[Path] = typer.Argument(
        None, help="Data paths or pointer files (default: every pointer in the project)."
    ),
    force: bool = typer.Option(
        False, "--force", "-f", help="Overwrite files that differ from their version."
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Restore the files every pointer (PATH.keel) names, from the object store.

    Files that already match are skipped; files that differ are kept unless --force.
    Every file written is verified against its digest.
    """
    run.pull(paths or (), force=force, json=json)


def status(
    paths: list[Path] = typer.Argument(
        None, help="Data paths or pointer files (default: every pointer in the project)."
    ),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    exit_code: bool = typer.Option(
        False,
        "--exit-code",
        help="Exit 1 when any path was added to, modified or is missing (for CI gates).",
    ),
) -> None:
    """Show files added, modified or removed on disk since each pointer's version.

    Unchanged files are recognised by their size, mtime and inode, without reading them.
    With --exit-code the command exits 1 when anything changed, 0 when all is clean (as
    'git diff --exit-code' does); the output is the same.
    """
    code = run.status(paths or (), json=json, exit_code=exit_code)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``add``, ``pull`` and ``status`` to the ``keel data`` group."""
    app.command("add")(add)
    app.command("pull")(pull)
    app.command("status")(status)
