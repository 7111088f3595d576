"""``keel init`` and ``keel info``: create a project, show where it lives and what it holds."""

from __future__ import annotations

from pathlib import Path

import typer

from ._output import console, esc, print_json

__all__ = ["register"]


def init(
    path: Path = typer.Argument(Path("."), help="Folder to create the project in."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create a keel project (.keel/ with a database and objects) in PATH."""
    from keel.config import setting
    from keel.store import init_project

    config = None
    # a store named in the environment (KEEL_URI, KEEL_OBJECTS) is initialised there,
    # instead of a .keel/ in PATH
    if setting("uri", toml=False) or setting("objects", toml=False):
        from keel.config import resolve

        config = resolve(cwd=path, require_store=False)
    store = init_project(path, config)
    info = {"uri": store.config.uri, "objects": store.objects.url, "project": store.config.project}
    store.close()
    if json:
        print_json(info)
        return
    console.print(f"[green]Initialised keel project[/] in {esc(Path(path).resolve())}")
    console.print(esc(f"  metadata: {info['uri']}\n  objects:  {info['objects']}"))


def info(json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Show where the store is, the settings in force and how many things it holds."""
    from rich.text import Text

    from keel._version import __version__
    from keel.config import current
    from keel.store import Store

    from ._table import Table

    config = current()
    with Store.open(config, create=False) as store:  # a reading command creates nothing
        counts = store.counts()
        objects = list(store.objects.digests())
    data = {
        "version": __version__,
        "project_root": str(config.project_root) if config.project_root else None,
        "uri": store.engine.url.render_as_string(hide_password=True),
        "objects": store.objects.url,
        "project": config.project,
        "sources": dict(config.sources),
        "counts": {k: v for k, v in counts.items() if v},
        "stored_objects": len(objects),
    }
    if json:
        print_json(data)
        return
    table = Table(title=f"keel {__version__}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for name in ("uri", "objects"):
        source = Text(f"({config.sources.get(name)})", style="dim")
        table.add_row(
            "metadata" if name == "uri" else name, Text.assemble(data[name], "  ", source)
        )
    table.add_row("project", config.project)
    table.add_row("stored objects", str(len(objects)))
    console.print(table)
    counted = Table(title="Records", title_justify="left")
    counted.add_column("kind")
    counted.add_column("count", justify="right")
    for name, n in counts.items():
        if n:
            counted.add_row(name, f"{n:,}")
    console.print(counted)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("info")(info)
