"""Lineage: the graph that ties data, runs, models, deployments and predictions together."""

from ._graph import Edge, LineageGraph, Node, lineage_graph, record_edges

__all__ = ["Edge", "LineageGraph", "Node", "lineage_graph", "record_edges"]
