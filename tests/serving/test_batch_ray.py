"""Batch scoring fanned out over a local Ray cluster (two CPUs) gives what one process does."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.client import Client
from keel.errors import InvalidInput
from keel.serving.batch import predict_dataset

from .conftest import Scored, make_frame

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    """SQLite only: the workers open the same store; PostgreSQL adds nothing here."""
    return f"sqlite:///{tmp_path / 'meta' / 'keel.db'}"


def test_ray_scores_what_one_process_scores(scored: Scored, cluster: None) -> None:
    client = scored.client
    here = predict_dataset(
        "credit", "applications", columns=["id"], output="here", ray=False, client=client
    )
    rows: list[int] = []
    fanned = predict_dataset(
        "credit",
        "applications",
        columns=["id"],
        batch_rows=4_096,
        output="fanned",
        ray=True,
        client=client,
        progress=rows.append,
    )
    assert fanned.source is not None
    assert fanned.source["engine"] == "ray"
    assert sum(rows) == 50_000
    assert len(rows) > 1  # several tasks: 2 CPUs x 4 slices, rounded to whole batches
    assert len(client.datasets.manifest(fanned).entries) == len(rows)
    pd.testing.assert_frame_equal(client.datasets.load(fanned), client.datasets.load(here))
    expected = scored.model.predict(scored.frame[["income", "debt"]])
    assert (client.datasets.load(fanned)["prediction"].to_numpy() == expected).all()


def test_a_ray_address_setting_means_ray_and_task_errors_come_back_as_they_were(
    scored: Scored, cluster: None
) -> None:
    config = dataclasses.replace(scored.client.config, ray_address="auto")
    with Client(config=config) as client:
        frame = make_frame(30_000)
        frame.loc[25_100, "debt"] = np.nan
        client.datasets.log(frame, "holes")
        with pytest.raises(InvalidInput, match=r"credit:1 failed on rows 24,000 to 25,999"):
            predict_dataset("credit", "holes", batch_rows=2_000, client=client)
        assert "credit-predictions" not in {d["name"] for d in client.datasets.list()}
        out = predict_dataset("credit", "applications", client=client, ray=False)
        assert out.source is not None  # ray=False wins over the setting
        assert out.source["engine"] == "local"
