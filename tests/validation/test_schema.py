"""Schemas in YAML: round trips, every way to write a check, errors that name the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.errors import NotFound, SchemaError
from keel.validation import Schema, checks, validate

YAML = """\
schema: credit
extra_columns: error
columns:
  age:
    dtype: integer
    not_null: true
    in_range: {min: 18, max: 100}
  state:
    in_set: [CA, NY, TX]
  income:
    mean: {min: 2000, max: 9000, severity: warn}
    quantile: [{q: 0.5, min: 1000, max: 8000}, {q: 0.99, max: 50000}]
  note:
    not_null: false
table:
  row_count: {min: 2}
  freshness: {column: ts, max_age: 30d}
policy:
  forbid: [email]
  require_hashed: [customer]
"""


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 40, 50],
            "state": ["CA", "NY", "TX"],
            "income": [3000.0, 4000.0, 5000.0],
            "note": ["a", None, "c"],
            "customer": [f"{i:064x}" for i in range(3)],
            "ts": pd.to_datetime(["2026-11-20", "2026-11-21", "2026-11-22"], utc=True),
        }
    )


def test_yaml_round_trip_keeps_every_check() -> None:
    schema = Schema.from_yaml(YAML)
    names = [c.name for c in schema.checks]
    assert names == [
        "dtype(age)",
        "not_null(age)",
        "in_range(age)",
        "in_set(state)",
        "mean(income)",
        "quantile(income)",
        "quantile(income)",
        "row_count",
        "freshness(ts)",
    ]  # 'not_null: false' adds nothing
    assert schema.checks[4].severity == "warn"
    again = Schema.from_yaml(schema.to_yaml())
    assert again.to_dict() == schema.to_dict()
    assert [c.params() for c in again.checks] == [c.params() for c in schema.checks]
    assert again.policy.forbid == ["email"]
    assert again.extra_columns == "error"


def test_a_yaml_schema_validates_like_its_python_twin(tmp_path: Path) -> None:
    path = Schema.from_yaml(YAML).save(tmp_path / "schemas" / "credit.yaml")
    report = validate(frame(), path, record=False)
    assert report.passed, str(report)
    extra = frame().assign(surprise=1)
    failed = validate(extra, str(path), record=False)
    assert [r.name for r in failed.errors] == ["no_extra_columns"]
    assert failed.errors[0].observed == {"extra": ["surprise"]}


def test_unknown_check_names_line_and_suggests() -> None:
    text = "columns:\n  age:\n    not_null: true\n    in_rnage: {min: 1}\n"
    with pytest.raises(SchemaError) as caught:
        Schema.from_yaml(text, source="credit.yaml")
    message = caught.value.message
    assert message.startswith("credit.yaml line 4 (column 'age'): Unknown check 'in_rnage'.")
    assert "Did you mean 'in_range'?" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "columns:\n  age:\n    in_range: {mn: 1}\n",
            "line 3 (column 'age'): in_range has no parameter 'mn'",
        ),
        (
            "columns:\n  age:\n    in_range: {min: a, max: 2}\n",
            "line 3 (column 'age'): in_range: min and max must be numbers",
        ),
        (
            "columns:\n  age:\n    in_set: []\n",
            "line 3 (column 'age'): in_set: values must be a non-empty list",
        ),
        (
            "columns:\n  age:\n    not_null: {severity: fatal}\n",
            "severity must be 'error' or 'warn'",
        ),
        (
            "columns:\n  age:\n    row_count: {min: 1}\n",
            "row_count checks the whole table: put it under 'table:'",
        ),
        ("table:\n  not_null: true\n", "line 2: not_null checks a column"),
        ("colums:\n  age: {}\n", "line 1: unknown key 'colums'. Did you mean 'columns'?"),
        ("columns: [age]\n", "'columns' must map column names to checks"),
        ("policy:\n  forbid: [emial]\n", "unknown kind 'emial'. Did you mean 'email'?"),
        ("version: 9\n", "schema version 9 is not one this keel reads"),
        ("- a\n- b\n", "this file holds list"),
    ],
)
def test_bad_schemas_say_what_and_where(text: str, expected: str) -> None:
    with pytest.raises(SchemaError) as caught:
        Schema.from_yaml(text, source="s.yaml")
    assert expected in caught.value.message


def test_malformed_yaml_names_the_line() -> None:
    text = "columns:\n  age:\n    in_range: {min: 1\n  state: x\n"
    with pytest.raises(SchemaError, match=r"s\.yaml line \d+, column \d+: malformed YAML"):
        Schema.from_yaml(text, source="s.yaml")


def test_missing_schema_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="keel infer-schema DATA --out"):
        Schema.load(tmp_path / "nope.yaml")


def test_custom_check_from_yaml_imports_the_function(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "my_checks.py").write_text("def positive(s):\n    return s > 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    schema = Schema.from_yaml("columns:\n  income:\n    custom: my_checks:positive\n")
    df = pd.DataFrame({"income": np.array([1.0, -2.0, 3.0])})
    result = validate(df, schema, record=False).results[0]
    assert (result.name, result.failing_rows) == ("custom:my_checks:positive(income)", 1)
    with pytest.raises(SchemaError, match="line 3 .*cannot import my_checks:nope"):
        Schema.from_yaml("columns:\n  income:\n    custom: my_checks:nope\n")


def test_python_only_checks_are_left_out_of_yaml() -> None:
    schema = Schema([checks.custom(lambda s: s > 0, column="x"), checks.not_null("x")])
    assert schema.to_dict()["columns"] == {"x": {"not_null": True}}
    with pytest.raises(SchemaError, match="must be checks"):
        Schema(["not_null"])  # type: ignore[list-item]
