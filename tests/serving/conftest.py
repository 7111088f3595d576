"""Serving fixtures: a client over each store backend, a registered classifier and a table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.client import Client
from keel.config import Config
from keel.registry._loaded import clear_cache
from keel.store import Store


@dataclass
class Scored:
    """A store holding ``credit:1`` (a classifier) and ``applications:v1`` (its inputs)."""

    client: Client
    model: LogisticRegression
    frame: pd.DataFrame  # features and an id column, as logged


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "income": rng.normal(50, 10, rows),
            "debt": rng.uniform(0, 1, rows),
        }
    )


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Loaded packages are cached per process: no test sees another's."""
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def scored(store: Store, store_config: Config) -> Iterator[Scored]:
    frame = make_frame(50_000)
    features = frame[["income", "debt"]]
    labels = (frame["debt"] + frame["income"] / 100 > 1.0).astype(int)
    model = LogisticRegression().fit(features, labels)
    with Client(config=store_config) as client:
        client.models.register(model, "credit", input_example=features.head())
        client.datasets.log(frame, "applications")
        yield Scored(client, model, frame)
