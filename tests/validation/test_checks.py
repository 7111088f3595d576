"""Every check on clean data and on broken data: verdict, failing rows, examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.data._profile import profile_table
from keel.errors import SchemaError
from keel.validation import Schema, checks, validate


def table(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 90, n),
            "income": rng.normal(5000, 1000, n),
            "state": rng.choice(["CA", "NY", "TX"], n),
            "code": [f"AB-{i:04d}" for i in range(n)],
            "ts": pd.Timestamp("2026-11-20", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 1000, n), unit="min"),
        }
    )


def run(df: object, *found: object, now: datetime | None = None):
    return validate(df, Schema(list(found)), record=False, now=now)


def test_not_null_counts_nulls_and_nan_and_shows_the_rows() -> None:
    df = table()
    assert run(df, checks.not_null("income")).passed
    df.loc[[3, 7], "income"] = np.nan
    report = run(df, checks.not_null("income"))
    result = report.result("not_null(income)")
    assert (result.passed, result.failing_rows, result.failing_share) == (False, 2, 0.002)
    assert [row["id"] for row in result.examples] == [3, 7]
    nan_in_arrow = pa.table({"x": pa.array([1.0, float("nan"), None])})
    assert run(nan_in_arrow, checks.not_null("x")).result("not_null(x)").failing_rows == 2


def test_dtype_families_and_exact_types() -> None:
    df = table()
    assert run(df, checks.dtype("age", "integer"), checks.dtype("age", "int64")).passed
    assert run(df, checks.dtype("state", "string"), checks.dtype("ts", "timestamp")).passed
    report = run(df, checks.dtype("age", "int32"), checks.dtype("income", "integer"))
    assert [r.passed for r in report.results] == [False, False]
    assert "is double, expected integer" in report.result("dtype(income)").message
    categorical = df.astype({"state": "category"})
    assert run(
        categorical, checks.dtype("state", "string"), checks.dtype("state", "categorical")
    ).passed
    with pytest.raises(SchemaError, match="neither a type family"):
        checks.dtype("age", "integr")


def test_in_range_numbers_and_times() -> None:
    df = table()
    assert run(df, checks.in_range("age", 18, 90), checks.in_range("income", min=0)).passed
    df.loc[5, "age"] = 150
    df.loc[6, "age"] = 3
    result = run(df, checks.in_range("age", 18, 100)).result("in_range(age)")
    assert (result.passed, result.failing_rows) == (False, 2)
    assert result.observed == {"min": 3, "max": 150}
    assert {row["id"] for row in result.examples} == {5, 6}
    times = run(df, checks.in_range("ts", "2026-11-20", "2026-11-21")).result("in_range(ts)")
    assert times.passed
    late = run(df, checks.in_range("ts", max="2026-11-20T06:00:00")).result("in_range(ts)")
    assert not late.passed
    assert 0 < late.failing_rows < len(df)
    with pytest.raises(SchemaError, match="min \\(5\\) is above max \\(1\\)"):
        checks.in_range("age", 5, 1)
    with pytest.raises(SchemaError, match="give min, max or both"):
        checks.in_range("age")


def test_in_range_on_text_fails_with_a_reason_not_a_crash() -> None:
    result = run(table(), checks.in_range("state", 0, 1)).result("in_range(state)")
    assert not result.passed
    assert "Cannot run in_range on column 'state'" in result.message


def test_in_set_lists_unexpected_values() -> None:
    df = table()
    assert run(df, checks.in_set("state", ["CA", "NY", "TX"])).passed
    df.loc[[1, 2], "state"] = "ZZ"
    result = run(df, checks.in_set("state", ["CA", "NY", "TX"])).result("in_set(state)")
    assert (result.passed, result.failing_rows, result.observed) == (
        False,
        2,
        {"unexpected": ["ZZ"]},
    )
    assert (
        run(df.astype({"state": "category"}), checks.in_set("state", ["CA"]))
        .results[0]
        .failing_rows
        == (df.state != "CA").sum()
    )
    with pytest.raises(SchemaError, match="non-empty list"):
        checks.in_set("state", [])


def test_unique_counts_every_row_of_a_repeated_value() -> None:
    df = table()
    assert run(df, checks.unique("id")).passed
    df.loc[10, "id"] = 11
    result = run(df, checks.unique("id")).result("unique(id)")
    assert (result.passed, result.failing_rows, result.observed) == (
        False,
        2,
        {"duplicated_values": 1},
    )


def test_matches_is_a_full_match() -> None:
    df = table()
    assert run(df, checks.matches("code", r"AB-\d{4}")).passed
    df.loc[4, "code"] = "xAB-0004"
    result = run(df, checks.matches("code", r"AB-\d{4}")).result("matches(code)")
    assert (result.passed, result.failing_rows) == (False, 1)
    with pytest.raises(SchemaError, match="not a valid regular expression"):
        checks.matches("code", "(unclosed")


def test_row_count_and_freshness() -> None:
    df = table()
    now = datetime(2026, 11, 21, tzinfo=UTC)
    assert run(
        df, checks.row_count(min=1000, max=1000), checks.freshness("ts", "1d"), now=now
    ).passed
    stale = run(df, checks.freshness("ts", "1h"), now=now + timedelta(days=3))
    assert not stale.passed
    assert "old, more than 1h" in stale.results[0].message
    few = run(df.head(10), checks.row_count(min=100))
    assert "has 10 rows, expected at least 100" in few.results[0].message
    with pytest.raises(SchemaError, match="max_age must be a duration"):
        checks.freshness("ts", "soon")


def test_references_to_another_table_file(tmp_path) -> None:
    customers = pd.DataFrame({"state": ["CA", "NY", "TX", "WA"]})
    path = tmp_path / "states.parquet"
    customers.to_parquet(path)
    df = table()
    assert run(df, checks.references("state", str(path))).passed
    df.loc[0, "state"] = "ZZ"
    result = run(df, checks.references("state", str(path))).result("references(state)")
    assert (result.passed, result.failing_rows) == (False, 1)
    missing_key = run(df, checks.references("state", str(path), key="nope"))
    assert "has no column 'nope'" in missing_key.results[0].message


def test_statistical_checks() -> None:
    df = table()
    good = run(
        df,
        checks.mean("income", 4800, 5200),
        checks.std("income", 800, 1200),
        checks.quantile("income", 0.5, 4800, 5200),
    )
    assert good.passed
    assert 4800 < good.result("mean(income)").observed["mean"] < 5200
    shifted = df.assign(income=df.income + 3000)
    bad = run(shifted, checks.mean("income", 4800, 5200), checks.quantile("income", 0.99, max=8000))
    assert [r.passed for r in bad.results] == [False, False]
    with pytest.raises(SchemaError, match="q must be between 0 and 1"):
        checks.quantile("income", 1.5, 0, 1)


def test_distribution_against_a_reference_profile() -> None:
    reference = profile_table(table(seed=1))
    same = run(table(seed=2), checks.distribution("income", reference, max=0.1))
    assert same.passed
    assert same.results[0].observed["psi"] < 0.1
    drifted = table(seed=2).assign(income=lambda d: d.income * 1.5)
    result = run(drifted, checks.distribution("income", reference, max=0.1)).results[0]
    assert not result.passed
    assert result.observed["psi"] > 0.5
    skewed = table(seed=2)
    skewed["state"] = "CA"
    js = run(skewed, checks.distribution("state", reference, metric="js", max=0.1)).results[0]
    assert not js.passed
    assert 0 < js.observed["js"] <= 1


def test_custom_checks_on_a_column_and_the_table() -> None:
    df = table()
    positive = checks.custom(lambda s: s > 0, column="income", name="positive")
    ordered = checks.custom(lambda d: bool((d.age >= 18).all()), name="adults")
    assert run(df, positive, ordered).passed
    df.loc[2, "income"] = -1.0
    result = run(df, positive).result("custom:positive(income)")
    assert (result.passed, result.failing_rows) == (False, 1)

    def broken(series: pd.Series) -> bool:
        raise ValueError("boom")

    crashed = run(df, checks.custom(broken, column="age")).results[0]
    assert not crashed.passed
    assert "raised ValueError: boom" in crashed.message
    wrong = run(df, checks.custom(lambda s: [1, 2], column="age")).results[0]
    assert not wrong.passed
    assert "one bool per row" in wrong.message


def test_a_missing_column_fails_its_checks_with_a_suggestion() -> None:
    report = run(table(), checks.not_null("incme"), checks.in_range("incme", 0, 1))
    assert [r.passed for r in report.results] == [False, False]
    assert report.results[0].message == "Column 'incme' is missing. Did you mean 'income'?"


def test_severity_warn_does_not_fail_the_report() -> None:
    df = table()
    df.loc[0, "age"] = 200
    report = run(df, checks.in_range("age", 18, 90, severity="warn"), checks.not_null("age"))
    assert report.passed
    assert [w.name for w in report.warnings] == ["in_range(age)"]
    with pytest.raises(SchemaError, match="severity must be 'error' or 'warn'"):
        checks.not_null("age", severity="fatal")


def test_an_empty_table_fails_unless_the_schema_allows_it() -> None:
    empty = table().head(0)
    report = run(empty, checks.not_null("age"))
    assert not report.passed
    assert report.results[0].name == "row_count"
    assert run(empty, checks.row_count(min=0), checks.not_null("age")).passed


def test_pii_check_and_policy_mask_examples() -> None:
    df = table(200)
    df["email"] = [f"person{i}@example.com" for i in range(200)]
    df["customer_id"] = [f"c-{i}" for i in range(200)]
    report = validate(
        df,
        Schema([checks.in_range("age", 18, 20)], policy=_policy(["email"], ["customer_id"])),
        record=False,
    )
    names = {r.name: r for r in report.results}
    assert not names["pii"].passed
    assert "email" in names["pii"].message
    assert not names["hashed(customer_id)"].passed
    assert names["hashed(customer_id)"].failing_rows == 200
    text = str(report.to_dict())
    assert "person1@example.com" not in text
    assert "c-1'" not in text
    hashed = df.assign(customer_id=[f"{i:064x}" for i in range(200)]).drop(columns="email")
    clean = validate(hashed, Schema([], policy=_policy(["email"], ["customer_id"])), record=False)
    assert clean.passed


def _policy(forbid: list[str], hashed: list[str]):
    from keel.validation import Policy

    return Policy(forbid=forbid, require_hashed=hashed)


def test_failures_are_counted_exactly_on_a_larger_table() -> None:
    n = 200_000
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(0, 1, n), "s": rng.choice(["a", "b", "c"], n)})
    df.loc[::1000, "x"] = 99.0
    df.loc[::999, "s"] = "z"
    report = run(
        df,
        checks.in_range("x", -10, 10),
        checks.in_set("s", ["a", "b", "c"]),
        checks.not_null("x"),
        checks.unique("s"),
    )
    assert report.result("in_range(x)").failing_rows == 200
    assert report.result("in_set(s)").failing_rows == len(range(0, n, 999))
    assert report.result("not_null(x)").passed
    assert report.result("unique(s)").failing_rows == n


def test_training_serving_skew_flags_the_drifted_column_only() -> None:
    from keel.validation import check_skew

    training = table(5000, seed=1)
    schema = Schema([checks.in_set("state", ["CA", "NY", "TX"]), checks.row_count(min=5000)])
    calm = check_skew(table(500, seed=2), profile_table(training), schema=schema)
    assert calm.passed, str(calm)
    served = table(500, seed=3)
    served["income"] = served["income"] * 1.4
    served.loc[0, "state"] = "ZZ"
    report = check_skew(served, profile_table(training), schema=schema, threshold=0.2)
    assert {r.name for r in report.errors} == {"distribution(income)", "in_set(state)"}
    assert report.result("distribution(age)").passed
    assert "row_count" not in {r.name for r in report.results}  # windows differ in size


def test_categorical_columns_are_checked_like_text() -> None:
    df = table().astype({"state": "category", "code": "category"})
    assert run(df, checks.unique("code"), checks.matches("code", r"AB-\d{4}")).passed
    df = table().astype({"state": "category"})
    result = run(df, checks.unique("state")).result("unique(state)")
    assert (result.passed, result.failing_rows) == (False, len(df))


def test_observed_values_of_personal_columns_are_masked_even_when_passing() -> None:
    df = pd.DataFrame(
        {
            "date_of_birth": pd.to_datetime(["1950-01-02", "1990-05-06", "2015-03-04"]),
            "age": [75, 35, 11],
        }
    )
    report = run(
        df,
        checks.in_range("date_of_birth", "1900-01-01", "2030-01-01"),
        checks.in_range("age", 0, 120),
    )
    assert report.passed
    observed = report.result("in_range(date_of_birth)").observed
    assert "1950-01-02" not in str(observed)
    assert "2015-03-04" not in str(observed)
    assert report.result("in_range(age)").observed == {"min": 11, "max": 75}  # not personal


def test_in_set_leaves_missing_values_to_not_null() -> None:
    df = table()
    df.loc[[1, 2], "state"] = None
    df.loc[3, "state"] = "ZZ"
    for data in (df, df.astype({"state": "category"})):
        result = run(data, checks.in_set("state", ["CA", "NY", "TX"])).result("in_set(state)")
        assert (result.passed, result.failing_rows) == (False, 1)
        assert result.observed == {"unexpected": ["ZZ"]}
        assert [row["id"] for row in result.examples] == [3]


def test_dataframes_with_and_without_nan_convert_alike() -> None:
    from keel.validation import load_table

    df = table()
    clean = load_table(df).table
    assert clean.column("income").type == pa.float64()
    assert clean.column("income").to_pylist() == df["income"].tolist()
    df.loc[4, "income"] = np.nan
    holed = load_table(df).table
    assert holed.column("income").null_count == 1  # NaN from pandas is a missing value
    assert holed.column_names == list(df.columns)


def test_hashed_check_and_pii_scan_agree_on_what_looks_hashed() -> None:
    from keel.validation._pii import looks_hashed

    values = ["$2b$12$" + "a" * 53, "sha256:" + "b" * 64, f"{7:064x}", None]
    df = pd.DataFrame({"customer_id": values})
    assert looks_hashed(pa.array(values))
    assert run(df, checks.hashed("customer_id")).passed
    df.loc[3, "customer_id"] = "c-123"
    assert run(df, checks.hashed("customer_id")).results[0].failing_rows == 1


def test_threaded_checks_start_costliest_first_and_report_in_schema_order() -> None:
    from keel.validation._validate import _cost

    n = 150_000
    rng = np.random.default_rng(4)
    data = pa.table({"x": rng.normal(0, 1, n), "s": rng.choice(["a", "b", "z"], n)})
    schema = [
        checks.not_null("x"),
        checks.in_range("x", -10, 10),
        checks.in_set("s", ["a", "b"]),
        checks.dtype("s", "string"),
    ]
    ranks = [_cost(check, data) for check in schema]
    assert ranks == [0, 1, 3, 0]
    report = validate(data, Schema(schema), record=False)
    assert [r.name for r in report.results] == [c.name for c in schema]
    assert report.result("in_set(s)").failing_rows == int((data["s"].to_numpy() == "z").sum())
    assert report.result("in_range(x)").passed


def test_planted_failures_are_counted_the_same_in_threads_as_in_one_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keel.validation._validate as running

    n = 120_000
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 100, n)
    x[rng.choice(n, 37, replace=False)] = 250.0
    k = rng.integers(0, 1000, n)
    k[rng.choice(n, 11, replace=False)] = -4
    s = rng.choice(np.array(["a00", "b01", "c02"], dtype=object), n)
    planted = rng.choice(n, 28, replace=False)
    s[planted[:23]] = "zz"
    s[planted[23:]] = None
    data = pa.table({"x": x, "k": k, "s": pa.array(s, pa.string())})
    schema = Schema(
        [
            checks.dtype("x", "double"),
            checks.not_null("x"),
            checks.in_range("x", 0, 100),
            checks.in_range("k", 0, 999),
            checks.not_null("s"),
            checks.in_set("s", ["a00", "b01", "c02"]),
            checks.in_set("k", list(range(1000))),
        ]
    )

    def counts() -> list[tuple[str, bool, int | None]]:
        report = validate(data, schema, record=False)
        return [(r.name, r.passed, r.failing_rows) for r in report.results]

    threaded = counts()
    monkeypatch.setattr(running, "_THREADED_ROWS", n + 1)
    assert counts() == threaded
    failing = {name: rows for name, _, rows in threaded}
    assert failing["in_range(x)"] == 37
    assert failing["in_range(k)"] == failing["in_set(k)"] == 11
    assert (failing["in_set(s)"], failing["not_null(s)"]) == (23, 5)  # missing is not_null's
