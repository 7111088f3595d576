"""``keel.lineage(ref)``: the graph around any record, from a reference a user can type."""

from __future__ import annotations

import re
from typing import Any

from keel.errors import InvalidInput, NotFound
from keel.store.lineage import LineageGraph

__all__ = ["lineage", "resolve_node"]

_ID = re.compile(r"^[0-9a-f]{32}$")


def resolve_node(ref: str, *, runs: Any = None, datasets: Any = None) -> tuple[str, str]:
    """(kind, id) for ``run:<id>``, a run id, or a dataset reference (``credit:v3``), looked
    up in ``runs`` and ``datasets`` (the default client's by default)."""
    if runs is None or datasets is None:
        from keel.client import default_client

        client = default_client()
        runs, datasets = runs or client.runs, datasets or client.datasets
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput("Give a reference such as 'credit:v3', 'credit@latest' or 'run:<id>'.")
    ref = ref.strip()
    kind, _, rest = ref.partition(":")
    if kind == "run" and rest:
        return ("run", runs.get_run(rest).id)
    if _ID.match(ref):
        try:
            return ("run", runs.get_run(ref).id)
        except NotFound:
            pass
    return ("dataset_version", datasets.resolve(ref).id)


def lineage(ref: str, *, direction: str = "both", depth: int = 20) -> LineageGraph:
    """The records upstream (``up``), downstream (``down``) or both of ``ref``.

    Example::

        graph = keel.lineage("credit:v3", direction="down")
        [node.label for node in graph.nodes.values()]
    """
    from keel.client import default_client

    return default_client().lineage(ref, direction=direction, depth=depth)
