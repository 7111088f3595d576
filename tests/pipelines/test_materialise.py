"""Outputs through the platform: tables, models, JSON, a custom materialiser, and a clear
refusal of what cannot be stored."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

import keel
from keel.client import Client

from .flows import retrain


def test_tables_models_and_json_become_platform_records(sqlite_client: Client) -> None:
    run = retrain.run({"month": 4}, client=sqlite_client)
    outputs = {s["step"]: s["outputs"]["return"] for s in run.steps}
    assert outputs["load"]["kind"] == "dataset_version"
    assert outputs["load"]["ref"] == "retrain.load:v1"
    frame = sqlite_client.datasets.load("retrain.load:v1")
    assert len(frame) == 24
    assert outputs["train"]["kind"] == "model_version"
    model = sqlite_client.models.load(outputs["train"]["ref"])
    assert model.native.get_params()["C"] == 1.0
    assert outputs["score"]["kind"] == "json"
    stored = json.loads(sqlite_client.objects.read_bytes(outputs["score"]["digest"]))
    assert stored == run.output
    assert run.output["rows"] == 24


def test_a_step_names_its_dataset_and_an_arrow_table_loads_back_as_one(
    sqlite_client: Client,
) -> None:
    @keel.step(dataset="features")
    def make() -> pa.Table:
        return pa.table({"a": [1, 2, 3]})

    @keel.step
    def width(table: pa.Table) -> int:
        assert isinstance(table, pa.Table)
        return table.num_rows

    @keel.pipeline(name="arrowed")
    def arrowed():
        return width(make())

    run = arrowed.run(client=sqlite_client, cache=False)
    assert run.output == 3
    assert run.step("make")["outputs"]["return"]["ref"] == "features:v1"
    # loaded back from the store (not handed over live) it is an Arrow table again
    again = arrowed.run(client=sqlite_client)
    assert again.step("width")["cached_from"] is not None


class Csv:
    """Keeps a DataFrame as CSV text in the object store."""

    id = "csv-v1"

    def save(self, value, ctx) -> dict:
        digest = ctx.client.store.put_object(value.to_csv(index=False).encode())
        return {"ref": digest, "digest": digest}

    def load(self, ref, ctx):
        import io

        return pd.read_csv(io.BytesIO(ctx.client.objects.read_bytes(ref["digest"])))


def test_a_custom_materialiser_saves_and_loads(sqlite_client: Client) -> None:
    @keel.step(materializer=Csv())
    def frame() -> pd.DataFrame:
        return pd.DataFrame({"a": [1, 2]})

    @keel.pipeline(name="custom")
    def custom():
        return frame()

    run = custom.run(client=sqlite_client)
    out = run.step("frame")["outputs"]["return"]
    assert out["kind"] == "custom"
    assert out["materializer"] == "csv-v1"
    assert sqlite_client.objects.read_bytes(out["digest"]) == b"a\n1\n2\n"
    cached = custom.run(client=sqlite_client)
    assert cached.step("frame")["cached_from"] is not None
    assert cached.output.to_dict("list") == {"a": [1, 2]}  # loaded through Csv.load


def test_what_cannot_be_materialised_fails_the_step_naming_it(sqlite_client: Client) -> None:
    class Opaque:
        pass

    @keel.step
    def weird() -> object:
        return Opaque()

    @keel.pipeline(name="weird")
    def weird_pipeline():
        return weird()

    run = weird_pipeline.run(client=sqlite_client)
    assert run.status == "failed"
    error = run.step("weird")["error"]
    assert "Step 'weird' returned a" in error
    assert "Opaque, which keel cannot materialise" in error
    assert "materializer=" in error
    assert "Step 'weird' failed" in run.error


def test_several_outputs_are_stored_one_by_one(sqlite_client: Client) -> None:
    @keel.step(outputs=("train", "test"))
    def split(n: int):
        frame = pd.DataFrame({"a": range(n)})
        return {"train": frame.iloc[: n // 2], "test": frame.iloc[n // 2 :]}

    @keel.step
    def sizes(train: pd.DataFrame, test: pd.DataFrame) -> list:
        return [len(train), len(test)]

    @keel.pipeline(name="splitter")
    def splitter(n: int = 10):
        a, b = split(n)
        return sizes(a, b)

    run = splitter.run(client=sqlite_client)
    assert run.output == [5, 5]
    outs = run.step("split")["outputs"]
    assert outs["train"]["ref"] == "splitter.split.train:v1"
    assert outs["test"]["ref"] == "splitter.split.test:v1"
    with pytest.raises(keel.KeelError):
        run.step("nope")
