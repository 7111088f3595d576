"""Checks on loaded scikit-learn objects whose arrays are indexed without bounds checks.

A decision tree walks its nodes by the child indices stored in the file, and scikit-learn's
compiled code trusts them: one child index out of range and ``predict`` reads or writes
outside the array (a segmentation fault at best). A type on the allow-list can still carry
such arrays, so after loading every tree, histogram-gradient-boosting predictor and
neighbour tree in the model is checked: children point forward inside the node array
(which also rules out cycles), features exist, leaves are where the traversal expects them.
Each check is a handful of vectorised NumPy comparisons per tree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keel.errors import IntegrityError

__all__ = ["check_structure"]

_LEAF = -1  # scikit-learn's TREE_LEAF
_MAX_DEPTH_WALKED = 64


def check_structure(model: object, *, source: str) -> None:
    """Raise :class:`IntegrityError` if any tree inside ``model`` would index out of range.

    Args:
        model: the object skops loaded.
        source: what to name in the message (the model file).
    """
    for obj, n_features in _walk(model):
        problem = _problem(obj, n_features)
        if problem:
            raise IntegrityError(
                f"{source} holds a {type(obj).__name__} whose arrays are inconsistent: "
                f"{problem}. scikit-learn would read outside its memory when predicting, so "
                "the model is refused; the file was damaged or crafted. Register the model "
                "again from its training run."
            )


def _walk(root: object):
    """Every object reachable from ``root`` through attributes and containers, with the
    nearest enclosing estimator's ``n_features_in_`` (or None)."""
    seen: set[int] = set()
    stack: list[tuple[Any, int | None, int]] = [(root, None, 0)]
    while stack:
        obj, n_features, depth = stack.pop()
        if id(obj) in seen or depth > _MAX_DEPTH_WALKED:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray | str | bytes | int | float | bool | type(None)):
            continue
        yield obj, n_features
        n_features = getattr(obj, "n_features_in_", n_features)
        if isinstance(obj, dict):
            children = list(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            children = list(obj)
        else:
            children = list(getattr(obj, "__dict__", {}).values())
        stack.extend((child, n_features, depth + 1) for child in children)


def _problem(obj: object, n_features: int | None) -> str | None:
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if name == "sklearn.tree._tree.Tree":
        return _tree_problem(obj)
    if name == "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor":
        return _predictor_problem(obj, n_features)
    if name in ("sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree"):
        return _neighbors_problem(obj)
    return None


def _children_problem(left: np.ndarray, right: np.ndarray, internal: np.ndarray) -> str | None:
    n = len(left)
    index = np.arange(n)
    for side, child in (("left", left), ("right", right)):
        bad = internal & ((child <= index) | (child >= n))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            return f"node {i} has {side} child {int(child[i])}, expected a later node below {n}"
    return None


def _tree_problem(tree: Any) -> str | None:
    n = int(tree.node_count)
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    if n < 1 or len(left) != n or len(right) != n or len(feature) != n:
        return f"node_count {n} does not match the node array ({len(left)} nodes)"
    leaf = (left == _LEAF) & (right == _LEAF)
    internal = ~leaf
    problem = _children_problem(left, right, internal)
    if problem:
        return problem
    bad = internal & ((feature < 0) | (feature >= tree.n_features))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return f"node {i} splits on feature {int(feature[i])} of {tree.n_features}"
    value = np.asarray(tree.value)
    expected = (n, tree.n_outputs, int(np.max(tree.n_classes)))
    if value.shape != expected:
        return f"values have shape {value.shape}, expected {expected}"
    return None


def _predictor_problem(predictor: Any, n_features: int | None) -> str | None:
    nodes = predictor.nodes
    n = len(nodes)
    if n < 1:
        return "it has no nodes"
    internal = ~nodes["is_leaf"].astype(bool)
    problem = _children_problem(
        nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), internal
    )
    if problem:
        return problem
    feature = nodes["feature_idx"].astype(np.int64)
    limit = n_features if n_features is not None else np.iinfo(np.int64).max
    bad = internal & ((feature < 0) | (feature >= limit))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return f"node {i} splits on feature {int(feature[i])} of {n_features}"
    categorical = internal & nodes["is_categorical"].astype(bool)
    bitsets = min(len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets))
    bitset = nodes["bitset_idx"].astype(np.int64)
    bad = categorical & ((bitset < 0) | (bitset >= bitsets))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return f"node {i} uses category bitset {int(bitset[i])} of {bitsets}"
    return None


def _neighbors_problem(tree: Any) -> str | None:
    data, idx_array, node_data, node_bounds = tree.get_arrays()
    n_samples, n_nodes = len(data), len(node_data)
    if len(idx_array) != n_samples:
        return f"{len(idx_array)} indices for {n_samples} points"
    if n_samples and ((idx_array < 0) | (idx_array >= n_samples)).any():
        return f"an index outside 0..{n_samples - 1}"
    start, end = node_data["idx_start"], node_data["idx_end"]
    if ((start < 0) | (end > n_samples) | (start > end)).any():
        return f"a node's range falls outside 0..{n_samples}"
    index = np.arange(n_nodes)
    must_be_leaf = 2 * index + 2 >= n_nodes
    if (must_be_leaf & (node_data["is_leaf"] == 0)).any():
        return "a node without children is not marked as a leaf"
    if node_bounds.ndim != 3 or node_bounds.shape[1] != n_nodes:
        return f"node bounds of shape {node_bounds.shape} for {n_nodes} nodes"
    if data.ndim != 2 or node_bounds.shape[2] != data.shape[1]:
        return "node bounds and points have different numbers of features"
    return None
