"""Per-column drift tests over two sides (reference, current), vectorised with NumPy/SciPy.

Each test reproduces its reference implementation (``scipy.stats.ks_2samp``,
``scipy.stats.chisquare``, ``scipy.stats.wasserstein_distance``,
``scipy.spatial.distance.jensenshannon``) and Evidently's way of applying it: how the
expected counts are scaled, how numeric columns are binned, when a score counts as drift.

======================  ===========  =================  =========================
method                  kinds        default threshold  drifted when
======================  ===========  =================  =========================
``ks``                  numeric      0.05               p-value <= threshold
``chisquare``           both         0.05               p-value < threshold
``z``                   both         0.05               p-value < threshold
``wasserstein``         numeric      0.1                distance / std >= threshold
``jensenshannon``       both         0.1                distance >= threshold
``psi``                 both         0.1                PSI >= threshold
======================  ===========  =================  =========================

"both" means numeric columns are compared as value counts (chi-square, Z) or binned
(Jensen-Shannon, PSI: into Sturges' bins over both sides' range when the reference has
more than 20 distinct values, else by value).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special, stats

from keel.monitoring._sides import CategoricalSide, NumericSide

__all__ = ["METHODS", "DriftScore", "Method", "run_method"]

Side = NumericSide | CategoricalSide
KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp computes the exact p-value up to this size
MIN_STD = 0.001  # Evidently's floor on the reference std that normalises Wasserstein


@dataclass(frozen=True)
class DriftScore:
    """The result of one drift test on one column.

    Attributes:
        method: the test's name (``ks``, ``chisquare``, ...).
        score: p-value for ``ks``, ``chisquare`` and ``z``; a distance otherwise.
        threshold: the threshold the score was compared with.
        drifted: whether the score crosses the threshold.
        details: the test's statistic and anything else worth showing (JSON-ready).
    """

    method: str
    score: float
    threshold: float
    drifted: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """A drift test: its name, the kinds it tests, its default threshold and its rule."""

    name: str
    kinds: tuple[str, ...]
    threshold: float
    compare: str  # "<", "<=" (p-values) or ">=" (distances)
    func: Callable[[Side, Side], tuple[float, dict[str, Any]]]
    title: str

    def drifted(self, score: float, threshold: float) -> bool:
        """Whether ``score`` counts as drift against ``threshold``."""
        if self.compare == "<":
            return bool(score < threshold)
        if self.compare == "<=":
            return bool(score <= threshold)
        return bool(score >= threshold)


def run_method(method: Method, ref: Side, cur: Side, threshold: float | None) -> DriftScore:
    """Run ``method`` on the two sides; ``threshold`` None means the method's default."""
    limit = method.threshold if threshold is None else float(threshold)
    score, details = method.func(ref, cur)
    return DriftScore(method.name, float(score), limit, method.drifted(score, limit), details)


# Counts over the union of both sides' values


def aligned_counts(ref: Side, cur: Side) -> tuple[list[Any] | np.ndarray, np.ndarray, np.ndarray]:
    """Both sides' counts over the union of their values (ref first, then new values)."""
    if isinstance(ref, NumericSide) and isinstance(cur, NumericSide):
        keys = np.union1d(ref.values, cur.values)
        ref_counts = np.zeros(len(keys), np.int64)
        cur_counts = np.zeros(len(keys), np.int64)
        ref_counts[np.searchsorted(keys, ref.values)] = ref.weights
        cur_counts[np.searchsorted(keys, cur.values)] = cur.weights
        return keys, ref_counts, cur_counts
    ref_keys, ref_counts = _as_counts(ref)
    cur_keys, cur_counts = _as_counts(cur)
    index = {key: i for i, key in enumerate(ref_keys)}
    new = [key for key in cur_keys if key not in index]
    for key in new:
        index[key] = len(index)
    ref_all = np.zeros(len(index), np.int64)
    cur_all = np.zeros(len(index), np.int64)
    ref_all[: len(ref_keys)] = ref_counts
    cur_all[[index[key] for key in cur_keys]] = cur_counts
    return [*ref_keys, *new], ref_all, cur_all


def _as_counts(side: Side) -> tuple[list[Any], np.ndarray]:
    if isinstance(side, CategoricalSide):
        return side.keys, side.counts
    return side.values.tolist(), side.weights


def _category_changes(keys: Any, ref_counts: np.ndarray, cur_counts: np.ndarray) -> dict:
    new = [keys[i] for i in np.flatnonzero(ref_counts == 0)[:20]]
    gone = [keys[i] for i in np.flatnonzero(cur_counts == 0)[:20]]
    return {"new_values": _plain(new), "missing_values": _plain(gone)}


def _plain(values: list[Any]) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values]


# The tests


def cdf_gap(ref: NumericSide, cur: NumericSide) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' points merged in order, and ``F_ref - F_cur`` just after each point.

    Both samples are sorted already, so they are merged by two ``searchsorted`` calls
    (current values first among equal ones); within a run of equal points only the gap
    after the last one is the CDFs' difference.
    """
    n_ref, n_cur = len(ref.values), len(cur.values)
    at_ref = np.searchsorted(cur.values, ref.values, side="right") + np.arange(n_ref)
    at_cur = np.searchsorted(ref.values, cur.values, side="left") + np.arange(n_cur)
    points = np.empty(n_ref + n_cur)
    steps = np.empty(n_ref + n_cur)
    points[at_ref] = ref.values
    points[at_cur] = cur.values
    steps[at_ref] = ref.weights / ref.n
    steps[at_cur] = -cur.weights / cur.n
    return points, np.cumsum(steps)


def ks(ref: Side, cur: Side) -> tuple[float, dict[str, Any]]:
    """Two-sample Kolmogorov-Smirnov p-value (two-sided), as ``scipy.stats.ks_2samp``.

    scipy's exact p-value is used when both sides are exact and neither is above 10,000
    values (as its ``method="auto"`` does); otherwise Smirnov's asymptotic distribution.
    """
    assert isinstance(ref, NumericSide)
    assert isinstance(cur, NumericSide)
    n1, n2 = ref.n, cur.n
    if ref.exact and cur.exact and max(n1, n2) <= KS_EXACT_MAX_N:
        with warnings.catch_warnings():  # "exact calculation unsuccessful": scipy falls back
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.ks_2samp(ref.expanded(), cur.expanded())
        statistic, p = float(result.statistic), float(result.pvalue)
    else:
        points, gap = cdf_gap(ref, cur)
        run_ends = np.append(points[1:] != points[:-1], True)
        statistic = float(np.max(np.abs(gap[run_ends])))
        m, n = sorted([float(n1), float(n2)], reverse=True)
        p = float(np.clip(stats.kstwo.sf(statistic, max(1.0, np.round(m * n / (m + n)))), 0, 1))
    return p, {"statistic": statistic, "reference_rank_error": ref.ks_error}


def wasserstein(ref: Side, cur: Side) -> tuple[float, dict[str, Any]]:
    """Wasserstein-1 distance divided by the reference's std (at least 0.001), as Evidently."""
    assert isinstance(ref, NumericSide)
    assert isinstance(cur, NumericSide)
    points, gap = cdf_gap(ref, cur)
    distance = float(np.sum(np.abs(gap[:-1]) * np.diff(points)))
    norm = max(ref.std, MIN_STD)
    return distance / norm, {
        "distance": distance,
        "reference_std": ref.std,
        "max_error": ref.wasserstein_error / norm,
    }


def chisquare(ref: Side, cur: Side) -> tuple[float, dict[str, Any]]:
    """Chi-square goodness of fit of the current counts to the reference's proportions."""
    keys, ref_counts, cur_counts = aligned_counts(ref, cur)
    details = _category_changes(keys, ref_counts, cur_counts)
    if len(keys) < 2:
        return 1.0, {"statistic": 0.0, "dof": 0, **details}
    expected = ref_counts * (cur.n / ref.n)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (cur_counts - expected) ** 2 / expected, np.inf)
    terms[(expected == 0) & (cur_counts == 0)] = 0.0
    statistic = float(terms.sum())
    p = float(stats.chi2.sf(statistic, len(keys) - 1))
    return p, {"statistic": statistic, "dof": len(keys) - 1, **details}


def z(ref: Side, cur: Side) -> tuple[float, dict[str, Any]]:
    """Two-proportion Z-test on the share of values other than the smallest, as Evidently."""
    keys, ref_counts, cur_counts = aligned_counts(ref, cur)
    details = _category_changes(keys, ref_counts, cur_counts)
    if len(keys) == 1:
        return 1.0, {"statistic": 0.0, **details}
    first = int(np.argmin(keys)) if isinstance(keys, np.ndarray) else _smallest(keys)
    p1 = (ref.n - ref_counts[first]) / ref.n
    p2 = (cur.n - cur_counts[first]) / cur.n
    pooled = (p1 * ref.n + p2 * cur.n) / (ref.n + cur.n)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / ref.n + 1 / cur.n))
    statistic = (p1 - p2) / spread if spread > 0 else 0.0
    p = float(2 * (1 - stats.norm.cdf(abs(statistic))))
    return p, {"statistic": float(statistic), **details}


def _smallest(keys: list[Any]) -> int:
    try:
        return min(range(len(keys)), key=lambda i: keys[i])
    except TypeError:  # mixed types: order by text, as a stable stand-in
        return min(range(len(keys)), key=lambda i: str(keys[i]))


def binned(ref: Side, cur: Side, fill_zeros: bool) -> tuple[np.ndarray, np.ndarray, dict]:
    """Both sides' shares per bin, as Evidently's ``get_binned_data``.

    Numeric columns whose reference has more than 20 distinct values go into Sturges' bins
    over both sides' range (``numpy.histogram_bin_edges(..., bins="sturges")``); others
    are compared value by value. ``fill_zeros`` replaces empty shares by a small number
    (PSI takes logarithms of them).
    """
    if isinstance(ref, NumericSide) and isinstance(cur, NumericSide) and ref.n_unique > 20:
        edges = sturges_edges(
            min(ref.minimum, cur.minimum), max(ref.maximum, cur.maximum), ref.n + cur.n
        )
        ref_share = _bin_counts(ref, edges) / ref.n
        cur_share = _bin_counts(cur, edges) / cur.n
        details: dict[str, Any] = {"bins": len(edges) - 1}
    else:
        keys, ref_counts, cur_counts = aligned_counts(ref, cur)
        ref_share, cur_share = ref_counts / ref.n, cur_counts / cur.n
        details = {"bins": len(keys), **_category_changes(keys, ref_counts, cur_counts)}
    if fill_zeros:
        ref_share, cur_share = _fill_zeros(ref_share), _fill_zeros(cur_share)
    return ref_share, cur_share, details


def sturges_edges(first: float, last: float, n: int) -> np.ndarray:
    """``numpy.histogram_bin_edges(data, bins="sturges")`` from the data's range and size."""
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = (last - first) / (np.log2(n) + 1.0)
    bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, bins + 1, endpoint=True)


def _bin_counts(side: NumericSide, edges: np.ndarray) -> np.ndarray:
    """Weight in each bin ``[e_i, e_i+1)``, the last bin closed, as ``numpy.histogram``."""
    cumulative = np.concatenate([[0], np.cumsum(side.weights)])
    at = np.searchsorted(side.values, edges, side="left")
    at[-1] = np.searchsorted(side.values, edges[-1], side="right")
    return np.diff(cumulative[at]).astype(np.float64)


def _fill_zeros(shares: np.ndarray) -> np.ndarray:
    nonzero = shares[shares != 0]
    if len(nonzero) == 0:
        return shares
    smallest = nonzero.min()
    return np.where(shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001, shares)


def jensenshannon(ref: Side, cur: Side) -> tuple[float, dict[str, Any]]:
    """Jensen-Shannon distance (natural log) of the binned shares, as scipy computes it."""
    p, q, details = binned(ref, cur, fill_zeros=False)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    divergence = special.rel_entr(p, m).sum() + special.rel_entr(q, m).sum()
    return float(np.sqrt(max(divergence, 0.0) / 2)), details


def psi(ref: Side, cur: Side) -> tuple[float, dict[str, Any]]:
    """Population stability index of the binned shares (empty bins filled, as Evidently)."""
    p, q, details = binned(ref, cur, fill_zeros=True)
    return float(np.sum((p - q) * np.log(p / q))), details


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("ks", ("numeric",), 0.05, "<=", ks, "K-S p-value"),
        Method("chisquare", ("numeric", "categorical"), 0.05, "<", chisquare, "chi-square p-value"),
        Method("z", ("numeric", "categorical"), 0.05, "<", z, "Z-test p-value"),
        Method(
            "wasserstein", ("numeric",), 0.1, ">=", wasserstein, "Wasserstein distance (normed)"
        ),
        Method(
            "jensenshannon",
            ("numeric", "categorical"),
            0.1,
            ">=",
            jensenshannon,
            "Jensen-Shannon distance",
        ),
        Method("psi", ("numeric", "categorical"), 0.1, ">=", psi, "PSI"),
    ]
}
