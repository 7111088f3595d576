"""Batch scoring on SQLite and PostgreSQL: streamed predictions, lineage, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LinearRegression

from keel.client import Client
from keel.errors import AlreadyExists, ConfigError, InvalidInput, NotFound
from keel.serving import batch
from keel.serving.batch import predict_dataset
from keel.store.lineage import lineage_graph

from .conftest import Scored, make_frame


def test_small_batches_give_what_the_model_predicts_on_the_whole_frame(scored: Scored) -> None:
    client, model, frame = scored.client, scored.model, scored.frame
    sizes: list[int] = []
    out = predict_dataset(
        "credit@latest",
        "applications",
        batch_rows=1_000,
        columns=["id"],
        client=client,
        progress=sizes.append,
    )
    assert out.ref == "credit-predictions:v1"
    assert (out.row_count, len(sizes), max(sizes), sum(sizes)) == (50_000, 50, 1_000, 50_000)
    table = client.datasets.load(out)
    assert list(table.columns) == ["id", "prediction", "proba_0", "proba_1"]
    features = frame[["income", "debt"]]
    assert (table["id"].to_numpy() == frame["id"].to_numpy()).all()
    assert (table["prediction"].to_numpy() == model.predict(features)).all()
    np.testing.assert_allclose(
        table[["proba_0", "proba_1"]].to_numpy(), model.predict_proba(features), rtol=1e-12
    )
    version = client.models.get("credit:1")
    assert out.source == {
        "kind": "predictions",
        "model": "credit:1",
        "model_version_id": version.id,
        "package_digest": version.package_digest,
        "input": "applications:v1",
        "input_manifest": client.datasets.resolve("applications:v1").manifest_digest,
        "kept_columns": ["id"],
        "engine": "local",
    }
    (part,) = client.datasets.manifest(out).entries
    with client.objects.open(part.digest) as fh:  # 50 small batches, gathered: 1 row group
        assert pq.ParquetFile(fh).metadata.num_row_groups == 1
    profile = client.datasets.profile(out)
    assert profile is not None
    assert profile["row_count"] == 50_000
    assert set(profile["columns"]) == {"id", "prediction", "proba_0", "proba_1"}


def test_output_rolls_over_into_parts_in_order(
    scored: Scored, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = scored.client
    whole = client.datasets.load(predict_dataset("credit", "applications", client=client))
    monkeypatch.setattr(batch, "PART_ROWS", 7_000)
    parted = predict_dataset(
        "credit", "applications", batch_rows=3_000, output="parted", client=client
    )
    manifest = client.datasets.manifest(parted)
    assert [e.rows for e in manifest.entries] == [7_000] * 7 + [1_000]
    pd.testing.assert_frame_equal(client.datasets.load(parted), whole)


def test_lineage_links_the_predictions_to_the_model_and_the_input(scored: Scored) -> None:
    client = scored.client
    out = predict_dataset("credit", "applications:v1", output="scores", client=client)
    model_version = client.models.get("credit:1")
    source = client.datasets.resolve("applications:v1")
    up = lineage_graph(client.store, "dataset_version", out.id, direction="up")
    assert {(e.src, e.relation) for e in up.edges} == {
        (("model_version", model_version.id), "produced"),
        (("dataset_version", source.id), "derived_into"),
    }
    down_from_model = lineage_graph(client.store, "model_version", model_version.id, depth=1)
    assert ("dataset_version", out.id) in down_from_model.nodes
    down_from_input = lineage_graph(client.store, "dataset_version", source.id, direction="down")
    assert down_from_input.nodes[("dataset_version", out.id)].label == "scores:v1"


def test_a_regressor_gets_a_prediction_column_only(scored: Scored) -> None:
    client, frame = scored.client, scored.frame
    features = frame[["income", "debt"]].head(500)
    model = LinearRegression().fit(features, features["income"] * 2 + features["debt"])
    client.models.register(model, "spend", input_example=features.head())
    out = predict_dataset("spend", "applications", batch_rows=4_096, client=client)
    table = client.datasets.load(out)
    assert list(table.columns) == ["prediction"]
    np.testing.assert_allclose(
        table["prediction"].to_numpy(), model.predict(frame[["income", "debt"]])
    )


# -- bad input ----------------------------------------------------------------------------


def _nothing_recorded(client: Client) -> bool:
    return [d["name"] for d in client.datasets.list()] == ["applications"]


def test_unknown_model_or_dataset_is_named(scored: Scored) -> None:
    client = scored.client
    with pytest.raises(NotFound, match="credt.*Did you mean 'credit'"):
        predict_dataset("credt", "applications", client=client)
    with pytest.raises(NotFound, match="has no version 9"):
        predict_dataset("credit:9", "applications", client=client)
    with pytest.raises(NotFound, match="No dataset named 'aplications'"):
        predict_dataset("credit", "aplications", client=client)
    with pytest.raises(NotFound, match="has no version v4"):
        predict_dataset("credit", "applications:v4", client=client)
    assert _nothing_recorded(client)


@pytest.mark.parametrize("bad", [0, -5, True, 2.5, "100", 10**9])
def test_batch_rows_must_be_a_sensible_whole_number(scored: Scored, bad: object) -> None:
    with pytest.raises(InvalidInput, match="batch_rows must be a whole number from 1 to"):
        predict_dataset("credit", "applications", batch_rows=bad, client=scored.client)  # type: ignore[arg-type]


def test_columns_to_keep_must_exist_and_not_clash(scored: Scored) -> None:
    client = scored.client
    with pytest.raises(InvalidInput, match=r"applications:v1 has no column \['ident'\]"):
        predict_dataset("credit", "applications", columns=["id", "ident"], client=client)
    with pytest.raises(InvalidInput, match=r"Cannot keep the column \['proba_1'\]"):
        predict_dataset("credit", "applications", columns=["proba_1"], client=client)
    with pytest.raises(InvalidInput, match="columns must be a list of input column names"):
        predict_dataset("credit", "applications", columns=[3], client=client)  # type: ignore[list-item]
    assert _nothing_recorded(client)


def test_missing_signature_columns_are_named(scored: Scored) -> None:
    client = scored.client
    client.datasets.log(scored.frame[["id", "income"]], "partial")
    with pytest.raises(InvalidInput, match=r"partial:v1 lacks the column \['debt'\].*credit:1"):
        predict_dataset("credit", "partial", client=client)
    assert "credit-predictions" not in {d["name"] for d in client.datasets.list()}


def test_a_column_of_the_wrong_type_is_named_and_nothing_recorded(scored: Scored) -> None:
    client = scored.client
    client.datasets.log(make_frame(2_000).assign(income="high"), "typed")
    with pytest.raises(InvalidInput, match="income"):
        predict_dataset("credit", "typed", batch_rows=500, client=client)
    assert "credit-predictions" not in {d["name"] for d in client.datasets.list()}


def test_a_model_failing_deep_in_the_table_names_the_rows(scored: Scored) -> None:
    client = scored.client
    frame = make_frame(20_000)
    frame.loc[15_500, "income"] = np.nan  # LogisticRegression refuses NaN
    client.datasets.log(frame, "holes")
    sizes: list[int] = []
    with pytest.raises(
        InvalidInput,
        match=r"credit:1 failed on rows 15,000 to 15,999 of holes:v1: ValueError: .*NaN",
    ):
        predict_dataset("credit", "holes", batch_rows=1_000, client=client, progress=sizes.append)
    assert sum(sizes) == 15_000  # the batches before it were scored, then nothing kept
    assert "credit-predictions" not in {d["name"] for d in client.datasets.list()}


def test_files_and_empty_tables_cannot_be_scored(scored: Scored, tmp_path) -> None:
    client = scored.client
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("hello")
    client.datasets.log(folder, "notes")
    with pytest.raises(InvalidInput, match="notes:v1 is a set of files, not a table"):
        predict_dataset("credit", "notes", client=client)
    client.datasets.log(scored.frame.head(0), "empty")
    with pytest.raises(InvalidInput, match="empty:v1 has no rows"):
        predict_dataset("credit", "empty", client=client)


def test_output_must_be_a_free_dataset_name(scored: Scored) -> None:
    client = scored.client
    with pytest.raises(InvalidInput, match="output must be a dataset name"):
        predict_dataset("credit", "applications", output="scores:v2", client=client)
    with pytest.raises(InvalidInput, match="Dataset name 'a b' is not valid"):
        predict_dataset("credit", "applications", output="a b", client=client)
    with pytest.raises(AlreadyExists, match="credit"):
        predict_dataset("credit", "applications", output="credit", client=client)
    assert _nothing_recorded(client)


def test_through_a_keel_server_it_says_to_use_the_store() -> None:
    with (
        Client("http://127.0.0.1:9", project="p") as client,
        pytest.raises(ConfigError, match="cannot run through a keel server yet"),
    ):
        predict_dataset("credit", "applications", client=client)


# -- slices and row ranges (what Ray tasks are given) -------------------------------------


def test_slices_cover_every_row_once_in_whole_batches() -> None:
    from keel.data import Manifest, ManifestEntry
    from keel.serving._batch_ray import plan_slices

    entries = [
        ManifestEntry("part-00000.parquet", "a" * 64, 1, 10_000),
        ManifestEntry("part-00001.parquet", "b" * 64, 1, 2_500),
    ]
    slices = plan_slices(Manifest("table", entries, None, 12_500), batch_rows=1_000, cpus=2)
    # 12,500 rows / (2 CPUs x 4) = 1,563 rows a slice, rounded up to whole batches: 2,000
    assert slices == [
        *(("a" * 64, at, at + 2_000, 0) for at in range(0, 10_000, 2_000)),
        ("b" * 64, 0, 2_000, 10_000),
        ("b" * 64, 2_000, 4_000, 10_000),
    ]


def test_a_row_range_reads_only_its_rows_across_row_groups(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from keel.serving.batch import ScoringPlan, read_batches
    from keel.store.objects import LocalObjectStore

    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    path = tmp_path / "part.parquet"
    pq.write_table(pa.table({"id": range(5_000), "x": [1.0] * 5_000}), path, row_group_size=1_000)
    digest = objects.put(path)
    plan = ScoringPlan(None, False, ("x",), ("id",), 300)  # type: ignore[arg-type]
    batches = list(read_batches(objects, digest, plan, 1_500, 3_700))
    assert max(b.num_rows for b in batches) <= 300
    ids = [i for b in batches for i in b.column("id").to_pylist()]
    assert ids == list(range(1_500, 3_700))
    assert list(read_batches(objects, digest, plan, 6_000, 7_000)) == []


def test_the_output_profile_is_the_one_reading_the_parts_back_gives(
    scored: Scored, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.data import prepare_parts

    client = scored.client
    monkeypatch.setattr(batch, "PART_ROWS", 12_000)  # several parts: profiles merged
    out = predict_dataset("credit", "applications", batch_rows=5_000, client=client)
    digests = [e.digest for e in client.datasets.manifest(out).entries]
    assert len(digests) == 5
    read_back = prepare_parts(client.objects, digests)  # the way that reads every part
    assert out.manifest_digest == read_back.manifest_digest
    assert out.profile_digest == read_back.profile_digest


def test_a_failing_profile_beside_the_storing_fails_the_job_and_records_nothing(
    scored: Scored, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.data import _profile

    def broken(*args: object, **kwargs: object) -> None:
        raise MemoryError("no room to profile")

    client = scored.client
    monkeypatch.setattr(_profile, "profile_table", broken)  # runs beside the part's put
    with pytest.raises(MemoryError, match="no room to profile"):
        predict_dataset("credit", "applications", batch_rows=5_000, client=client)
    with pytest.raises(NotFound):
        client.datasets.resolve("credit-predictions")


def test_features_of_mixed_types_take_the_checked_path_and_score_alike(scored: Scored) -> None:
    client, model = scored.client, scored.model
    frame = make_frame(3_000).assign(income=lambda f: f["income"].round().astype("int64"))
    client.datasets.log(frame, "mixed")
    out = client.datasets.load(predict_dataset("credit", "mixed", batch_rows=700, client=client))
    features = frame[["income", "debt"]].astype(float)
    assert (out["prediction"].to_numpy() == model.predict(features)).all()
    np.testing.assert_allclose(out["proba_1"].to_numpy(), model.predict_proba(features)[:, 1])
