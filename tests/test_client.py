"""keel.Client: one seam that resolves the configuration once and hands out every concept."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel.client import TRANSPORTS, Client, default_client
from keel.config import Config
from keel.errors import ConfigError, NotFound
from keel.registry import registry
from keel.store import init_project
from tests.conftest import live_server


def test_every_concept_of_a_store_client_shares_one_store(
    store_config: Config, tmp_path: Path
) -> None:
    with init_project(tmp_path, store_config) as store:
        store.create_project("credit")
    with Client(store_config.uri, objects=store_config.objects, project="credit") as client:
        assert client.config.project == "credit"
        assert not client.remote
        frame = pd.DataFrame({"income": np.linspace(1, 9, 20), "debt": np.linspace(0, 1, 20)})
        label = (frame["debt"] > 0.5).astype(int)
        data = client.datasets.log(frame.assign(label=label), "applications")
        with client.tracker.start_run("baseline") as run:
            run.log_input(data)
            model = LogisticRegression().fit(frame, label)
            version = client.models.register(model, "credit", input_example=frame, run=run.id)
            run.log_metric("auc", 0.9)
        # one store, one project, for every concept
        assert client.datasets.store is client.store
        assert client.models.store is client.store
        assert client.runs.store is client.store
        assert [r.id for r in client.runs.search_runs(keel.tracking.RunQuery())] == [run.id]
        loaded = client.models.load(version.ref)
        np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
        graph = client.lineage(data.ref, direction="down")
        kinds = {node.kind for node in graph.nodes.values()}
        assert {"dataset_version", "run", "model_version"} <= kinds


def test_a_server_client_reaches_every_concept_but_the_store(
    tmp_path: Path,
) -> None:
    config = keel.config.resolve(
        uri=f"sqlite:///{tmp_path / 'keel.db'}", objects=str(tmp_path / "objects"), fsync=False
    )
    init_project(tmp_path, config).close()
    with live_server(config) as url, Client(url, project="default") as client:
        assert client.remote
        with client.tracker.start_run("remote", capture=False) as run:
            run.log_metric("auc", 0.8)
        assert client.runs.get_run(run.id).metrics == {"auc": 0.8}
        assert client.datasets.list() == []  # datasets go through the server now
        assert client.models.list() == []  # the registry goes through the server
        with pytest.raises(ConfigError, match="through a keel server yet"):
            client.store  # noqa: B018


def test_unknown_schemes_name_the_transports(tmp_path: Path) -> None:
    config = keel.config.resolve(uri=f"sqlite:///{tmp_path / 'k.db'}")
    bad = Config(**{**config.__dict__, "uri": "ftp://example.com/keel"})
    with pytest.raises(ConfigError, match=r"scheme 'ftp' is not one of http, https"):
        Client(config=bad)
    assert set(TRANSPORTS) == {"sqlite", "postgresql", "http", "https"}
    with pytest.raises(ConfigError, match="not both"):
        Client("sqlite:///x.db", config=config)


def test_the_sdk_works_on_the_default_client_and_follows_the_configuration(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        init_project(folder).close()
    os.chdir(first)
    keel.config.reset()
    with keel.start_run(experiment="e", capture=False) as run:
        version = keel.log_dataset(pd.DataFrame({"x": [1, 2]}), "d")
        keel.log_metric("m", 1.0)
    client = default_client()
    assert client.config.uri.endswith(str(first / ".keel" / "keel.db"))
    assert client.datasets.resolve("d").id == version.id
    assert registry() is client.models  # the registry shortcut is the client's
    os.chdir(second)
    keel.config.reset()  # a new configuration: a new default client, the old one flushed
    other = default_client()
    assert other is not client
    assert other.config.uri.endswith(str(second / ".keel" / "keel.db"))
    with pytest.raises(NotFound, match="No experiment named 'e'"):
        keel.search_runs("e")  # the second project's store, not the first's
    os.chdir(first)
    keel.config.reset()
    assert keel.search_runs("e")["metrics.m"].tolist() == [1.0]
    assert keel.search_runs("e")["run_id"].tolist() == [run.id]
