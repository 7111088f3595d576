"""Datasets whose objects live on S3 (moto's server), uploaded in parallel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from keel.config import resolve
from keel.data import DatasetService
from keel.store import init_project


def test_tables_and_folders_round_trip_through_s3(tmp_path: Path, s3_bucket: str) -> None:
    config = resolve(uri=f"sqlite:///{tmp_path / 'keel.db'}", objects=f"s3://{s3_bucket}/keel")
    store = init_project(tmp_path, config)
    data = DatasetService(store)
    frame = pd.DataFrame({"id": np.arange(1000), "score": np.linspace(0, 1, 1000)})
    table = data.log(frame, "scores")
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"doc-{i}.txt").write_text(f"document {i}\n" * (i + 1))
    files = data.log(folder, "docs")

    assert data.load("scores").equals(frame)
    assert data.load("scores", format="duckdb").aggregate("count(*)").fetchall()[0][0] == 1000
    out = data.get(files, tmp_path / "restored")
    assert len(out) == 12
    assert (tmp_path / "restored" / "doc-3.txt").read_text() == "document 3\n" * 4
    stored = set(store.objects.digests())
    entries = data.manifest(table).entries + data.manifest(files).entries
    assert {e.digest for e in entries} <= stored
    assert {table.manifest_digest, files.manifest_digest} <= stored
    store.close()
