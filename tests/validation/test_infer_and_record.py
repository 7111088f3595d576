"""Inferring schemas, and reports kept on record with dataset versions and runs
(SQLite and PostgreSQL), and the pytest fixture."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import keel
from keel.client import default_client, reset_default_client
from keel.config import resolve
from keel.errors import InvalidInput, NotFound
from keel.store import init_project
from keel.store import schema as t
from keel.store.lineage import lineage_graph
from keel.testing import DataValidationError, assert_valid
from keel.validation import Schema, get_report, infer_schema, list_reports, validate


def applications(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "application_id": np.arange(n),
            "age": rng.integers(18, 80, n),
            "income": rng.lognormal(8, 0.4, n).round(2),
            "state": rng.choice(["CA", "NY", "TX", "WA"], n),
            "email": [f"user{i}@example.org" for i in range(n)],
            "applied_at": pd.Timestamp.now(tz="UTC").floor("s")
            - pd.to_timedelta(rng.integers(0, 72, n), unit="h"),
        }
    )


def broken(df: pd.DataFrame) -> pd.DataFrame:
    bad = df.copy()
    bad.loc[1, "age"] = 400
    bad.loc[2, "state"] = "??"
    bad.loc[3, "income"] = np.nan
    bad.loc[4, "application_id"] = 5
    return bad


@pytest.fixture
def project(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KEEL_URI", store_uri)
    monkeypatch.setenv("KEEL_OBJECTS", str(tmp_path / "objects"))
    monkeypatch.setenv("KEEL_FSYNC", "false")
    init_project(tmp_path, resolve()).close()
    reset_default_client()
    yield tmp_path
    reset_default_client()


def test_inferred_schema_passes_its_data_and_catches_planted_faults() -> None:
    df = applications()
    schema = infer_schema(df, name="applications")
    kinds = {c.name for c in schema.checks}
    assert {
        "dtype(age)",
        "not_null(age)",
        "in_range(age)",
        "in_set(state)",
        "unique(application_id)",
        "matches(email)",
        "row_count",
        "freshness(applied_at)",
    } <= kinds
    age_range = next(c for c in schema.checks if c.name == "in_range(age)")
    assert age_range.min <= 18
    assert age_range.max >= 79
    assert age_range.min >= 0
    assert validate(df, schema, record=False).passed
    failed = {r.name for r in validate(broken(df), schema, record=False).errors}
    assert failed == {
        "in_range(age)",
        "in_set(state)",
        "not_null(income)",
        "unique(application_id)",
    }
    again = Schema.from_yaml(schema.to_yaml())
    assert {r.name for r in validate(broken(df), again, record=False).errors} == failed


def test_infer_rejects_empty_tables_and_bad_margins() -> None:
    with pytest.raises(InvalidInput, match="has no rows"):
        infer_schema(applications().head(0))
    with pytest.raises(InvalidInput, match="margin must be a number >= 0"):
        infer_schema(applications(), margin=-1)
    with pytest.raises(InvalidInput, match="cannot read a list"):
        infer_schema([1, 2, 3])


def test_reports_on_dataset_versions_are_recorded_and_linked(project: Path) -> None:
    v1 = keel.log_dataset(applications(), "applications")
    schema = keel.infer_schema("applications:v1")
    assert schema.inferred_from == "applications:v1"
    assert any(c.kind == "distribution" for c in schema.checks)
    path = schema.save(project / "schemas" / "applications.yaml")

    good = keel.validate("applications:v1", path)
    assert good.passed
    assert good.id is not None
    v2 = keel.log_dataset(broken(applications(seed=1)), "applications")
    bad = keel.validate("applications:v2", path)
    assert not bad.passed

    assert [r["passed"] for r in list_reports("dataset_version", v2.id)] == [False]
    assert [r["passed"] for r in list_reports("dataset_version", v1.id)] == [True]
    stored = get_report(bad.id)
    assert stored.to_dict() == bad.to_dict()
    assert "user1@example.org" not in stored.to_json().decode()
    graph = lineage_graph(default_client().store, "dataset_version", v2.id)
    assert ("validation_report", bad.id) in graph.nodes
    label = graph.nodes[("validation_report", bad.id)].label
    assert label == "validation against applications: FAILED"

    store = default_client().store
    with store.read() as conn:
        schemas = conn.execute(sa.select(t.schemas.c.name, t.schemas.c.inferred_from)).all()
    assert ("applications", v1.id) in schemas  # inferred from v1, stored with it
    with pytest.raises(NotFound, match="No validation report"):
        get_report("nope")


def test_a_dataframe_is_recorded_against_the_active_run(project: Path) -> None:
    schema = infer_schema(applications())
    assert validate(applications(), schema).id is None  # no run: only checked
    with keel.start_run(experiment="validation") as run:
        report = validate(applications(), schema)
    assert [r["id"] for r in list_reports("run", run.id)] == [report.id]
    with pytest.raises(InvalidInput, match="nothing to be recorded against"):
        validate(applications(), schema, record=True)


def test_assert_valid_raises_an_assertion_with_the_report() -> None:
    schema = infer_schema(applications())
    assert assert_valid(applications(), schema).passed
    with pytest.raises(DataValidationError) as caught:
        assert_valid(broken(applications()), schema)
    assert isinstance(caught.value, AssertionError)
    assert "in_range(age)" in str(caught.value)
    assert "user1@example.org" not in str(caught.value)


def test_the_pytest_fixture_finds_schemas_beside_the_test(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    (folder / "schemas").mkdir(parents=True)
    Schema.from_yaml("columns:\n  x:\n    not_null: true\n    in_range: {min: 0, max: 10}\n").save(
        folder / "schemas" / "out.yaml"
    )
    (folder / "test_job.py").write_text(
        "import pandas as pd\n\n"
        "def test_good(assert_valid):\n"
        "    assert_valid(pd.DataFrame({'x': [1.0, 2.0]}), 'schemas/out.yaml')\n\n"
        "def test_bad(assert_valid):\n"
        "    assert_valid(pd.DataFrame({'x': [1.0, 20.0]}), 'schemas/out.yaml')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "1 failed, 1 passed" in result.stdout, result.stdout + result.stderr
    assert "in_range(x): Outside 0..10 in 1 of 2 rows" in result.stdout


def test_a_report_can_be_recorded_against_a_named_owner(project: Path) -> None:
    schema = infer_schema(applications())
    report = validate(applications(), schema, owner=("step_run", "step-42"))
    assert [r["id"] for r in list_reports("step_run", "step-42")] == [report.id]
    graph = lineage_graph(default_client().store, "step_run", "step-42")
    assert ("validation_report", report.id) in graph.nodes


def test_references_to_a_dataset_version(project: Path) -> None:
    from keel.validation import checks

    keel.log_dataset(pd.DataFrame({"code": ["CA", "NY", "TX", "WA"]}), "states")
    schema = Schema([checks.references("state", "states:v1", key="code")])
    assert validate(applications(), schema, record=False).passed
    bad = applications()
    bad.loc[[0, 1], "state"] = "ZZ"
    result = validate(bad, schema, record=False).result("references(state)")
    assert (result.passed, result.failing_rows) == (False, 2)
    missing = validate(bad, Schema([checks.references("state", "nope:v1")]), record=False)
    assert "nope" in missing.results[0].message
