"""Edges between records, and the graph around any record (upstream, downstream or both).

An edge reads ``src --relation--> dst`` in the direction data flows:

- ``dataset_version --input_to--> run``        a run consumed a dataset version
- ``run --produced--> dataset_version``        a run (or step) wrote a dataset version
- ``dataset_version --derived_into--> dataset_version``  a version made from another
- ``run --produced--> model_version``, ``model_version --deployed_as--> deployment``, ...

Every lifecycle concept records its edges through :func:`record_edges`; nothing else
writes the ``lineage_edges`` table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from keel.errors import InvalidInput, NotFound

from . import schema as t
from ._ids import now_ms
from ._store import Store
from .rows import insert_ignore

__all__ = [
    "DIRECTIONS",
    "MAX_DEPTH",
    "Edge",
    "LineageGraph",
    "Node",
    "check_walk",
    "forget_node",
    "lineage_graph",
    "record_edges",
    "require_record",
]

DIRECTIONS = ("up", "down", "both")
MAX_DEPTH = 100
"""Most edges followed from the root in one direction: the longest chain keel writes
(data -> run -> model -> deployment -> prediction -> monitor -> alert -> run) is a dozen."""


@dataclass(frozen=True)
class Node:
    kind: str
    id: str
    label: str = ""
    details: dict = field(default_factory=dict, compare=False, hash=False)
    """What a concept adds about the record (a served prediction's inputs, a run's commit)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.id)


@dataclass(frozen=True)
class Edge:
    src: tuple[str, str]
    relation: str
    dst: tuple[str, str]


@dataclass
class LineageGraph:
    """Nodes and edges around a root record."""

    root: tuple[str, str]
    nodes: dict[tuple[str, str], Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "root": {"kind": self.root[0], "id": self.root[1]},
            "nodes": [
                {"kind": n.kind, "id": n.id, "label": n.label, **_details(n)}
                for n in self.nodes.values()
            ],
            "edges": [
                {"src": list(e.src), "relation": e.relation, "dst": list(e.dst)} for e in self.edges
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> LineageGraph:
        """Read what :meth:`to_dict` wrote (a keel server's answer, say)."""
        try:
            root = (data["root"]["kind"], data["root"]["id"])
            nodes = [
                Node(n["kind"], n["id"], n.get("label", ""), n.get("details") or {})
                for n in data["nodes"]
            ]
            edges = [
                Edge((e["src"][0], e["src"][1]), e["relation"], (e["dst"][0], e["dst"][1]))
                for e in data["edges"]
            ]
        except (KeyError, IndexError, TypeError) as exc:
            raise InvalidInput(f"Not a lineage graph: missing or malformed {exc}.") from exc
        return cls(root, {node.key: node for node in nodes}, edges)

    def upstream(self, key: tuple[str, str]) -> list[Edge]:
        return [e for e in self.edges if e.dst == key]

    def downstream(self, key: tuple[str, str]) -> list[Edge]:
        return [e for e in self.edges if e.src == key]


def _details(node: Node) -> dict:
    return {"details": node.details} if node.details else {}


def record_edges(
    store: Store | None,
    edges: Iterable[tuple[str, str, str, str, str]],
    *,
    conn: sa.Connection | None = None,
) -> None:
    """Record ``(src_kind, src_id, relation, dst_kind, dst_id)`` edges (idempotent), in
    the caller's transaction ``conn`` if given (then ``store`` may be None)."""
    rows = [
        {
            "src_kind": sk,
            "src_id": si,
            "relation": rel,
            "dst_kind": dk,
            "dst_id": di,
            "created_at": now_ms(),
        }
        for sk, si, rel, dk, di in edges
    ]
    if not rows:
        return
    if conn is None:
        if store is None:
            raise ValueError("record_edges needs a store or a connection")
        with store.write() as own:
            insert_ignore(own, t.lineage_edges, rows)
    else:
        insert_ignore(conn, t.lineage_edges, rows)


# The records an edge may name as a run's input, each with its project: (table, parent
# table, parent key) - the parent holds project_id.
_PROJECT_SCOPED = {
    "dataset_version": (t.dataset_versions, t.datasets, "dataset_id"),
    "model_version": (t.model_versions, t.models, "model_id"),
}


def forget_node(conn: sa.Connection, kind: str, id: str) -> None:
    """Drop every edge into or out of ``(kind, id)``, inside the caller's transaction (the
    record itself is being deleted)."""
    le = t.lineage_edges
    conn.execute(
        le.delete().where(
            sa.or_(
                sa.and_(le.c.src_kind == kind, le.c.src_id == id),
                sa.and_(le.c.dst_kind == kind, le.c.dst_id == id),
            )
        )
    )


def require_record(
    conn: sa.Connection, kind: str, id: str, *, project_id: str | None, project: str
) -> None:
    """Refuse an edge to a record that does not exist in the project.

    Raises:
        InvalidInput: ``kind`` is not a kind of record edges can name.
        NotFound: no ``kind`` with ``id`` in the project.
    """
    scoped = _PROJECT_SCOPED.get(kind)
    if scoped is None:
        raise InvalidInput(
            f"A lineage input must be one of {', '.join(_PROJECT_SCOPED)}. Got {kind[:60]!r}."
        )
    table, parent, key = scoped
    found = None
    if project_id is not None:
        found = conn.execute(
            sa.select(table.c.id)
            .join(parent, parent.c.id == table.c[key])
            .where(table.c.id == id, parent.c.project_id == project_id)
        ).scalar()
    if found is None:
        raise NotFound(
            f"No {kind} with id {id[:60]!r} in project {project!r}, so it cannot be recorded "
            "as an input. Log the dataset (or model) first and pass the version it returns."
        )


def check_walk(direction: object, depth: object) -> None:
    """Refuse a direction other than up, down or both, and a depth outside 0..MAX_DEPTH.

    Raises:
        InvalidInput: naming the bad value and the rule.
    """
    if direction not in DIRECTIONS:
        raise InvalidInput(
            f"direction must be one of {', '.join(DIRECTIONS)}. Got {str(direction)[:40]!r}."
        )
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= MAX_DEPTH:
        raise InvalidInput(
            f"depth must be a whole number from 0 to {MAX_DEPTH} (edges followed from the "
            f"root). Got {str(depth)[:40]!r}; lower it, or start from a record nearer the "
            "part of the graph you want."
        )


def lineage_graph(
    store: Store, kind: str, id: str, *, direction: str = "both", depth: int = 20
) -> LineageGraph:
    """The records reachable from ``(kind, id)`` by following edges up, down or both."""
    check_walk(direction, depth)
    e = t.lineage_edges
    graph = LineageGraph((kind, id))
    seen_edges: set[Edge] = set()
    frontier = {(kind, id)}
    visited = set(frontier)
    with store.read() as conn:
        for _ in range(depth):
            if not frontier:
                break
            found: list[Edge] = []
            for step in ("up", "down"):
                if direction not in (step, "both"):
                    continue
                near, far = (e.c.dst_kind, e.c.dst_id), (e.c.src_kind, e.c.src_id)
                if step == "down":
                    near, far = far, near
                match = sa.tuple_(*near).in_(sorted(frontier))
                for row in conn.execute(sa.select(e).where(match)).mappings():
                    found.append(
                        Edge(
                            (row["src_kind"], row["src_id"]),
                            row["relation"],
                            (row["dst_kind"], row["dst_id"]),
                        )
                    )
            next_frontier = set()
            for edge in found:
                if edge not in seen_edges:
                    seen_edges.add(edge)
                    graph.edges.append(edge)
                for key in (edge.src, edge.dst):
                    if key not in visited:
                        visited.add(key)
                        next_frontier.add(key)
            frontier = next_frontier
        labels = _labels(conn, visited)
    graph.nodes = {key: Node(key[0], key[1], labels.get(key, key[1][:12])) for key in visited}
    return graph


def _labels(conn: sa.Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Human names: 'credit:v3' for dataset versions, run names, 'model:4' for models,
    verdicts for validation reports."""
    out: dict[tuple[str, str], str] = {}
    by_kind: dict[str, list[str]] = {}
    for kind, id_ in keys:
        by_kind.setdefault(kind, []).append(id_)
    if ids := by_kind.get("dataset_version"):
        dv, d = t.dataset_versions, t.datasets
        rows = conn.execute(
            sa.select(dv.c.id, d.c.name, dv.c.version)
            .join(d, d.c.id == dv.c.dataset_id)
            .where(dv.c.id.in_(ids))
        )
        out.update({("dataset_version", i): f"{n}:v{v}" for i, n, v in rows})
    if ids := by_kind.get("run"):
        rows = conn.execute(sa.select(t.runs.c.id, t.runs.c.name).where(t.runs.c.id.in_(ids)))
        out.update({("run", i): f"run {n} ({i[:12]})" for i, n in rows})
    if ids := by_kind.get("model_version"):
        mv, m = t.model_versions, t.models
        rows = conn.execute(
            sa.select(mv.c.id, m.c.name, mv.c.version)
            .join(m, m.c.id == mv.c.model_id)
            .where(mv.c.id.in_(ids))
        )
        out.update({("model_version", i): f"{n}:{v}" for i, n, v in rows})
    if ids := by_kind.get("step_run"):
        s, r, p = t.step_runs, t.pipeline_runs, t.pipelines
        rows = conn.execute(
            sa.select(s.c.id, s.c.step, p.c.name)
            .join(r, r.c.id == s.c.pipeline_run_id)
            .join(p, p.c.id == r.c.pipeline_id)
            .where(s.c.id.in_(ids))
        )
        out.update({("step_run", i): f"step {st} of {n}" for i, st, n in rows})
    if ids := by_kind.get("pipeline_run"):
        r, p = t.pipeline_runs, t.pipelines
        rows = conn.execute(
            sa.select(r.c.id, p.c.name, r.c.status)
            .join(p, p.c.id == r.c.pipeline_id)
            .where(r.c.id.in_(ids))
        )
        out.update({("pipeline_run", i): f"run of pipeline {n} ({st})" for i, n, st in rows})
    if ids := by_kind.get("alert"):
        a = t.alerts
        rows = conn.execute(sa.select(a.c.id, a.c.severity, a.c.status).where(a.c.id.in_(ids)))
        out.update({("alert", i): f"{sev} alert ({st})" for i, sev, st in rows})
    if ids := by_kind.get("monitor_result"):
        mr, m = t.monitor_results, t.monitors
        rows = conn.execute(
            sa.select(mr.c.id, m.c.name, mr.c.passed)
            .join(m, m.c.id == mr.c.monitor_id)
            .where(mr.c.id.in_(ids))
        )
        out.update(
            {("monitor_result", i): f"{n}: {'passed' if ok else 'BREACHED'}" for i, n, ok in rows}
        )
    if ids := by_kind.get("validation_report"):
        r = t.validation_reports
        rows = conn.execute(sa.select(r.c.id, r.c.passed, r.c.summary).where(r.c.id.in_(ids)))
        for i, passed, summary in rows:
            schema = (summary or {}).get("schema") or "a schema"
            verdict = "passed" if passed else "FAILED"
            out[("validation_report", i)] = f"validation against {schema}: {verdict}"
    return out
