"""``keel.lineage(ref)``: the graph around any record, from a reference a user can type."""

from __future__ import annotations

import re

from keel.errors import InvalidInput, NotFound
from keel.store.lineage import LineageGraph, lineage_graph

__all__ = ["lineage", "resolve_node"]

_ID = re.compile(r"^[0-9a-f]{32}$")


def resolve_node(ref: str) -> tuple[str, str]:
    """(kind, id) for ``run:<id>``, a run id, or a dataset reference (``credit:v3``)."""
    from keel.data import dataset_service
    from keel.tracking import default_tracker

    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput("Give a reference such as 'credit:v3', 'credit@latest' or 'run:<id>'.")
    ref = ref.strip()
    kind, _, rest = ref.partition(":")
    if kind == "run" and rest:
        return ("run", default_tracker().backend.get_run(rest).id)
    if _ID.match(ref):
        try:
            return ("run", default_tracker().backend.get_run(ref).id)
        except NotFound:
            pass
    return ("dataset_version", dataset_service().resolve(ref).id)


def lineage(ref: str, *, direction: str = "both", depth: int = 20) -> LineageGraph:
    """The records upstream (``up``), downstream (``down``) or both of ``ref``.

    Example::

        graph = keel.lineage("credit:v3", direction="down")
        [node.label for node in graph.nodes.values()]
    """
    from keel.data import dataset_service

    kind, id_ = resolve_node(ref)
    return lineage_graph(dataset_service().store, kind, id_, direction=direction, depth=depth)
