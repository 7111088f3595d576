"""A DataFrame is checked as the Arrow table ``pa.Table.from_pandas`` makes of it.

keel converts DataFrames column by column without copying where it can
(``keel.validation._pandas``); these tests hold it to ``from_pandas``: the same table for
every dtype, and the same report (every check, failing count, observed value and example)
from the DataFrame as from the Arrow table, on clean data and on data with planted errors.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.errors import InvalidInput
from keel.validation import Schema, checks, validate
from keel.validation._pandas import arrow_from_pandas

N = 2_000
NOW = datetime(2026, 12, 1, tzinfo=UTC)
CATEGORIES = ["red", "green", "blue"]


def clean(n: int = N, seed: int = 0) -> pd.DataFrame:
    """One column of each dtype keel meets in DataFrames, without errors."""
    rng = np.random.default_rng(seed)
    words = np.array(["alpha", "beta", "gamma", "delta"], dtype=object)[rng.integers(0, 4, n)]
    stamps = pd.Timestamp("2026-11-01") + pd.to_timedelta(rng.integers(0, 10_000, n), unit="min")
    return pd.DataFrame(
        {
            "f64": rng.uniform(0.0, 100.0, n),
            "f32": rng.uniform(0.0, 1.0, n).astype(np.float32),
            "i64": rng.integers(0, 1_000, n),
            "i8": rng.integers(-100, 100, n).astype(np.int8),
            "u32": rng.integers(0, 5_000, n).astype(np.uint32),
            "flag": rng.integers(0, 2, n).astype(bool),
            "nullable_int": pd.array(rng.integers(0, 50, n), dtype="Int64"),
            "nullable_float": pd.array(rng.uniform(0, 1, n), dtype="Float64"),
            "nullable_bool": pd.array(rng.integers(0, 2, n).astype(bool), dtype="boolean"),
            "text": pd.Series(words, dtype="str"),
            "text_pyarrow": pd.Series(words, dtype="string[pyarrow]"),
            "text_python": pd.Series(words, dtype="string[python]"),
            "text_object": pd.Series(words, dtype=object),
            "arrow_int": pd.Series(rng.integers(0, 9, n), dtype="int64[pyarrow]"),
            "color": pd.Categorical(np.array(CATEGORIES)[rng.integers(0, 3, n)]),
            "when": stamps,
            "when_tz": stamps.tz_localize("Europe/Paris"),
            "wait": pd.to_timedelta(rng.integers(0, 600, n), unit="s").astype("timedelta64[ns]"),
        }
    )


def planted(seed: int = 0) -> pd.DataFrame:
    """The clean table with missing values, out-of-range values and unknown categories."""
    df = clean(seed=seed)
    df.loc[[3, 70, 900], "f64"] = np.nan
    df.loc[[5, 6], "f64"] = 250.0
    df.loc[[11], "f32"] = np.float32(np.nan)
    df.loc[[12, 13], "i64"] = -5
    df.loc[[14], "u32"] = 9_999
    df.loc[[15, 16], "nullable_int"] = pd.NA
    df.loc[[17], "nullable_int"] = 99
    df.loc[[18], "nullable_float"] = pd.NA
    df.loc[[19], "nullable_float"] = 7.5
    df.loc[[20], "nullable_bool"] = pd.NA
    for column in ("text", "text_pyarrow", "text_python", "text_object"):
        df.loc[[21, 22], column] = None
        df.loc[[23], column] = "omega"
    df.loc[[24], "arrow_int"] = None
    df.loc[[25], "arrow_int"] = 42
    df["color"] = df["color"].cat.add_categories(["purple"])
    df.loc[[26], "color"] = np.nan
    df.loc[[27, 28], "color"] = "purple"
    df.loc[[29], "when"] = pd.NaT
    df.loc[[30], "when"] = pd.Timestamp("2031-01-01")
    df.loc[[31], "when_tz"] = pd.NaT
    df.loc[[32], "when_tz"] = pd.Timestamp("2020-01-01", tz="Europe/Paris")
    df.loc[[33], "wait"] = pd.NaT
    return df


def schema() -> Schema:
    """Every column's dtype, not_null and a value check; a few table-wide ones."""
    made = [checks.row_count(min=1)]
    families = {
        "f64": "double",
        "f32": "float",
        "i64": "int64",
        "i8": "int8",
        "u32": "uint32",
        "flag": "boolean",
        "nullable_int": "int64",
        "nullable_float": "double",
        "nullable_bool": "boolean",
        "arrow_int": "int64",
        "color": "categorical",
        "when": "timestamp",
        "when_tz": "timestamp",
        "wait": "duration[ns]",
    }
    for column in clean(10).columns:
        made.append(checks.dtype(column, families.get(column, "string")))
        made.append(checks.not_null(column))
    made += [
        checks.in_range("f64", 0, 100),
        checks.in_range("f32", 0, 1),
        checks.in_range("i64", 0, 999),
        checks.in_range("i8", -100, 99),
        checks.in_range("u32", 0, 4_999),
        checks.in_range("nullable_int", 0, 49),
        checks.in_range("nullable_float", 0, 1),
        checks.in_range("arrow_int", 0, 8),
        checks.in_range("when", "2026-11-01", "2026-12-01"),
        checks.in_range("when_tz", "2026-10-31", "2026-12-01"),
        checks.in_set("color", CATEGORIES),
        checks.unique("i64", severity="warn"),
        checks.mean("f64", min=40, max=60),
    ]
    for column in ("text", "text_pyarrow", "text_python", "text_object"):
        made.append(checks.in_set(column, ["alpha", "beta", "gamma", "delta"]))
        made.append(checks.matches(column, "[a-z]+"))
    return Schema(made)


def results(report: object) -> list[dict[str, object]]:
    return [asdict(r) for r in report.results]


@pytest.mark.parametrize("make", [clean, planted], ids=["clean", "planted"])
def test_the_table_is_the_one_from_pandas_makes(make) -> None:
    df = make()
    mine = arrow_from_pandas(df)
    theirs = pa.Table.from_pandas(df, preserve_index=False)
    assert mine.schema.remove_metadata() == theirs.schema.remove_metadata()
    for name in df.columns:
        assert mine.column(name).equals(theirs.column(name)), name


@pytest.mark.parametrize("make", [clean, planted], ids=["clean", "planted"])
def test_a_dataframe_and_its_arrow_table_get_the_same_report(make) -> None:
    df = make()
    table = pa.Table.from_pandas(df, preserve_index=False)
    from_pandas = validate(df, schema(), record=False, now=NOW)
    from_arrow = validate(table, schema(), record=False, now=NOW)
    assert results(from_pandas) == results(from_arrow)
    assert from_pandas.passed == from_arrow.passed == (make is clean)
    assert (from_pandas.rows, from_pandas.columns) == (from_arrow.rows, from_arrow.columns)


def test_planted_errors_are_all_found_from_the_dataframe() -> None:
    report = validate(planted(), schema(), record=False, now=NOW)
    failing = {r.name: r.failing_rows for r in report.results if not r.passed}
    assert failing == {
        "not_null(f64)": 3,
        "not_null(f32)": 1,
        "not_null(nullable_int)": 2,
        "not_null(nullable_float)": 1,
        "not_null(nullable_bool)": 1,
        "not_null(text)": 2,
        "not_null(text_pyarrow)": 2,
        "not_null(text_python)": 2,
        "not_null(text_object)": 2,
        "not_null(arrow_int)": 1,
        "not_null(color)": 1,
        "not_null(when)": 1,
        "not_null(when_tz)": 1,
        "not_null(wait)": 1,
        "in_range(f64)": 2,
        "in_range(i64)": 2,
        "in_range(u32)": 1,
        "in_range(nullable_int)": 1,
        "in_range(nullable_float)": 1,
        "in_range(arrow_int)": 1,
        "in_range(when)": 1,
        "in_range(when_tz)": 1,
        "in_set(color)": 2,
        "in_set(text)": 1,
        "in_set(text_pyarrow)": 1,
        "in_set(text_python)": 1,
        "in_set(text_object)": 1,
        "unique(i64)": 1_732,  # a warning, on the clean table too
    }
    by_name = {r.name: r for r in report.results}
    assert [e["f64"] for e in by_name["in_range(f64)"].examples] == [250.0, 250.0]
    assert [e["f64"] for e in by_name["not_null(f64)"].examples] == [None, None, None]
    assert by_name["in_set(color)"].observed["unexpected"] == ["purple"]


@pytest.mark.parametrize("make", [clean, planted], ids=["clean", "planted"])
def test_numbers_and_times_are_not_copied(make) -> None:
    """Float, integer, datetime and timedelta columns, with and without NaN or NaT, share
    the DataFrame's memory."""
    df = make()
    table = arrow_from_pandas(df)
    for name in ("f64", "f32", "i64", "u32", "when", "wait"):
        chunk = table.column(name).chunk(0)
        assert chunk.buffers()[1].address == df[name].to_numpy().ctypes.data, name
    missing = 1 if make is planted else 0
    assert table.column("f64").null_count == 3 * missing
    assert table.column("when").null_count == table.column("wait").null_count == missing
    assert table.column("i64").null_count == 0


def test_strided_and_reindexed_frames_convert_like_from_pandas() -> None:
    """Every other row (a strided view), a shuffled index, and no rows at all."""
    for df in (clean(), planted()):
        for frame in (df.iloc[::2], df.sample(frac=1.0, random_state=1), df.iloc[:0]):
            mine = arrow_from_pandas(frame)
            theirs = pa.Table.from_pandas(frame, preserve_index=False)
            assert mine.equals(theirs)
            assert results(validate(frame, schema(), record=False, now=NOW)) == results(
                validate(theirs, schema(), record=False, now=NOW)
            )


def test_names_from_pandas_handles_itself() -> None:
    """Non-text column names are named as from_pandas names them; repeated ones refused."""
    numbered = pd.DataFrame({0: [1.0, np.nan], 1: ["a", "b"]})
    assert arrow_from_pandas(numbered).column_names == ["0", "1"]
    assert arrow_from_pandas(numbered).column("0").null_count == 1
    repeated = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidInput, match="unique column names"):
        validate(repeated, Schema([checks.not_null("a")]), record=False)


def test_a_column_of_mixed_types_is_a_clear_error() -> None:
    df = pd.DataFrame({"x": np.arange(3.0), "mixed": pd.Series([1, "two", 3.0], dtype=object)})
    with pytest.raises(InvalidInput, match=r"convert the DataFrame.*'mixed'.*astype\(str\)"):
        validate(df, Schema([checks.not_null("x")]), record=False)
