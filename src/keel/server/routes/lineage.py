"""/api/v1/projects/{project}/lineage: the graph around a record, over HTTP."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from keel._lineage_sdk import graph_around
from keel.store.lineage import MAX_DEPTH

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors

__all__ = ["router"]

router = APIRouter(prefix="/projects/{project}", tags=["lineage"], responses=PROJECT_ERRORS)
READ = Depends(require("reader"))
MAX_REF = 300
"""Longest reference: a dataset name (200) with a version, a digest (64) or run:<id>."""


class NodeKey(BaseModel):
    kind: str = Field(examples=["dataset_version"])
    id: str = Field(examples=["3f2a9c0e8b7d4f1a9e6c5b4a3d2e1f00"])


class GraphNode(NodeKey):
    label: str = Field(description="What a person reads.", examples=["credit:v3"])
    details: dict[str, Any] | None = Field(
        None, description="A served request's inputs, prediction and route; a run's commit."
    )


class GraphEdge(BaseModel):
    src: tuple[str, str] = Field(description="[kind, id] the edge starts from.")
    relation: str = Field(examples=["input_to", "produced", "validated_by"])
    dst: tuple[str, str] = Field(description="[kind, id] the edge ends at.")


class Graph(BaseModel):
    """Nodes and edges around a root record; edges read ``src --relation--> dst`` in the
    direction data flows."""

    root: NodeKey
    nodes: list[GraphNode]
    edges: list[GraphEdge]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "root": {"kind": "dataset_version", "id": "d1"},
                    "nodes": [
                        {"kind": "dataset_version", "id": "d1", "label": "credit:v3"},
                        {"kind": "run", "id": "r1", "label": "run baseline (r1)"},
                        {"kind": "model_version", "id": "m1", "label": "credit:1"},
                    ],
                    "edges": [
                        {
                            "src": ["dataset_version", "d1"],
                            "relation": "input_to",
                            "dst": ["run", "r1"],
                        },
                        {
                            "src": ["run", "r1"],
                            "relation": "produced",
                            "dst": ["model_version", "m1"],
                        },
                    ],
                }
            ]
        }
    }


@router.get(
    "/lineage",
    response_model=Graph,
    dependencies=[READ],
    responses=errors({404: "No such project, or no record answers to the reference."}),
)
def get_lineage(
    project: str,
    request: Request,
    ref: str = Query(
        min_length=1,
        max_length=MAX_REF,
        description=(
            "credit:v3, credit@latest, a manifest digest, run:<id>, a run id, or "
            "request:<id> (one served prediction)."
        ),
        examples=["credit:v3"],
    ),
    direction: Literal["up", "down", "both"] = Query(
        "both", description="up: what it came from; down: what came from it."
    ),
    depth: int = Query(20, ge=0, le=MAX_DEPTH, description="Most edges followed from ref."),
) -> JSONResponse:
    """The records upstream, downstream or both of a dataset version or run."""
    store = request.app.state.store
    graph = graph_around(store, project, ref, direction=direction, depth=depth)
    return JSONResponse(graph.to_dict())
