"""``keel init`` and ``keel info``: create a project, show where it lives and what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._output import console, esc, print_json

if TYPE_CHECKING:
    from keel.config import Config
    from keel.store import Store

__all__ = ["register"]


def init(
    path: Path = typer.Argument(Path("."), help="Folder to create the project in."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create a keel project (.keel/ with a database and objects) in PATH.

    Run again on an existing project, it says so and changes nothing (as ``git init`` does).
    """
    from keel.config import setting
    from keel.store import init_project

    config = None
    # a store named in the environment (KEEL_URI, KEEL_OBJECTS) is initialised there,
    # instead of a .keel/ in PATH
    if setting("uri", toml=False) or setting("objects", toml=False):
        from keel.config import resolve

        config = resolve(cwd=path, require_store=False)
    existing = _existing_store(path, config)
    if existing is not None:
        with existing:
            info = _already_initialised(existing)
        if json:
            print_json(info)
            return
        console.print(
            f"Keel project {esc(repr(info['project']))} is already initialised in "
            f"{esc(info['uri'])}; nothing changed."
        )
        console.print(esc(f"  metadata: {info['uri']}\n  objects:  {info['objects']}"))
        return
    store = init_project(path, config)
    info = {
        "uri": _where(store),
        "objects": store.objects.url,
        "project": store.config.project,
        "created": True,
    }
    store.close()
    if json:
        print_json(info)
        return
    console.print(f"[green]Initialised keel project[/] in {esc(Path(path).resolve())}")
    console.print(esc(f"  metadata: {info['uri']}\n  objects:  {info['objects']}"))


def _existing_store(path: Path, config: Config | None) -> Store | None:
    """The keel store ``init`` would create, opened without creating anything; None if absent.

    A store with no project yet (an init stopped half-way) counts as absent, so init
    finishes it.
    """
    from keel.config import DATABASE_FILE, PROJECT_DIR, resolve
    from keel.errors import StoreUnavailable
    from keel.store import Store

    if config is None:
        keel_dir = Path(path).expanduser().resolve() / PROJECT_DIR
        if not (keel_dir / DATABASE_FILE).exists():
            return None
        config = resolve(
            cwd=keel_dir.parent,
            uri=f"sqlite:///{keel_dir / DATABASE_FILE}",
            objects=str(keel_dir / "objects"),
        )
    elif config.is_remote:
        return None  # a keel server: init_project gives its own answer
    try:
        store = Store.open(config, create=False)
    except StoreUnavailable:
        return None  # nothing there yet (an empty database, a missing file)
    if not store.projects():
        store.close()
        return None
    return store


def _already_initialised(store: Store) -> dict[str, object]:
    """What an existing store holds, for a repeated ``init``.

    Raises:
        AlreadyExists: the store does not hold the project asked for (KEEL_PROJECT or
            keel.toml), which a repeated init must not create silently.
    """
    from keel.store import already_initialised

    project = store.config.project
    if store.find_project_id(project) is None:
        raise already_initialised(store)
    return {
        "uri": _where(store),
        "objects": store.objects.url,
        "project": project,
        "created": False,
    }


def _where(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=True)


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
