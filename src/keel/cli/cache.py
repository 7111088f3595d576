"""``keel cache``: the room this machine's client cache takes, and clearing it."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from ._output import console, esc, print_json

__all__ = ["app"]

app = typer.Typer(
    help="Show and clear the model packages kept in the client cache (KEEL_CACHE_DIR/models).",
    no_args_is_help=True,
)


def _rows(packages: list) -> list[dict]:
    return [
        {"digest": p.digest, "files": p.files, "bytes": p.bytes, "modified": p.modified}
        for p in packages
    ]


def _table(title: str, packages: list) -> None:
    from ._table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("package")
    table.add_column("files", justify="right")
    table.add_column("bytes", justify="right")
    table.add_column("written (UTC)")
    for p in packages:
        when = datetime.fromtimestamp(p.modified, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(esc(p.digest), f"{p.files:,}", f"{p.bytes:,}", when)
    console.print(table)


@app.command("size")
def size(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the cached model packages and the bytes they take."""
    from keel.registry._disk_cache import cached_packages, model_cache_folder

    folder = model_cache_folder()
    packages = cached_packages(folder)
    total = sum(p.bytes for p in packages)
    if json:
        print_json({"folder": str(folder), "bytes": total, "packages": _rows(packages)})
        return
    if packages:
        _table("Cached model packages", packages)
    console.print(f"{len(packages)} packages, {total:,} bytes in {esc(str(folder))}")


@app.command("clear")
def clear(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; remove nothing."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Remove every cached model package (the next load downloads its files again)."""
    from keel.registry._disk_cache import clear_model_cache, model_cache_folder

    folder = model_cache_folder()
    removed = clear_model_cache(folder, dry_run=dry_run)
    freed = sum(p.bytes for p in removed)
    if json:
        print_json(
            {"folder": str(folder), "dry_run": dry_run, "bytes_freed": freed}
            | {"removed": _rows(removed)}
        )
        return
    if removed:
        _table("Packages to remove" if dry_run else "Packages removed", removed)
    verb = "would remove" if dry_run else "removed"
    console.print(f"{verb} {len(removed)} packages, {freed:,} bytes from {esc(str(folder))}")
    if dry_run:
        console.print("[dim]dry run: nothing was changed[/]")
