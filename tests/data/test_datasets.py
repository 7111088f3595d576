"""Dataset versions on SQLite and PostgreSQL: log, dedupe, refs, load, get, diff, lineage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.data import DatasetService
from keel.data._diff import diff_versions
from keel.errors import AlreadyExists, IntegrityError, InvalidInput, NotFound
from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.fsck import fsck
from keel.store.lineage import lineage_graph


@pytest.fixture
def data(store: Store) -> DatasetService:
    return DatasetService(store)


def frame(n: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "amount": rng.normal(100, 15, n).round(2),
            "region": rng.choice(["north", "south"], n),
        }
    )


def test_log_and_load_round_trip(data: DatasetService) -> None:
    df = frame()
    version = data.log(df, "credit", description="first batch")
    assert version.ref == "credit:v1"
    assert (version.kind, version.row_count) == ("table", 100)
    assert [c["name"] for c in version.schema] == ["id", "amount", "region"]
    assert data.load("credit:v1").equals(df)
    assert data.load("credit", format="arrow").num_rows == 100
    relation = data.load("credit@latest", format="duckdb")
    assert relation.aggregate("sum(id)").fetchall()[0][0] == sum(range(100))


def test_same_content_is_the_same_version_and_stored_once(data: DatasetService) -> None:
    first = data.log(frame(), "credit")
    again = data.log(frame(), "credit")
    copy = data.log(frame(), "credit-copy")  # another dataset, same bytes
    assert again.id == first.id
    assert copy.manifest_digest == first.manifest_digest
    assert len(data.versions("credit")) == 1
    parts = {e.digest for e in data.manifest(first).entries}
    assert parts == {e.digest for e in data.manifest(copy).entries}


def test_references_tags_and_digests(data: DatasetService) -> None:
    v1 = data.log(frame(seed=1), "credit")
    v2 = data.log(frame(seed=2), "credit", tags=["prod"])
    v3 = data.log(frame(seed=3), "credit")
    assert data.resolve("credit").id == v3.id
    assert data.resolve("credit@latest").id == v3.id
    assert data.resolve("credit@prod").id == v2.id
    assert data.resolve("credit:v1").id == v1.id
    assert data.resolve(v1.manifest_digest[:20]).id == v1.id
    data.tag("credit:v3", "prod")  # tags move
    assert data.resolve("credit@prod").id == v3.id
    with pytest.raises(NotFound, match="has no version v9; its latest is v3"):
        data.resolve("credit:v9")
    with pytest.raises(NotFound, match="has no tag 'prd'.*Did you mean 'prod'"):
        data.resolve("credit@prd")
    with pytest.raises(NotFound, match="No dataset named 'credt'.*Did you mean 'credit'"):
        data.resolve("credt")
    assert data.resolve("credit:3").id == v3.id  # the models' form names the same version
    assert data.resolve("credit:3").ref == "credit:v3"  # and prints in the datasets' form
    with pytest.raises(InvalidInput, match=r"Cannot read the dataset reference.*'name:N'"):
        data.resolve("credit:x3")


def test_files_folder_versioning_and_get(data: DatasetService, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "cats").mkdir(parents=True)
    (folder / "cats" / "a.png").write_bytes(b"\x89PNG cat")
    (folder / "readme.txt").write_text("pictures")
    version = data.log(folder, "images")
    assert version.kind == "files"
    assert sorted(e.path for e in data.manifest(version).entries) == ["cats/a.png", "readme.txt"]
    written = data.get("images:v1", tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "cats/a.png",
        "readme.txt",
    ]
    assert (tmp_path / "out" / "cats" / "a.png").read_bytes() == b"\x89PNG cat"
    with pytest.raises(InvalidInput, match="is a set of files, not a table"):
        data.load("images")


def test_csv_parquet_arrow_and_polars_like_inputs(data: DatasetService, tmp_path: Path) -> None:
    df = frame(20)
    df.to_csv(tmp_path / "a.csv", index=False)
    df.to_parquet(tmp_path / "a.parquet")
    from_csv = data.log(tmp_path / "a.csv", "from-csv")
    from_parquet = data.log(tmp_path / "a.parquet", "from-parquet")
    from_arrow = data.log(pa.Table.from_pandas(df, preserve_index=False), "from-arrow")
    for version in (from_csv, from_parquet, from_arrow):
        assert version.row_count == 20
        assert data.load(version)["amount"].sum() == pytest.approx(df["amount"].sum())


def test_bad_inputs_change_nothing(data: DatasetService, tmp_path: Path) -> None:
    before = data.store.counts()
    with pytest.raises(InvalidInput, match="Cannot log a dict as a dataset"):
        data.log({"a": 1}, "credit")
    with pytest.raises(NotFound, match="no such file or folder"):
        data.log(tmp_path / "missing.csv", "credit")
    with pytest.raises(InvalidInput, match="Dataset name 'bad name!' is not valid"):
        data.log(frame(), "bad name!")
    with pytest.raises(InvalidInput, match="'latest' is reserved"):
        data.log(frame(), "credit", tags=["latest"])
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInput, match="Cannot read .*broken.parquet as a table"):
        data.log(tmp_path / "broken.parquet", "credit")
    assert data.store.counts() == before


def test_a_name_used_by_a_model_is_refused(data: DatasetService) -> None:
    with data.store.write() as conn:
        conn.execute(
            t.models.insert().values(
                id=new_id(), project_id=data.store.project_id(), name="credit", created_at=now_ms()
            )
        )
    with pytest.raises(AlreadyExists, match="already the name of a model"):
        data.log(frame(), "credit")


def test_a_crash_before_recording_leaves_no_version(
    data: DatasetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args, **kwargs):
        raise RuntimeError("killed while recording")

    monkeypatch.setattr(DatasetService, "_record", crash)
    with pytest.raises(RuntimeError):
        data.log(frame(), "credit")
    monkeypatch.undo()
    with pytest.raises(NotFound):
        data.resolve("credit")
    report = fsck(data.store)
    assert report.ok  # the parts were written but nothing refers to them: harmless
    assert report.unreferenced


def test_corrupt_part_is_detected_on_load(data: DatasetService) -> None:
    version = data.log(frame(), "credit")
    digest = data.manifest(version).entries[0].digest
    path = data.store.objects.path(digest)
    path.chmod(0o644)
    path.write_bytes(b"bit rot")
    with pytest.raises(IntegrityError, match=digest):
        data.load("credit")
    with pytest.raises(IntegrityError, match=digest):
        data.load("credit", format="duckdb")


def test_diff_tables_by_schema_stats_and_key(data: DatasetService) -> None:
    a = frame(50)
    b = frame(50).iloc[5:].copy()  # rows 0-4 removed
    b.loc[b["id"] == 10, "amount"] = -1.0  # one row changed
    b = pd.concat(
        [b, pd.DataFrame({"id": [100, 101], "amount": [1.0, 2.0], "region": ["east"] * 2})]
    )
    b["segment"] = "retail"  # a new column
    data.log(a, "credit")
    data.log(b, "credit")
    result = diff_versions(data, "credit:v1", "credit:v2", key="id")
    assert result.rows == (50, 47)
    assert result.columns_added == ["segment"]
    assert "amount" in result.stats
    assert result.keys["added"] == 2
    assert result.keys["removed"] == 5
    assert result.keys["changed"] == 1
    assert result.keys["changed_examples"] == [10]
    assert not result.same
    assert diff_versions(data, "credit:v1", "credit:v1").same


def test_diff_files(data: DatasetService, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "keep.txt").write_text("same")
    (folder / "edit.txt").write_text("old")
    (folder / "drop.txt").write_text("bye")
    data.log(folder, "docs")
    (folder / "edit.txt").write_text("new")
    (folder / "drop.txt").unlink()
    (folder / "new.txt").write_text("hi")
    data.log(folder, "docs")
    result = diff_versions(data, "docs:v1", "docs:v2")
    assert (result.files_added, result.files_removed, result.files_changed) == (
        ["new.txt"],
        ["drop.txt"],
        ["edit.txt"],
    )


def test_parents_and_producers_form_the_lineage_graph(data: DatasetService) -> None:
    raw = data.log(frame(seed=1), "raw")
    clean = data.log(frame(seed=2), "clean", parents=["raw:v1"], producer=("run", "r1"))
    graph = lineage_graph(data.store, "dataset_version", clean.id, direction="up")
    labels = {node.label for node in graph.nodes.values()}
    assert "raw:v1" in labels
    assert ("run", "r1") in graph.nodes
    assert {e.relation for e in graph.upstream(("dataset_version", clean.id))} == {
        "derived_into",
        "produced",
    }
    down = lineage_graph(data.store, "dataset_version", raw.id, direction="down")
    assert ("dataset_version", clean.id) in down.nodes
    assert ("run", "r1") not in down.nodes
