"""The automatic choice of drift test, by Evidently's default rules.

From Evidently's ``_get_default_stattest`` (``legacy/calculations/stattests/registry.py``,
0.7.x), where ``n_values`` is the number of distinct values in both sides together:

* reference of at most 1,000 values: numeric columns with ``n_values <= 5`` get the
  chi-square test (the Z-test when ``n_values <= 2``), others Kolmogorov-Smirnov;
  categorical columns get chi-square (Z-test when ``n_values <= 2``);
* larger references: numeric columns with ``n_values <= 5`` get Jensen-Shannon, others
  the normalised Wasserstein distance; categorical columns get Jensen-Shannon.
"""

from __future__ import annotations

import numpy as np

from keel.monitoring._sides import CategoricalSide, NumericSide

__all__ = ["SMALL_SAMPLE", "choose_method", "distinct_together"]

SMALL_SAMPLE = 1000


def distinct_together(
    ref: NumericSide | CategoricalSide, cur: NumericSide | CategoricalSide
) -> int:
    """Distinct values of both sides together; exact up to 5, and above 5 when it is."""
    if isinstance(ref, NumericSide) and isinstance(cur, NumericSide):
        if ref.n_unique > 5 or cur.n_unique > 5:
            return max(ref.n_unique, cur.n_unique)
        return len(np.union1d(ref.values, cur.values))
    ref_keys = ref.keys if isinstance(ref, CategoricalSide) else ref.values.tolist()
    cur_keys = cur.keys if isinstance(cur, CategoricalSide) else cur.values.tolist()
    return len(set(ref_keys) | set(cur_keys))


def choose_method(ref: NumericSide | CategoricalSide, cur: NumericSide | CategoricalSide) -> str:
    """The name of the test Evidently's default preset would run on these two sides."""
    n_values = distinct_together(ref, cur)
    numeric = isinstance(ref, NumericSide)
    if ref.n <= SMALL_SAMPLE:
        if numeric and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if numeric and n_values > 5:
        return "wasserstein"
    return "jensenshannon"
