"""Right to erasure on SQLite and PostgreSQL: rows gone from every version, history kept,
old objects deleted unless shared, fsck checks it, bad input and crashes change nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import keel.data._erase as erase_module
from keel.data import DatasetService, check_erasures, erase
from keel.errors import IntegrityError, InvalidInput, NotFound, PermissionDenied
from keel.registry import Actor
from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.fsck import fsck
from keel.store.lineage import lineage_graph
from tests._cli import run_keel

WHERE = "customer_id = 'c-123'"


@pytest.fixture
def data(store: Store) -> DatasetService:
    return DatasetService(store)


def customers(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.choice([f"c-{i}" for i in range(100, 140)], n)
    ids[::17] = "c-123"  # the person asking to be forgotten, spread through the table
    return pd.DataFrame(
        {
            "customer_id": ids,
            "amount": rng.normal(100, 15, n).round(2),
            "region": rng.choice(["north", "south"], n),
        }
    )


def without(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame.customer_id != "c-123"].reset_index(drop=True)


def three_versions(data: DatasetService) -> tuple[list[pd.DataFrame], list[Any]]:
    """v1; v2 = v1 plus rows (derived from v1, tagged prod); v3 without the person."""
    v1 = customers()
    v2 = pd.concat([v1, customers(50, seed=1)], ignore_index=True)
    v3 = without(customers(80, seed=2))
    first = data.log(v1, "customers")
    second = data.log(v2, "customers", parents=[first], tags=["prod"])
    third = data.log(v3, "customers")
    return [v1, v2, v3], [first, second, third]


def snapshot(store: Store) -> tuple[dict[str, int], set[str], list[tuple]]:
    """Everything an erasure could change: row counts, stored objects, version records."""
    with store.read() as conn:
        versions = conn.execute(
            sa.select(t.dataset_versions).order_by(t.dataset_versions.c.id)
        ).all()
    return store.counts(), set(store.objects.digests()), [tuple(r) for r in versions]


def erasures(store: Store) -> list[dict[str, Any]]:
    ev = t.audit_events
    with store.read() as conn:
        rows = conn.execute(sa.select(ev).where(ev.c.action == "erase")).mappings().all()
    return [dict(r) for r in rows]


def test_rows_are_removed_from_every_version_and_the_rest_is_intact(
    data: DatasetService,
) -> None:
    frames, before = three_versions(data)
    result = erase(data, "customers", WHERE, actor="dpo@example.com")

    expected = [len(f) - len(without(f)) for f in frames]
    assert [v.rows_removed for v in result.versions] == expected
    assert result.rows_removed == sum(expected) > 0
    after = data.versions("customers")
    for frame, old, new in zip(frames, before, after, strict=True):
        loaded = data.load(new)
        assert "c-123" not in set(loaded.customer_id)
        pd.testing.assert_frame_equal(loaded, without(frame))  # other rows equal, in order
        assert (new.id, new.version, new.created_at) == (old.id, old.version, old.created_at)
        assert new.row_count == len(without(frame))
        assert data.profile(new)["row_count"] == new.row_count
    # the version without matches is untouched; the others have new manifests
    assert after[2].manifest_digest == before[2].manifest_digest
    assert after[0].manifest_digest != before[0].manifest_digest
    assert [v.new_manifest for v in result.versions] == [
        after[0].manifest_digest,
        after[1].manifest_digest,
        None,
    ]
    # history: tags and lineage still point at the same versions
    assert data.resolve("customers@prod").id == before[1].id
    graph = lineage_graph(data.store, "dataset_version", before[1].id, direction="up")
    assert ("dataset_version", before[0].id) in graph.nodes
    # the erasure is on record: who, which predicate, rows and digests per version
    (event,) = erasures(data.store)
    assert event["actor"] == "dpo@example.com"
    assert event["created_at"] == result.erased_at
    details = event["details"]
    assert details["predicate"] == WHERE
    assert details["rows_removed"] == sum(expected)
    assert [(v["version"], v["rows_removed"]) for v in details["versions"]] == [
        (1, expected[0]),
        (2, expected[1]),
        (3, 0),
    ]
    assert details["versions"][0]["old_manifest"] == before[0].manifest_digest
    assert details["versions"][0]["new_manifest"] == after[0].manifest_digest


def test_old_objects_are_deleted_and_fsck_is_clean(data: DatasetService) -> None:
    _, before = three_versions(data)
    old_parts = {e.digest for v in before[:2] for e in data.manifest(v).entries}
    old = old_parts | {before[0].manifest_digest, before[1].profile_digest}
    result = erase(data, "customers", WHERE)
    assert old <= set(result.objects_deleted)
    assert result.objects_kept == {}
    stored = set(data.store.objects.digests())
    assert not old & stored
    with data.store.read() as conn:
        recorded = set(conn.execute(sa.select(t.objects.c.digest)).scalars())
    assert not old & recorded  # metadata rows went with the bytes
    report = fsck(data.store, checks=[check_erasures])
    assert report.ok, report.to_dict()
    assert report.unreferenced == []


def test_objects_shared_with_another_dataset_are_kept_until_erased_there(
    data: DatasetService,
) -> None:
    frame = customers()
    version = data.log(frame, "customers")
    copy = data.log(frame, "customers-copy")  # same bytes: same objects
    part = data.manifest(version).entries[0].digest
    assert part == data.manifest(copy).entries[0].digest

    result = erase(data, "customers", WHERE)
    assert part not in result.objects_deleted
    assert result.objects_kept[part] == ["dataset default/customers-copy:v1"]
    assert data.store.objects.exists(part)
    pd.testing.assert_frame_equal(data.load("customers-copy"), frame)  # still readable
    problems = check_erasures(data.store)
    assert {p["object"] for p in problems} >= {part}
    assert all(p["problem"] == "erased object still stored" for p in problems)
    assert "customers-copy:v1; erase the rows there too" in problems[0]["detail"]
    assert not fsck(data.store, checks=[check_erasures]).ok

    second = erase(data, "customers-copy", WHERE)
    assert part in second.objects_deleted
    assert not data.store.objects.exists(part)
    assert check_erasures(data.store) == []
    assert fsck(data.store, checks=[check_erasures]).ok


def test_fsck_reports_a_planted_leftover_and_new_matching_rows(data: DatasetService) -> None:
    version = data.log(customers(), "customers")
    part = data.manifest(version).entries[0].digest
    old_bytes = data.store.objects.read_bytes(part)
    erase(data, "customers", WHERE)
    assert check_erasures(data.store) == []

    assert data.store.objects.put(old_bytes) == part  # e.g. restored from a backup
    data.log(customers(60, seed=5), "customers")  # the person comes back in a new version
    problems = {p["problem"]: p for p in check_erasures(data.store)}
    assert problems["erased object still stored"]["object"] == part
    assert "referenced by nothing" in problems["erased object still stored"]["detail"]
    assert problems["rows still match"]["object"] == "customers:v2"
    report = fsck(data.store, checks=[check_erasures])
    assert not report.ok
    assert len(report.to_dict()["problems"]) == 2

    again = erase(data, "customers", WHERE)  # the remedy fsck names
    assert part in again.objects_deleted
    assert [v.rows_removed > 0 for v in again.versions] == [False, True]
    assert fsck(data.store, checks=[check_erasures]).ok


def test_a_dry_run_counts_and_changes_nothing(data: DatasetService) -> None:
    frames, _ = three_versions(data)
    before = snapshot(data.store)
    plan = erase(data, "customers:v2", WHERE, dry_run=True)  # a reference names its dataset
    assert plan.dry_run
    assert plan.erased_at is None
    assert [v.rows_removed for v in plan.versions] == [len(f) - len(without(f)) for f in frames]
    assert all(v.new_manifest is None for v in plan.versions)
    assert snapshot(data.store) == before


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("", "must be a SQL condition"),
        ("customer_id = ", "Cannot read the predicate"),
        ("customer_id = 'c-123'; DROP TABLE datasets", "Cannot read the predicate"),
        ("1=1) UNION SELECT 1 WHERE (1=1", "is not a single condition"),
        ("1=1) ORDER BY (1", "is not a single condition"),
        ("customer_id IN (SELECT * FROM read_csv('/etc/passwd'))", "contains a subquery"),
        ("customerid = 'c-123'", "cannot be evaluated on customers:v1.*customer_id, amount"),
        ("amount = 'lots'", "cannot be evaluated on customers:v1"),
        ("count(*) > 1", "cannot be evaluated"),
    ],
)
def test_a_bad_predicate_changes_nothing(data: DatasetService, where: str, message: str) -> None:
    three_versions(data)
    before = snapshot(data.store)
    with pytest.raises(InvalidInput, match=message):
        erase(data, "customers", where)
    assert snapshot(data.store) == before


def test_unknown_names_files_datasets_and_weak_actors_change_nothing(
    data: DatasetService, tmp_path: Path
) -> None:
    three_versions(data)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "customers.csv").write_text("customer_id\nc-123\n")
    data.log(folder, "scans")
    before = snapshot(data.store)
    with pytest.raises(NotFound, match="No dataset named 'customer'.*Did you mean 'customers'"):
        erase(data, "customer", WHERE)
    with pytest.raises(InvalidInput, match="Dataset name"):
        erase(data, "no/such", WHERE)
    with pytest.raises(InvalidInput, match=r"holds files, not tables \(scans:v1\)"):
        erase(data, "scans", WHERE)
    with pytest.raises(PermissionDenied, match="'ann' has role 'writer'"):
        erase(data, "customers", WHERE, actor=Actor("ann", "writer"))
    assert snapshot(data.store) == before
    assert erase(data, "customers", WHERE, actor=Actor("root", "admin")).actor == "root"


def test_a_crash_before_the_switch_leaves_the_old_state(
    data: DatasetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, before = three_versions(data)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed after writing the new objects")

    monkeypatch.setattr(erase_module, "_switch", crash)
    with pytest.raises(RuntimeError):
        erase(data, "customers", WHERE)
    # and a crash inside the switch's transaction, after the versions were updated
    monkeypatch.undo()
    monkeypatch.setattr(erase_module, "_record_audit", crash)
    with pytest.raises(RuntimeError):
        erase(data, "customers", WHERE)
    monkeypatch.undo()

    assert [v.manifest_digest for v in data.versions("customers")] == [
        v.manifest_digest for v in before
    ]
    for frame, version in zip(frames, before, strict=True):
        pd.testing.assert_frame_equal(data.load(version), frame)
    assert erasures(data.store) == []
    report = fsck(data.store, checks=[check_erasures])
    assert report.ok
    assert report.unreferenced  # the new objects: harmless garbage
    assert erase(data, "customers", WHERE).rows_removed > 0  # running it again works


def test_a_crash_after_the_switch_leaves_the_new_state_and_a_rerun_cleans_up(
    data: DatasetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, _ = three_versions(data)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed before deleting the old objects")

    monkeypatch.setattr(erase_module, "delete_unreferenced", crash)
    with pytest.raises(RuntimeError):
        erase(data, "customers", WHERE)
    monkeypatch.undo()
    for frame, version in zip(frames, data.versions("customers"), strict=True):
        pd.testing.assert_frame_equal(data.load(version), without(frame))
    problems = check_erasures(data.store)
    assert problems
    assert all("run the same erasure again" in p["detail"] for p in problems)

    again = erase(data, "customers", WHERE)
    assert again.rows_removed == 0
    assert set(again.objects_deleted) == {p["object"] for p in problems}
    assert fsck(data.store, checks=[check_erasures]).ok
    assert len(erasures(data.store)) == 2


def test_a_version_logged_during_the_erasure_aborts_it(
    data: DatasetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, before = three_versions(data)
    profile = erase_module._profile

    def meanwhile(*args: Any, **kwargs: Any) -> bytes | None:
        if len(data.versions("customers")) == 3:
            data.log(customers(30, seed=9), "customers")
        return profile(*args, **kwargs)

    monkeypatch.setattr(erase_module, "_profile", meanwhile)
    with pytest.raises(IntegrityError, match="changed while its rows were being erased"):
        erase(data, "customers", WHERE)
    monkeypatch.undo()
    assert [v.manifest_digest for v in data.versions("customers")[:3]] == [
        v.manifest_digest for v in before
    ]
    assert erasures(data.store) == []


def test_a_version_emptied_by_erasure_keeps_its_schema(data: DatasetService) -> None:
    only = pd.DataFrame({"customer_id": ["c-123", "c-123"], "amount": [1.0, 2.0]})
    data.log(only, "one-person")
    result = erase(data, "one-person", WHERE)
    assert result.rows_removed == 2
    loaded = data.load("one-person")
    assert list(loaded.columns) == ["customer_id", "amount"]
    assert len(loaded) == 0
    assert data.resolve("one-person").row_count == 0
    assert fsck(data.store, checks=[check_erasures]).ok


def test_null_predicate_values_do_not_match(data: DatasetService) -> None:
    frame = pd.DataFrame({"customer_id": ["c-123", None, "c-1"], "amount": [1.0, 2.0, 3.0]})
    data.log(frame, "nulls")
    assert erase(data, "nulls", "customer_id <> 'c-1'").rows_removed == 1
    kept = data.load("nulls", format="arrow").column("customer_id").to_pylist()
    assert kept == [None, "c-1"]


SCRIPT = """
import pandas as pd, keel
frame = pd.DataFrame({"customer_id": ["c-1", "c-123", "c-2"], "amount": [1.0, 2.0, 3.0]})
keel.log_dataset(frame, "customers")
keel.log_dataset(pd.concat([frame, frame]), "customers")
"""


def test_the_command_line(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["COLUMNS"] = "200"

    def keel(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_keel(*args, cwd=tmp_path, stdin=stdin)

    assert keel("init").returncode == 0
    subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, check=True)
    plan = keel("data", "erase", "customers", "--where", WHERE, "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    assert [v["rows_removed"] for v in json.loads(plan.stdout)["versions"]] == [1, 2]
    shown = keel("data", "erase", "customers", "--where", WHERE, "--dry-run")
    assert "would be removed" in shown.stdout
    assert "customers:v2" in shown.stdout
    unconfirmed = keel("data", "erase", "customers", "--where", WHERE, stdin="")
    assert unconfirmed.returncode == 2
    assert "pass --yes" in unconfirmed.stderr
    bad = keel("data", "erase", "customers", "--where", "nope = 1", "--yes")
    assert bad.returncode == 1
    assert 'Referenced column "nope" not found' in bad.stderr
    assert "Traceback" not in bad.stderr
    done = keel("data", "erase", "customers", "--where", WHERE, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows_removed"] == 3
    table = keel("data", "erase", "customers", "--where", WHERE, "--yes")
    assert "0 rows removed" in table.stdout
    checked = keel("fsck", "--json")
    assert checked.returncode == 0, checked.stdout
    assert json.loads(checked.stdout)["problems"] == []


def test_objects_a_model_package_holds_are_kept(data: DatasetService) -> None:
    version = data.log(customers(), "customers")
    part = data.manifest(version).entries[0].digest
    store = data.store
    package = store.put_object(json.dumps({"format": 1, "files": {"x.parquet": part}}).encode())
    with store.write() as conn:
        model_id = new_id()
        conn.execute(
            t.models.insert().values(
                id=model_id, project_id=store.project_id(), name="churn", created_at=now_ms()
            )
        )
        conn.execute(
            t.model_versions.insert().values(
                id=new_id(),
                model_id=model_id,
                version=1,
                flavor="sklearn",
                package_digest=package,
                created_at=now_ms(),
            )
        )
    result = data.erase("customers", WHERE)  # the method form
    assert result.objects_kept == {part: ["model default/churn:1"]}
    assert store.objects.exists(part)
    assert fsck(store).ok  # nothing the package refers to went missing


def test_erasure_with_objects_on_s3(tmp_path: Path, s3_bucket: str) -> None:
    from keel.config import resolve
    from keel.store import init_project

    config = resolve(uri=f"sqlite:///{tmp_path / 'keel.db'}", objects=f"s3://{s3_bucket}/keel")
    store = init_project(tmp_path, config)
    try:
        data = DatasetService(store)
        frame = customers()
        version = data.log(frame, "customers")
        part = data.manifest(version).entries[0].digest
        result = erase(data, "customers", WHERE)
        assert part in result.objects_deleted
        assert not store.objects.exists(part)
        pd.testing.assert_frame_equal(data.load("customers"), without(frame))
        assert fsck(store, checks=[check_erasures]).ok
    finally:
        store.close()


def test_fsck_reports_model_input_examples_that_hold_erased_rows(data: DatasetService) -> None:
    from sklearn.linear_model import LinearRegression

    from keel.registry import RegistryService, stored_examples

    frame = customers()
    data.log(frame, "customers")
    features = frame[["amount"]]
    model = LinearRegression().fit(features, frame["amount"] * 2)
    registry = RegistryService(data.store)
    registry.register(model, "spend", input_example=features)  # keeps the first 5 rows
    largest = float(features["amount"].head(5).max())
    erase(data, "customers", f"amount = {largest}")
    assert check_erasures(data.store) == []  # data alone knows no model packages
    problems = check_erasures(data.store, copies=[stored_examples])  # as keel fsck checks
    assert [(p["problem"], p["object"]) for p in problems] == [
        ("model input example holds erased rows", "spend:1")
    ]
    assert "register the model again" in problems[0]["detail"]


def test_keel_fsck_finds_erased_rows_in_a_model_input_example(tmp_path: Path) -> None:
    """The command composes data's erasure check with the registry's stored examples."""
    assert run_keel("init", cwd=tmp_path).returncode == 0
    script = (
        "import pandas as pd, keel\n"
        "from sklearn.linear_model import LinearRegression\n"
        "frame = pd.DataFrame({'amount': [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})\n"
        "keel.log_dataset(frame, 'customers')\n"
        "model = LinearRegression().fit(frame, frame['amount'] * 2)\n"
        "keel.register_model(model, 'spend', input_example=frame)\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, capture_output=True)
    erased = run_keel(
        "data", "erase", "customers", "--where", "amount = 2.0", "--yes", cwd=tmp_path
    )
    assert erased.returncode == 0, erased.stderr
    report = run_keel("fsck", "--json", cwd=tmp_path)
    assert report.returncode == 1
    problems = json.loads(report.stdout)["problems"]
    assert ("model input example holds erased rows", "spend:1") in {
        (p["problem"], p["object"]) for p in problems
    }
