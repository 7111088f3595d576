"""Deployment fixtures: a store whose registry holds credit:1..3 (champion on 1, challenger
on 2), and the spec files written from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.registry import Actor, RegistryService
from keel.store import Store

SPEC = """\
name: credit-scoring
model: credit
routes:
  - {version: "@champion", weight: 90}
  - {version: "@challenger", weight: 10}
shadow: ["credit:3"]
batching: {max_batch_size: 32, max_wait_ms: 2}
"""

CANARY = """\
name: credit-scoring
model: credit
routes:
  - {version: "3", weight: 100}
canary: {steps: [10, 50, 100], interval: 1m, max_error_rate: 0.05}
"""


def register_credit(store: Store, project: str | None = None) -> RegistryService:
    """credit:1..3 (three tiny logistic regressions), champion -> 1, challenger -> 2."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(50, 10, 60), "debt": rng.uniform(0, 1, 60)})
    y = (X["debt"] > 0.5).astype(int)
    registry = RegistryService(store, project=project, actor=Actor("alice", "admin"))
    for c in (0.1, 1.0, 10.0):
        registry.register(LogisticRegression(C=c).fit(X, y), "credit", input_example=X.head())
    registry.set_alias("credit:1", "champion")
    registry.set_alias("credit:2", "challenger")
    return registry


@pytest.fixture
def registry(store: Store) -> RegistryService:
    return register_credit(store)
