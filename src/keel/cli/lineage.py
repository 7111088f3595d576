"""``keel lineage REF``: the graph around a dataset version or run, as a tree."""

from __future__ import annotations

import typer

from ._output import console, esc, print_json

__all__ = ["register"]


def lineage(
    ref: str = typer.Argument(
        ..., help="credit:v3, credit@latest, run:<id>, a run id, or request:<id> (a prediction)."
    ),
    up: bool = typer.Option(False, "--up", help="Only what it came from."),
    down: bool = typer.Option(False, "--down", help="Only what came from it."),
    json: bool = typer.Option(False, "--json", help="Print nodes and edges as JSON."),
) -> None:
    """Show where a record came from and what was made from it."""
    from rich.tree import Tree

    from keel._lineage_sdk import lineage as build

    direction = "up" if up and not down else "down" if down and not up else "both"
    graph = build(ref, direction=direction)
    if json:
        print_json(graph.to_dict())
        return
    root = graph.nodes[graph.root]
    tree = Tree(f"[bold]{esc(root.label)}[/] [dim]{esc(root.kind)}[/]{_facts(root)}")
    if direction in ("up", "both"):
        _grow(tree, graph, graph.root, upstream=True, seen={graph.root})
    if direction in ("down", "both"):
        _grow(tree, graph, graph.root, upstream=False, seen={graph.root})
    console.print(tree)


def _grow(branch, graph, key, *, upstream: bool, seen: set) -> None:
    edges = graph.upstream(key) if upstream else graph.downstream(key)
    for edge in edges:
        other = edge.src if upstream else edge.dst
        node = graph.nodes[other]
        arrow = "⬑" if upstream else "→"
        child = branch.add(
            f"{arrow} [italic]{esc(edge.relation)}[/] {esc(node.label)} [dim]{esc(node.kind)}[/]"
            + _facts(node)
        )
        if other not in seen:
            seen.add(other)
            _grow(child, graph, other, upstream=upstream, seen=seen)


def _facts(node) -> str:
    """A node's details on one line (a run's commit, a request's inputs and prediction)."""
    if not node.details:
        return ""
    shown = []
    for name, value in node.details.items():
        if value is None or value == [] or value == {}:
            continue
        text = str(value)
        shown.append(f"{name}={text if len(text) <= 200 else text[:197] + '...'}")
    return "\n  [dim]" + esc(", ".join(shown)) + "[/]" if shown else ""


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage)
