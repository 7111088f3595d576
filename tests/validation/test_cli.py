"""``keel validate`` and ``keel infer-schema`` run as the real command on real files and
a real project: exit codes for CI, the table, --json, --html, and reports on record."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests._cli import run_keel, run_python

N = 400
EMAILS = [f"person{i}@example.com" for i in range(N)]

SCHEMA = """\
schema: customers
columns:
  age:
    dtype: int64
    not_null: true
    in_range: {min: 18, max: 100}
  state:
    in_set: [CA, NY, TX]
  income:
    mean: {min: 2000, max: 8000, severity: warn}
  email:
    not_null: true
table:
  row_count: {min: 100}
"""


def keel(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_keel(*args, cwd=cwd)


def customers(*, bad_age: int = 0, bad_state: int = 0, income: float = 5000.0) -> pa.Table:
    rng = np.random.default_rng(3)
    age = rng.integers(18, 90, N)
    age[:bad_age] = 150
    state = rng.choice(["CA", "NY", "TX"], N).astype(object)
    state[N - bad_state :] = "ZZ"
    return pa.table(
        {
            "age": pa.array(age, pa.int64()),
            "state": pa.array(list(state), pa.string()),
            "income": rng.normal(income, 500.0, N),
            "email": EMAILS,
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    pq.write_table(customers(), tmp_path / "clean.parquet")
    pq.write_table(customers(bad_age=5, bad_state=3), tmp_path / "broken.parquet")
    pq.write_table(customers(income=12000.0), tmp_path / "rich.parquet")
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    return tmp_path


def assert_no_email(text: str) -> None:
    leaked = [e for e in EMAILS if e in text]
    assert not leaked, f"clear e-mails in the output: {leaked[:3]}"


def test_clean_data_passes_and_broken_data_exits_2(files: Path) -> None:
    clean = keel("validate", "clean.parquet", "--schema", "schema.yaml", cwd=files)
    assert clean.returncode == 0, clean.stderr
    assert "clean.parquet against schema customers: 400 rows" in clean.stdout
    assert "passed (0 errors, 0 warnings)" in clean.stdout
    assert "in_range(age)" in clean.stdout
    assert "✗" not in clean.stdout

    broken = keel("validate", "broken.parquet", "--schema", "schema.yaml", cwd=files)
    assert broken.returncode == 3, broken.stderr
    assert "FAILED (2 errors, 0 warnings)" in broken.stdout
    failing = [line for line in broken.stdout.splitlines() if "✗ error" in line]
    assert len(failing) == 2
    assert "in_range(age)" in failing[0]
    assert "5 (1.2%)" in failing[0]
    assert "in_set(state)" in failing[1]
    assert "unexpected=[ZZ]" in failing[1]
    assert "examples failing in_range(age)" in broken.stdout
    assert "150" in broken.stdout
    assert_no_email(broken.stdout)
    assert "p***@e***.com" in broken.stdout  # the examples' e-mails, masked
    assert "Traceback" not in broken.stderr


def test_warnings_alone_exit_0(files: Path) -> None:
    warned = keel("validate", "rich.parquet", "-s", "schema.yaml", cwd=files)
    assert warned.returncode == 0, warned.stderr
    assert "passed (0 errors, 1 warning)" in warned.stdout
    [line] = [line for line in warned.stdout.splitlines() if "! warn" in line]
    assert "mean(income)" in line


def test_json_keeps_the_exit_codes(files: Path) -> None:
    out = keel("validate", "broken.parquet", "-s", "schema.yaml", "--json", cwd=files)
    assert out.returncode == 3, out.stderr
    report = json.loads(out.stdout)
    assert report["format"] == "keel.validation/1"
    assert report["passed"] is False
    assert report["subject"] == "broken.parquet"
    failed = {r["name"] for r in report["results"] if not r["passed"]}
    assert failed == {"in_range(age)", "in_set(state)"}
    assert_no_email(out.stdout)

    ok = keel("validate", "rich.parquet", "-s", "schema.yaml", "--json", cwd=files)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["passed"] is True


def test_html_report_is_self_contained_and_masked(files: Path) -> None:
    out = keel(
        "validate", "broken.parquet", "-s", "schema.yaml", "--html", "out/report.html", cwd=files
    )
    assert out.returncode == 3, out.stderr
    assert "wrote the HTML report to out/report.html" in out.stdout
    page = (files / "out" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "<script" not in page.lower()
    assert "http://" not in page
    assert "https://" not in page
    for name in ("in_range(age)", "in_set(state)"):
        assert name in page
    assert "histogram of age" in page
    assert "most frequent values of state" in page
    assert "may hold personal data (email)" in page
    assert_no_email(page)

    # With --json, stdout stays one JSON document; the note goes to stderr.
    both = keel(
        "validate", "clean.parquet", "-s", "schema.yaml", "--json", "--html", "c.html", cwd=files
    )
    assert both.returncode == 0, both.stderr
    assert json.loads(both.stdout)["passed"] is True
    assert "wrote the HTML report to c.html" in both.stderr
    assert "✓ Passed" in (files / "c.html").read_text()


def test_user_errors_exit_1_with_a_clear_message(files: Path) -> None:
    (files / "bad.yaml").write_text(
        "schema: x\ncolumns:\n  age:\n    in_range: {min: 1, max: 2\n  state:\n    in_set: [a]\n"
    )
    malformed = keel("validate", "clean.parquet", "-s", "bad.yaml", cwd=files)
    assert malformed.returncode == 1
    assert "bad.yaml line 5" in malformed.stderr
    assert "malformed YAML" in malformed.stderr
    assert "Traceback" not in malformed.stderr

    (files / "typo.yaml").write_text("schema: x\ncolumns:\n  age:\n    in_rnge: {min: 1}\n")
    typo = keel("validate", "clean.parquet", "-s", "typo.yaml", cwd=files)
    assert typo.returncode == 1
    assert "typo.yaml line 4" in typo.stderr
    assert "Did you mean 'in_range'?" in typo.stderr

    missing = keel("validate", "missing.parquet", "-s", "schema.yaml", cwd=files)
    assert missing.returncode == 1
    assert "missing.parquet does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr

    no_schema = keel("validate", "clean.parquet", "-s", "nope.yaml", cwd=files)
    assert no_schema.returncode == 1
    assert "keel infer-schema DATA --out nope.yaml" in no_schema.stderr

    unwritable = keel(
        "validate", "clean.parquet", "-s", "schema.yaml", "--html", "schema.yaml/r.html", cwd=files
    )
    assert unwritable.returncode == 1
    assert "Cannot write the HTML report to schema.yaml/r.html" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr


def test_inferred_schema_passes_its_own_data(files: Path) -> None:
    printed = keel("infer-schema", "clean.parquet", "--name", "customers", cwd=files)
    assert printed.returncode == 0, printed.stderr
    proposal = yaml.safe_load(printed.stdout)
    assert proposal["schema"] == "customers"
    assert proposal["columns"]["state"]["in_set"] == ["CA", "NY", "TX"]

    wrote = keel("infer-schema", "clean.parquet", "--out", "s.yaml", "--margin", "0", cwd=files)
    assert wrote.returncode == 0, wrote.stderr
    assert "to s.yaml" in wrote.stdout
    assert "keel validate clean.parquet --schema s.yaml" in wrote.stdout
    inferred = yaml.safe_load((files / "s.yaml").read_text())
    assert inferred["columns"]["age"]["in_range"] == {"min": 18, "max": 89}  # margin 0

    assert keel("validate", "clean.parquet", "-s", "s.yaml", cwd=files).returncode == 0
    assert keel("validate", "broken.parquet", "-s", "s.yaml", cwd=files).returncode == 3

    (files / "s.yaml").write_text("# edited by hand\n" + (files / "s.yaml").read_text())
    refused = keel("infer-schema", "clean.parquet", "--out", "s.yaml", cwd=files)
    assert refused.returncode == 1
    assert "s.yaml already exists" in refused.stderr
    assert "--force" in refused.stderr
    assert (files / "s.yaml").read_text().startswith("# edited by hand")
    forced = keel("infer-schema", "clean.parquet", "--out", "s.yaml", "--force", cwd=files)
    assert forced.returncode == 0, forced.stderr
    assert not (files / "s.yaml").read_text().startswith("# edited by hand")
    unwritable = keel("infer-schema", "clean.parquet", "--out", "s.yaml/x.yaml", cwd=files)
    assert unwritable.returncode == 1
    assert "Cannot write the schema to s.yaml/x.yaml" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A real project made by 'keel init', with credit:v1 logged by a separate process."""
    from keel.client import reset_default_client

    assert keel("init", cwd=tmp_path).returncode == 0
    pq.write_table(customers(), tmp_path / "credit.parquet")
    run_python("import keel; keel.log_dataset('credit.parquet', 'credit')", cwd=tmp_path)
    reset_default_client()
    yield tmp_path
    reset_default_client()


def test_dataset_refs_are_inferred_validated_and_recorded(project: Path) -> None:
    from keel.client import default_client
    from keel.validation import get_report, list_reports

    wrote = keel("infer-schema", "credit:v1", "--out", "schemas/credit.yaml", cwd=project)
    assert wrote.returncode == 0, wrote.stderr
    schema = yaml.safe_load((project / "schemas" / "credit.yaml").read_text())
    assert schema["schema"] == "credit"
    assert schema["inferred_from"] == "credit:v1"

    checked = keel("validate", "credit:v1", "--schema", "schemas/credit.yaml", cwd=project)
    assert checked.returncode == 0, checked.stderr
    assert "credit:v1 against schema credit" in checked.stdout
    assert "recorded as validation report" in checked.stdout
    skipped = keel(
        "validate", "credit@latest", "-s", "schemas/credit.yaml", "--no-record", cwd=project
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "recorded" not in skipped.stdout

    version = default_client().datasets.resolve("credit:v1")
    reports = list_reports("dataset_version", version.id)
    assert [r["passed"] for r in reports] == [True]
    assert reports[0]["id"] in checked.stdout
    assert get_report(reports[0]["id"]).subject == "credit:v1"

    unknown = keel("validate", "nobody:v1", "-s", "schemas/credit.yaml", cwd=project)
    assert unknown.returncode == 1
    assert "nobody" in unknown.stderr


def test_the_module_imports_nothing_heavy() -> None:
    """Start-up time: the engine, Arrow and Jinja2 load only when a command runs."""
    code = (
        "import sys, keel.cli.validate; "
        "print(sorted(m for m in ('pyarrow', 'jinja2', 'keel.validation', 'numpy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
