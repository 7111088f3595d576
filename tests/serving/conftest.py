"""Serving fixtures: a project with real scikit-learn models, and real servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from keel.client import Client
from keel.config import Config, resolve
from keel.registry._loaded import clear_cache
from keel.store import Store, init_project


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def training_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(50, 10, 200), "debt": rng.uniform(0, 1, 200)})
    y = (X["debt"] + rng.normal(0, 0.2, 200) > 0.5).astype(int).to_numpy()
    return X, y


def make_project(folder: Path) -> Client:
    """A project with ``credit`` versions 1-3 (champion 1, challenger 2) and ``price``."""
    config = resolve(
        uri=f"sqlite:///{folder / 'keel.db'}", objects=str(folder / "objects"), fsync=False
    )
    init_project(folder, config).close()
    client = Client(config=config)
    X, y = training_data()
    for c in (0.1, 1.0, 10.0):
        client.models.register(LogisticRegression(C=c).fit(X, y), "credit", input_example=X.head())
    client.models.set_alias("credit:1", "champion")
    client.models.set_alias("credit:2", "challenger")
    client.models.register(
        LinearRegression().fit(X, X["income"] * 2), "price", input_example=X.head()
    )
    return client


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A project many tests read and none change."""
    client = make_project(tmp_path_factory.mktemp("serving"))
    yield client
    client.close()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Client]:
    """A project of the test's own, for tests that move aliases."""
    client = make_project(tmp_path / "project")
    yield client
    client.close()


def register_slow(client: Client) -> str:
    """A model slow enough (a few ms per batch) to fill a queue."""
    X, y = training_data()
    forest = RandomForestClassifier(n_estimators=200, max_depth=2, random_state=0).fit(X, y)
    return client.models.register(forest, "slow", input_example=X.head()).ref


def serving(app: object):
    """Run a model server app on a free loopback port in a thread (keel's own helper)."""
    from keel.serving import serve_in_thread

    return serve_in_thread(app)


# -- batch scoring ----------------------------------------------------------------------


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
