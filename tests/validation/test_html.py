"""The HTML report: self-contained, escaped, charts with the schema's bounds, and no
personal data in clear anywhere on the page."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from keel.validation import CheckResult, Schema, ValidationReport, validate
from keel.validation._html import personal_columns, render_html, shown_example, shown_observed

N = 300
EMAILS = [f"someone{i}@example.org" for i in range(N)]


def table(*, bad_age: int = 0) -> pa.Table:
    rng = np.random.default_rng(11)
    age = rng.integers(20, 80, N)
    age[:bad_age] = 140
    state = rng.choice(["CA", "NY", "TX"], N).astype(object)
    state[-2:] = "??"
    return pa.table(
        {
            "age": pa.array(age, pa.int64()),
            "state": pa.array(list(state), pa.string()),
            "email": EMAILS,
            "phone_number": pa.array(rng.integers(5_550_000, 5_559_999, N), pa.int64()),
        }
    )


SCHEMA = Schema.from_yaml(
    """
schema: people
columns:
  age: {in_range: {min: 18, max: 100}}
  state: {in_set: [CA, NY, TX]}
  email: {not_null: true, matches: '[a-z]+@example\\.com'}
  phone_number: {in_range: {min: 0, max: 9999999}}
table:
  row_count: {min: 10}
"""
)


@pytest.fixture
def page() -> str:
    data = table(bad_age=4)
    report = validate(data, SCHEMA, record=False)
    assert not report.passed
    return render_html(report, data, SCHEMA)


def test_the_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)\s*=", page)
    assert "http://" not in page
    assert "https://" not in page


def test_verdict_counts_failure_chart_and_checks(page: str) -> None:
    assert '<div class="banner failed">' in page
    assert "3 errors" in page  # age range, state set, email format
    assert 'aria-label="share of failing rows per failed check"' in page
    assert "in_range(age): 4 rows (1.33%)" in page
    for name in ("in_range(age)", "in_set(state)", "matches(email)", "row_count"):
        assert f"<td>{name}</td>" in page
    assert "Outside 18..100 in 4 of 300 rows" in page
    assert "unexpected=[??]" in page


def test_histograms_draw_the_schema_bounds(page: str) -> None:
    age = page.split('aria-label="histogram of age"')[1].split("</svg>")[0]
    assert "<title>min 18</title>" in age
    assert "<title>max 100</title>" in age
    assert 'class="error"' in age  # the bin of 140, beyond max
    assert "dashed: in_range min 18, max 100" in page
    state = page.split('aria-label="most frequent values of state"')[1].split("</svg>")[0]
    assert state.count('class="error"') == 1  # "??" is not in the set
    assert "??" in state


def test_personal_columns_are_never_shown_in_clear(page: str) -> None:
    assert not [e for e in EMAILS if e in page]
    assert "s***@e***.org" in page  # the examples' e-mails, masked by the engine
    assert "may hold personal data (email)" in page
    assert "histogram of email" not in page
    # phone_number is personal by its name: no histogram, and its observed range masked.
    assert "histogram of phone_number" not in page
    phone_row = page.split("<td>in_range(phone_number)</td>")[1].split("</tr>")[0]
    assert "555" not in phone_row


def test_without_the_table_there_are_no_column_charts() -> None:
    data = table(bad_age=2)
    report = validate(data, SCHEMA, record=False)
    page = render_html(report)
    assert "Checked columns" not in page
    assert "histogram of" not in page
    assert "<svg" in page  # the failure chart needs only the report
    assert not [e for e in EMAILS if e in page]


def test_a_passing_report_has_a_green_banner_and_no_failure_chart() -> None:
    data = table().filter(pa.compute.not_equal(pa.compute.field("state"), "??"))
    schema = Schema.from_yaml("columns:\n  age: {in_range: {min: 0, max: 200}}\n")
    page = render_html(validate(data, schema, record=False), data, schema)
    assert '<div class="banner passed">' in page
    assert "✓ Passed" in page
    assert "Failing rows per check" not in page
    assert 'aria-label="histogram of age"' in page
    # Bounds far beyond the data are named instead of squashing the histogram.
    assert "bounds off the chart: max 200" in page


def test_names_and_values_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    data = pa.table({evil: ["a", "b", "<img src=x>"]})
    schema = Schema.from_dict({"columns": {evil: {"in_set": ["a", "b"]}}})
    page = render_html(validate(data, schema, record=False), data, schema)
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;img src=x&gt;" in page


def test_personal_columns_from_the_report_alone() -> None:
    result = CheckResult(
        name="in_range(score)",
        kind="in_range",
        column="score",
        severity="error",
        passed=False,
        failing_rows=1,
        failing_share=0.5,
        observed={"min": 1, "max": 99},
        examples=[{"score": 99, "contact": "a***@b***.com", "last_name": "Smith"}],
    )
    pii = CheckResult(
        name="pii",
        kind="pii",
        column=None,
        severity="error",
        passed=False,
        observed={"found": ["notes: phone (40.0%)"]},
    )
    report = ValidationReport(subject="t", rows=2, columns=4, results=[result, pii])
    kinds = personal_columns(report)
    assert kinds == {
        "contact": "name_suggests_personal",
        "last_name": "name_suggests_personal",
        "notes": "phone",
    }
    shown = shown_example(result.examples[0], kinds)
    assert shown == {"score": 99, "contact": "a***@b***.com", "last_name": "S***"}
    assert shown_observed(result, kinds) == "min=1, max=99"
    assert shown_observed(result, {"score": "name_suggests_personal"}) == "min=***, max=***"


def test_top_values_rank_by_count_then_value() -> None:
    from keel.validation._html import TOP_VALUES, _most_frequent

    words = pa.chunked_array([pa.array(["b", "a", "c", None, "b"]), pa.array(["a", "d"])])
    assert _most_frequent(words) == [("a", 2), ("b", 2), ("c", 1), ("d", 1)]
    coded = pa.chunked_array([pa.array(["y", "x", "y"]).dictionary_encode()])
    assert _most_frequent(coded) == [("y", 2), ("x", 1)]
    flags = pa.chunked_array([pa.array([True, False, True, None])])
    assert _most_frequent(flags) == [(True, 2), (False, 1)]
    many = pa.chunked_array([pa.array([f"v{i % 40}" for i in range(1000)] + ["v7"] * 5)])
    top = _most_frequent(many)
    assert len(top) == TOP_VALUES
    assert top[0] == ("v7", 30)
    assert [v for v, _ in top[1:4]] == ["v0", "v1", "v10"]  # ties in value order


def test_distinct_values_get_a_note_not_a_chart() -> None:
    data = pa.table({"code": [f"K{i:05d}" for i in range(500)]})
    schema = Schema.from_yaml("columns:\n  code: {unique: true}\n")
    page = render_html(validate(data, schema, record=False), data, schema)
    assert "Every value is distinct (500 values)." in page
    assert "most frequent values of code" not in page


def test_nearly_unique_text_columns_are_not_charted_as_top_values() -> None:
    import pandas as pd

    from keel.validation import Schema, checks, validate
    from keel.validation._html import render_html

    ids = [f"a-{i:06d}" for i in range(500)]
    ids[1] = ids[0]  # one repeat: not every value is distinct, but nearly
    frame = pd.DataFrame({"applicant_id": ids})
    schema = Schema([checks.unique("applicant_id")])
    report = validate(frame, schema, record=False)
    page = render_html(report, pa_table(frame), schema)
    assert "Nearly every value is distinct (499 of 500)" in page
    assert "a-000007" not in page


def pa_table(frame):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)
