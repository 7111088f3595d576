"""Batch scoring reads the input while the model loads, and uses that read only if it fits."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from keel.errors import InvalidInput
from keel.serving._batch_early import recorded_inputs, start_reading
from keel.serving.batch import _read_columns, predict_dataset
from keel.store.objects import LocalObjectStore

from .conftest import Scored


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "keel-predict-reader"]


@pytest.fixture
def one_part(tmp_path):
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    path = tmp_path / "part.parquet"
    pq.write_table(pa.table({"id": range(5_000), "x": np.arange(5_000) * 0.5}), path)
    digest = objects.put(path)

    class Manifest:  # the one field start_reading reads
        entries = [type("Entry", (), {"digest": digest})()]

    return objects, Manifest()


def test_the_early_reader_is_handed_over_when_the_plan_reads_the_same(one_part) -> None:
    objects, manifest = one_part
    early = start_reading(objects, manifest, ["x", "id"], 1_000, _read_columns)
    assert readers(), "reading starts at once, before anyone asks for a batch"
    reader = early.take(["x", "id"], 1_000)
    assert reader is not None
    with reader:
        ids = [i for b in reader for i in b.column("id").to_pylist()]
    assert ids == list(range(5_000))
    assert early.take(["x", "id"], 1_000) is None  # handed over once
    early.close()  # the taker closed it already: nothing more to do
    assert not readers()


@pytest.mark.parametrize(("inputs", "rows"), [(["x"], 1_000), (["x", "id"], 500)])
def test_a_different_plan_stops_the_early_reader(one_part, inputs, rows) -> None:
    objects, manifest = one_part
    early = start_reading(objects, manifest, ["x", "id"], 1_000, _read_columns)
    assert early.take(inputs, rows) is None
    assert not readers()


def test_inputs_come_from_the_records_or_not_at_all() -> None:
    class Version:
        signature = {"inputs": [{"name": "income", "dtype": "float64"}]}

    class Source:
        schema = [{"name": n, "type": "double"} for n in ("id", "income", "debt")]

    version, source = Version(), Source()
    assert recorded_inputs(version, source, ("id",)) == ["income", "id"]  # type: ignore[arg-type]
    version.signature = None  # every column not kept
    assert recorded_inputs(version, source, ("id",)) == ["income", "debt", "id"]  # type: ignore[arg-type]
    version.signature = {"inputs": [{"name": "age"}]}  # the input lacks it: the plan says so
    assert recorded_inputs(version, source, ()) is None  # type: ignore[arg-type]
    version.signature = {"columns": ["income"]}  # not a signature
    assert recorded_inputs(version, source, ()) is None  # type: ignore[arg-type]


def test_the_input_is_being_read_while_the_model_loads(
    scored: Scored, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = scored.client
    load = client.models.load
    seen: list[int] = []

    def loading(*args, **kwargs):
        seen.append(len(readers()))
        return load(*args, **kwargs)

    monkeypatch.setattr(client.models, "load", loading)
    out = predict_dataset("credit", "applications", batch_rows=4_096, client=client)
    assert seen == [1]
    table = client.datasets.load(out)
    features = scored.frame[["income", "debt"]]
    assert (table["prediction"].to_numpy() == scored.model.predict(features)).all()
    assert not readers()


def test_a_model_that_fails_to_load_stops_the_early_reader_and_records_nothing(
    scored: Scored, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = scored.client

    def broken(*args, **kwargs):
        assert readers()
        raise InvalidInput("this package cannot be loaded")

    monkeypatch.setattr(client.models, "load", broken)
    with pytest.raises(InvalidInput, match="cannot be loaded"):
        predict_dataset("credit", "applications", batch_rows=1_000, client=client)
    assert not readers()
    assert [d["name"] for d in client.datasets.list()] == ["applications"]
