"""``keel lineage request:ID``: where one served prediction came from.

The logged request (inputs as served, prediction, route, deployment) is the root; the
model version that answered and everything upstream of it (its run with the code commit
and environment, the dataset versions the run read) come from the lineage graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel.errors import InvalidInput, NotFound
from keel.store.lineage import Edge, LineageGraph, Node, lineage_graph

if TYPE_CHECKING:
    from keel.store import Store

__all__ = ["request_graph"]


def request_graph(store: Store, project: str, request_id: str, *, depth: int = 20) -> LineageGraph:
    """The lineage of one logged request of ``project``.

    Raises:
        InvalidInput: an empty request id.
        NotFound: the request was not logged (sampled out, logging off, not flushed yet).
    """
    from keel.registry import RegistryService
    from keel.serving import PredictionStore

    if not request_id:
        raise InvalidInput("Give a request id after 'request:', e.g. request:01a2...")
    found = PredictionStore(store, project=project).find_request(request_id)
    if found is None:
        raise NotFound(
            f"No logged request {request_id[:60]!r} in project {project!r}: it was sampled out, "
            "logged by a deployment with logging off, or not flushed yet (the model server "
            "writes every few seconds). Query the lake's predictions table to list requests."
        )
    root = ("prediction", request_id)
    details = {k: v for k, v in found.items() if k not in ("request_id",)}
    node = Node(
        "prediction", request_id, f"request {request_id[:12]} ({found['deployment']})", details
    )
    try:
        version = RegistryService(store, project=project).get(found["model_version"])
    except (NotFound, InvalidInput):  # a model served from outside the registry
        return LineageGraph(root, {root: node})
    graph = lineage_graph(
        store, "model_version", version.id, direction="up", depth=max(depth - 1, 0)
    )
    answered = Edge(("model_version", version.id), f"answered via {found.get('route')}", root)
    graph.root = root
    graph.edges.append(answered)
    graph.nodes[root] = node
    _add_run_details(store, project, graph)
    return graph


def _add_run_details(store: Store, project: str, graph: LineageGraph) -> None:
    """Each run's commit and environment, so the graph answers 'which code made this'."""
    from keel.tracking import SqlTracking

    runs = SqlTracking(store, project=project)
    for key, node in list(graph.nodes.items()):
        if node.kind != "run":
            continue
        try:
            run = runs.get_run(node.id)
        except NotFound:
            continue
        graph.nodes[key] = Node(node.kind, node.id, node.label, _run_details(run))


def _run_details(run: Any) -> dict[str, Any]:
    git = (run.code or {}).get("git") or {}
    env = run.environment or {}
    return {
        "commit": git.get("commit"),
        "branch": git.get("branch"),
        "dirty": git.get("dirty"),
        "python": (env.get("python") or {}).get("version"),
        "platform": (env.get("os") or {}).get("platform"),
        "packages": len(env.get("packages") or {}),
    }
