"""``keel.lineage(ref)``: the graph around any record, from a reference a user can type."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidInput, NotFound
from keel.store.lineage import LineageGraph, check_walk, lineage_graph

if TYPE_CHECKING:
    from keel.store import Store

__all__ = ["graph_around", "lineage", "node_in", "resolve_node"]

_ID = re.compile(r"^[0-9a-f]{32}$")


def resolve_node(
    ref: str, *, runs: Any = None, datasets: Any = None, models: Any = None
) -> tuple[str, str]:
    """(kind, id) for ``run:<id>``, a run id, a dataset reference (``credit:v3``) or, when
    no dataset has that name, a model version (``credit-default:2``, ``credit@champion``),
    looked up in ``runs``, ``datasets`` and ``models`` (the default client's by default)."""
    if runs is None or datasets is None:
        from keel.client import default_client

        client = default_client()
        runs, datasets = runs or client.runs, datasets or client.datasets
        models = models or client.models
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
        try:
            return ("dataset_version", datasets.resolve(ref).id)
        except NotFound:
            raise NotFound(
                f"No run {ref!r}, and no dataset version whose digest starts with it, in "
                f"project {getattr(datasets, 'project', '?')!r}. List runs with 'keel runs ls' "
                "and datasets with 'keel data ls'."
            ) from None
    try:
        return ("dataset_version", datasets.resolve(ref).id)
    except NotFound as missing:
        if models is None or not _names_a_model(models, ref):
            raise
        try:
            return ("model_version", models.get(ref).id)
        except NotFound:
            raise missing from None


def _names_a_model(models: Any, ref: str) -> bool:
    name = ref.split("@", 1)[0].split(":", 1)[0]
    try:
        return any(m["name"] == name for m in models.list())
    except NotFound:
        return False


def node_in(store: Store, project: str, ref: str) -> tuple[str, str]:
    """:func:`resolve_node` over the runs and dataset versions of ``project`` in ``store``."""
    from keel.data import DatasetService
    from keel.registry import RegistryService
    from keel.tracking import SqlTracking

    return resolve_node(
        ref,
        runs=SqlTracking(store, project=project),
        datasets=DatasetService(store, project=project),
        models=RegistryService(store, project=project),
    )


def graph_around(
    store: Store, project: str, ref: str, *, direction: str = "both", depth: int = 20
) -> LineageGraph:
    """The lineage graph around ``ref`` in ``project`` of ``store``: what a local client
    and a keel server both answer for ``lineage(ref)``."""
    check_walk(direction, depth)  # before any look-up: a bad walk is refused as such
    if isinstance(ref, str) and ref.strip().startswith("request:"):
        from keel._request_lineage import request_graph

        return request_graph(store, project, ref.strip().removeprefix("request:"), depth=depth)
    kind, id_ = node_in(store, project, ref)
    return lineage_graph(store, kind, id_, direction=direction, depth=depth)


def lineage(ref: str, *, direction: str = "both", depth: int = 20) -> LineageGraph:
    """The records upstream (``up``), downstream (``down``) or both of ``ref``.

    ``request:<id>`` is one served request: the model version that answered (with its run,
    commit, environment and training data upstream), the inputs as served and the route.

    Example::

        graph = keel.lineage("credit:v3", direction="down")
        [node.label for node in graph.nodes.values()]
    """
    from keel.client import default_client

    return default_client().lineage(ref, direction=direction, depth=depth)
