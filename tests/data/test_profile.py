"""Dataset profiles: exact statistics against pandas/NumPy, sketch error bounds, merging."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keel.data._profile as profile_module
from keel.data._profile import Profile, merge_profiles, profile_table
from keel.data._sketches import DistinctSketch, FrequentItems, QuantileSketch, hash_uint64
from keel.errors import InvalidInput

RANKS = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Profile in batches of 1,000 rows, so tests of a few thousand rows merge batches."""
    monkeypatch.setattr(profile_module, "BATCH_ROWS", 1_000)


def rank_error(data: np.ndarray, value: float, rank: float) -> float:
    """How far ``rank`` lies outside the range of ranks that ``value`` has in ``data``."""
    ordered = np.sort(data)
    low = np.searchsorted(ordered, value, side="left") / len(data)
    high = np.searchsorted(ordered, value, side="right") / len(data)
    return max(0.0, low - rank, rank - high)


# --- statistics of one profile ---------------------------------------------------------------


@pytest.mark.usefixtures("small_batches")
def test_numeric_statistics_match_pandas() -> None:
    rng = np.random.default_rng(7)
    n = 5_500
    floats = rng.normal(50, 10, n)
    floats[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "x": floats,
            "k": pd.array(rng.integers(-(10**12), 10**12, n), dtype="Int64"),
            "small": rng.integers(0, 5, n),
        }
    )
    frame.loc[::17, "k"] = pd.NA
    profile = profile_table(frame)
    assert profile.row_count == n
    for name in frame.columns:
        column, series = profile.columns[name], frame[name]
        assert column.kind == "numeric"
        assert column.null_count == series.isna().sum()
        assert column.count == series.notna().sum()
        assert column.min == series.min()
        assert column.max == series.max()
        assert column.mean == pytest.approx(float(series.mean()), rel=1e-12)
        assert column.std == pytest.approx(float(series.std()), rel=1e-9)
    assert type(profile.columns["k"].min) is int
    assert profile.schema == {"x": "double", "k": "int64", "small": "int64"}


def test_quantiles_are_within_one_percent_rank_error(small_batches: None) -> None:
    rng = np.random.default_rng(3)
    data = {"normal": rng.normal(size=20_000), "skewed": rng.lognormal(0, 2, 20_000)}
    data["ties"] = rng.integers(0, 7, 20_000).astype(float)
    profile = profile_table(pd.DataFrame(data))
    for name, values in data.items():
        quantiles = profile.columns[name].quantiles
        assert list(quantiles) == list(RANKS)
        for key, rank in RANKS.items():
            assert rank_error(values, quantiles[key], rank) < 0.01, (name, key)


def test_distinct_counts_are_within_three_percent() -> None:
    rng = np.random.default_rng(11)
    ints = rng.integers(0, 40_000, 120_000)
    words = np.array([f"user-{i}" for i in rng.integers(0, 30_000, 120_000)], dtype=object)
    frame = pd.DataFrame({"ints": ints, "words": words, "floats": rng.random(120_000)})
    profile = profile_table(frame)
    for name in frame.columns:
        truth = frame[name].nunique()
        assert profile.columns[name].distinct_approx == pytest.approx(truth, rel=0.03), name


def test_small_cardinalities_are_counted_exactly() -> None:
    frame = pd.DataFrame({"c": [f"v{i % 50}" for i in range(5_000)], "i": np.arange(5_000) % 7})
    profile = profile_table(frame)
    assert profile.columns["c"].distinct_approx == 50
    assert profile.columns["i"].distinct_approx == 7


@pytest.mark.usefixtures("small_batches")
def test_top_categories_and_their_counts() -> None:
    rng = np.random.default_rng(5)
    values = rng.choice(["red", "green", "blue", "grey"], size=9_000, p=[0.5, 0.3, 0.15, 0.05])
    frame = pd.DataFrame({"colour": values, "flag": values == "red"})
    frame.loc[::10, "colour"] = None
    profile = profile_table(frame)
    colour = profile.columns["colour"]
    expected = frame["colour"].value_counts()
    assert colour.kind == "categorical"
    assert colour.top == list(zip(expected.index, expected.tolist(), strict=True))
    assert (colour.min, colour.max) == ("blue", "red")
    assert colour.null_count == 900
    flag = profile.columns["flag"]
    assert flag.kind == "boolean"
    counts = frame["flag"].value_counts()
    assert flag.top == list(zip(counts.index, counts.tolist(), strict=True))
    assert flag.mean == pytest.approx(frame["flag"].mean())
    assert (flag.min, flag.max, flag.distinct_approx) == (False, True, 2)


def test_top_keeps_the_frequent_values_of_a_high_cardinality_column() -> None:
    rng = np.random.default_rng(2)
    rare = [f"id-{i}" for i in range(20_000)]
    common = [f"hot-{i}" for i in rng.integers(0, 5, 10_000)]
    column = pa.array(common + rare)
    profile = profile_table(pa.table({"k": column}))
    top = dict(profile.columns["k"].top)
    for name, count in pd.Series(common).value_counts().items():
        # Misra-Gries counts are lower bounds, off by at most n / (capacity + 1).
        assert count - 30_000 / 513 <= top[name] <= count
    assert len(profile.columns["k"].top) <= 20


def test_nan_is_missing_and_inf_is_counted_but_not_averaged() -> None:
    values = [1.0, np.nan, 3.0, np.inf, -np.inf, None, 5.0]
    profile = profile_table(pa.table({"x": pa.array(values, from_pandas=True)}))
    x = profile.columns["x"]
    assert (x.count, x.null_count, x.inf_count) == (5, 2, 2)
    assert (x.min, x.max, x.mean, x.std) == (1.0, 5.0, 3.0, 2.0)
    assert sum(x.histogram["counts"]) == 3
    assert x.histogram["underflow"] == x.histogram["overflow"] == 0
    assert x.distinct_approx == 3


def test_default_histogram_has_twenty_equal_bins_over_the_finite_range() -> None:
    data = np.arange(100, dtype=float)
    x = profile_table(pd.DataFrame({"x": data})).columns["x"]
    assert x.histogram["edges"] == pytest.approx(list(np.linspace(0, 99, 21)))
    assert x.histogram["counts"] == list(np.histogram(data, bins=20)[0])
    constant = profile_table(pd.DataFrame({"c": [4, 4, 4]})).columns["c"]
    assert constant.histogram["edges"][0] < 4 < constant.histogram["edges"][-1]
    assert sum(constant.histogram["counts"]) == 3


def test_given_edges_count_values_outside_them() -> None:
    frame = pd.DataFrame({"x": [-5.0, 0.0, 0.5, 1.0, 2.0, 9.0]})
    x = profile_table(frame, edges={"x": [0.0, 1.0, 2.0]}).columns["x"]
    assert x.histogram == {
        "edges": [0.0, 1.0, 2.0],
        "counts": [2, 2],  # [0, 1) and the closed last bin [1, 2]
        "underflow": 1,
        "overflow": 1,
    }


def test_empty_table_and_all_null_columns_give_valid_profiles() -> None:
    schema = pa.schema([("x", pa.float64()), ("s", pa.string()), ("b", pa.bool_())])
    empty = profile_table(schema.empty_table())
    assert empty.row_count == 0
    for column in empty.columns.values():
        assert (column.count, column.null_count, column.min, column.mean) == (0, 0, None, None)
        assert column.quantiles == {}
        assert column.histogram is None
        assert column.top == []
    nulls = profile_table(pa.table({name: pa.nulls(4, schema.field(name).type) for name in "xsb"}))
    assert nulls.row_count == 4
    assert [c.null_count for c in nulls.columns.values()] == [4, 4, 4]
    assert nulls.columns["x"].std is None
    assert merge_profiles(empty, nulls) == nulls


def test_temporal_dictionary_and_other_columns() -> None:
    stamps = pa.array(
        [dt.datetime(2024, 3, 1, 12), None, dt.datetime(2023, 12, 31)], pa.timestamp("us")
    )
    table = pa.table(
        {
            "when": stamps,
            "day": pa.array([dt.date(2024, 1, 2), dt.date(2020, 5, 6), None]),
            "cat": pa.array(["b", "a", "b"]).dictionary_encode(),
            "tags": pa.array([[1], [], None]),
        }
    )
    profile = profile_table(table.to_batches()[0])
    when, day, cat, tags = profile.columns.values()
    assert (when.kind, when.min, when.max) == (
        "temporal",
        "2023-12-31 00:00:00.000000",
        "2024-03-01 12:00:00.000000",
    )
    assert (day.min, day.max, day.distinct_approx) == ("2020-05-06", "2024-01-02", 2)
    paris = pa.array(
        [dt.datetime(2020, 10, 25, 0, 45), dt.datetime(2020, 10, 25, 1, 15)],  # UTC
        pa.timestamp("s", tz="Europe/Paris"),
    )  # 02:45+02:00 and 02:15+01:00 in Paris: local text would sort them the wrong way
    zoned = profile_table(pa.table({"t": paris})).columns["t"]
    assert (zoned.min, zoned.max) == ("2020-10-25 00:45:00Z", "2020-10-25 01:15:00Z")
    assert (cat.kind, cat.top, cat.distinct_approx) == ("categorical", [("b", 2), ("a", 1)], 2)
    assert cat.type.startswith("dictionary<values=string")
    assert (tags.kind, tags.count, tags.null_count, tags.distinct_approx) == ("other", 2, 1, None)


def test_unusual_numeric_types_and_extreme_ranges() -> None:
    table = pa.table(
        {
            "half": pa.array(np.array([1, 2, 3], dtype=np.float16)),
            "money": pa.array([decimal.Decimal("1.50"), None, decimal.Decimal("2.25")]),
            "huge": [-1.7e308, 1.7e308, 0.0],
            "narrow": [1.0, 1.0 + 2.3e-16, 1.0 + 4.5e-16],
            "unsigned": pa.array([0, 2**64 - 1, 2**64 - 1], pa.uint64()),
        }
    )
    profile = profile_table(table)
    half, money, huge, narrow, unsigned = profile.columns.values()
    assert (half.kind, half.mean, money.mean, money.null_count) == ("numeric", 2.0, 1.875, 1)
    assert huge.histogram["edges"][0] == -1.7e308
    assert all(math.isfinite(e) for e in huge.histogram["edges"])
    assert sum(huge.histogram["counts"]) == 3
    assert len(narrow.histogram["edges"]) < 21  # fewer bins than floats in the range
    assert (unsigned.min, unsigned.max) == (0, 2**64 - 1)
    # Edges taken back from the profile are always valid input.
    assert profile_table(table, edges=profile.edges()) == profile


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int64, np.uint64])
def test_integers_of_every_width_are_counted_exactly(dtype: type) -> None:
    info = np.iinfo(dtype)
    values = np.arange(info.min, info.min + 256).astype(dtype).repeat(3)
    column = profile_table(pa.table({"n": values})).columns["n"]
    assert (column.min, column.max) == (int(info.min), int(info.min) + 255)
    assert column.mean == pytest.approx(values.astype(float).mean())
    assert column.std == pytest.approx(values.astype(float).std(ddof=1))
    assert column.distinct_approx == pytest.approx(256, rel=0.03)
    assert sum(column.histogram["counts"]) == 768


# --- merging ----------------------------------------------------------------------------------

EDGES = {"x": [-100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0], "i": [-50.0, 0.0, 50.0]}
SCHEMA = pa.schema([("x", pa.float64()), ("i", pa.int64()), ("s", pa.string()), ("b", pa.bool_())])
floats = st.one_of(
    st.floats(-1e3, 1e3),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0]),
    st.none(),
)
rows = st.tuples(
    floats,
    st.one_of(st.integers(-100, 100), st.none()),
    st.one_of(st.sampled_from(["a", "b", "c", "é"]), st.none()),
    st.one_of(st.booleans(), st.none()),
)


def to_table(records: list[tuple[object, ...]]) -> pa.Table:
    columns = list(zip(*records, strict=True)) if records else [[] for _ in SCHEMA]
    return pa.Table.from_arrays(
        [
            pa.array(list(c), type=f.type, from_pandas=True)
            for c, f in zip(columns, SCHEMA, strict=True)
        ],
        schema=SCHEMA,
    )


def assert_same_profile(merged: Profile, whole: Profile) -> None:
    """Equal except for floating-point rounding in mean and std."""
    assert merged.row_count == whole.row_count
    for name, column in whole.columns.items():
        other = merged.columns[name]
        for stat in ("mean", "std"):
            mine, theirs = getattr(other, stat), getattr(column, stat)
            assert (mine is None) == (theirs is None), (name, stat)
            if mine is not None:
                assert mine == pytest.approx(theirs, rel=1e-6, abs=1e-9), (name, stat)
        exact = {"mean": None, "std": None}
        assert _fields(other, **exact) == _fields(column, **exact), name


def _fields(column: object, **override: object) -> dict[str, object]:
    fields = {k: v for k, v in vars(column).items() if k != "sketch"}
    return fields | override


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, max_size=25), st.lists(rows, max_size=25))
def test_profile_of_concatenation_equals_merge_of_profiles(
    first: list[tuple[object, ...]], second: list[tuple[object, ...]]
) -> None:
    a, b = to_table(first), to_table(second)
    whole = profile_table(pa.concat_tables([a, b]), edges=EDGES)
    merged = merge_profiles(profile_table(a, edges=EDGES), profile_table(b, edges=EDGES))
    assert_same_profile(merged, whole)
    assert Profile.from_json(merged.to_json()) == merged


def test_appended_part_is_profiled_alone_on_the_old_edges(small_batches: None) -> None:
    rng = np.random.default_rng(1)
    old = pd.DataFrame({"x": rng.normal(size=3_000), "s": rng.choice(["p", "q"], 3_000)})
    new = pd.DataFrame({"x": rng.normal(2, 1, 2_000), "s": rng.choice(["q", "r"], 2_000)})
    old_profile = profile_table(old)
    new_profile = profile_table(new, edges=old_profile.edges())
    merged = merge_profiles(old_profile, new_profile)
    whole = profile_table(pd.concat([old, new]), edges=old_profile.edges())
    assert merged.columns["x"].histogram == whole.columns["x"].histogram
    assert merged.columns["x"].histogram["overflow"] > 0
    assert merged.columns["x"].mean == pytest.approx(whole.columns["x"].mean)
    assert merged.columns["x"].std == pytest.approx(whole.columns["x"].std)
    assert merged.columns["x"].distinct_approx == whole.columns["x"].distinct_approx
    assert merged.columns["s"].top == whole.columns["s"].top
    everything = np.concatenate([old["x"], new["x"]])
    for key, rank in RANKS.items():
        assert rank_error(everything, merged.columns["x"].quantiles[key], rank) < 0.01


def test_merging_a_round_tripped_profile_gives_the_same_result() -> None:
    rng = np.random.default_rng(4)
    a = pd.DataFrame({"x": rng.normal(size=3_000), "s": rng.choice(list("abcdef"), 3_000)})
    b = pd.DataFrame({"x": rng.normal(size=3_000), "s": rng.choice(list("defgh"), 3_000)})
    pa_, pb = profile_table(a, edges={"x": [-1, 0, 1]}), profile_table(b, edges={"x": [-1, 0, 1]})
    restored = Profile.from_dict(pa_.to_dict())
    assert restored == pa_
    assert merge_profiles(restored, pb) == merge_profiles(pa_, pb)


def test_histograms_on_different_edges_do_not_merge() -> None:
    a = profile_table(pd.DataFrame({"x": [0.0, 1.0]}))
    b = profile_table(pd.DataFrame({"x": [5.0, 9.0]}))
    with pytest.raises(
        InvalidInput,
        match=r"Column 'x' has histograms on different edges.*"
        r"edges=old_profile\.edges\(\)",
    ):
        merge_profiles(a, b)


def test_profiles_of_different_schemas_do_not_merge() -> None:
    a = profile_table(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(InvalidInput, match=r"same schema.*'x': 'double'.*'x': 'int64'.*cast"):
        merge_profiles(a, profile_table(pd.DataFrame({"x": [1]})))
    with pytest.raises(InvalidInput, match="same schema"):
        merge_profiles(a, profile_table(pd.DataFrame({"y": [1.0]})))


# --- serialisation and bad input -------------------------------------------------------------


def test_to_json_round_trip_keeps_every_value() -> None:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=2_000),
            "i": rng.integers(0, 10**15, 2_000),
            "s": rng.choice(["ä", "日本", "z"], 2_000),
            "b": rng.random(2_000) < 0.3,
            "t": pd.date_range("2024-01-01", periods=2_000, freq="min"),
        }
    )
    profile = profile_table(frame)
    restored = Profile.from_json(profile.to_json())
    assert restored == profile
    assert restored.columns["s"].top == profile.columns["s"].top
    assert isinstance(restored.columns["s"].top[0], tuple)
    assert (
        restored.edges()
        == profile.edges()
        == {
            "x": profile.columns["x"].histogram["edges"],
            "i": profile.columns["i"].histogram["edges"],
        }
    )
    assert profile.to_dict()["format"] == "keel.profile/1"


@pytest.mark.parametrize("data", [[1, 2, 3], {"x": [1.0]}, np.zeros(3), None, "table"])
def test_non_tables_are_rejected(data: object) -> None:
    name = type(data).__name__
    with pytest.raises(
        InvalidInput,
        match=rf"expects a pandas DataFrame or a pyarrow Table; got "
        rf"{name}\. Convert it first",
    ):
        profile_table(data)  # type: ignore[arg-type]


def test_duplicate_column_names_are_rejected() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidInput, match=r"unique column names; \['a'\] appear more than once"):
        profile_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"]))
    with pytest.raises(InvalidInput, match="profile_table"):
        profile_table(frame)


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        (
            {"amout": [0, 1]},
            r"column 'amout', which the table does not have\. Did you mean "
            r"'amount'\?",
        ),
        ({"name": [0, 1]}, r"column 'name', which is categorical; histograms are for numeric"),
        ({"amount": [1, 0]}, r"at least two finite, strictly increasing numbers; got \[1, 0\]"),
        ({"amount": [0]}, "at least two finite"),
        ({"amount": [0, math.inf]}, "at least two finite"),
    ],
)
def test_bad_edges_are_rejected(edges: dict[str, list[float]], message: str) -> None:
    frame = pd.DataFrame({"amount": [1.0, 2.0], "name": ["a", "b"]})
    with pytest.raises(InvalidInput, match=message):
        profile_table(frame, edges=edges)


@pytest.mark.parametrize(
    "data",
    [{}, {"format": "other/1", "row_count": 0, "columns": {}}, {"format": "keel.profile/1"}],
)
def test_malformed_profile_dicts_are_rejected(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match=r"cannot read this profile.*Profile\.to_dict\(\)"):
        Profile.from_dict(data)


def test_malformed_json_is_rejected() -> None:
    with pytest.raises(InvalidInput, match=r"not JSON.*Profile\.to_json\(\)"):
        Profile.from_json(b"{not json")
    with pytest.raises(InvalidInput, match="expects a JSON object, got list"):
        Profile.from_json(b"[]")


# --- the sketches on their own -----------------------------------------------------------------


def test_quantile_sketch_of_merged_parts_keeps_its_rank_error() -> None:
    rng = np.random.default_rng(8)
    data = rng.exponential(size=400_000)
    sketch = QuantileSketch()
    for part in np.array_split(data, 37):
        piece = QuantileSketch()
        piece.update(part)
        sketch.merge(piece)
    assert sketch.n == len(data)
    ranks = list(np.linspace(0.005, 0.995, 100))
    errors = [rank_error(data, v, r) for v, r in zip(sketch.quantiles(ranks), ranks, strict=True)]
    assert max(errors) < 0.01
    restored = QuantileSketch.from_str(sketch.to_str())
    assert restored.quantiles(ranks) == sketch.quantiles(ranks)


def test_quantile_sketch_is_exact_while_small() -> None:
    sketch = QuantileSketch()
    sketch.update(np.array([5.0, 1.0, 3.0]))
    assert sketch.quantiles([0.0, 0.34, 0.5, 1.0]) == [1.0, 3.0, 3.0, 5.0]
    assert QuantileSketch().quantiles([0.5]) == []


@pytest.mark.parametrize("n", [1, 10, 1_000, 50_000, 300_000])
def test_distinct_sketch_accuracy_across_cardinalities(n: int) -> None:
    sketch = DistinctSketch()
    # Floats that differ only in their high bits, the hardest input for a weak hash.
    sketch.update(hash_uint64(np.arange(n, dtype=np.float64) * 1024.0))
    assert sketch.estimate() == pytest.approx(n, rel=0.03)
    assert DistinctSketch.from_str(sketch.to_str()).estimate() == sketch.estimate()


def test_frequent_items_error_bounds_every_count() -> None:
    rng = np.random.default_rng(6)
    data = pd.Series(rng.zipf(1.3, 50_000) % 5_000)
    items = FrequentItems(capacity=64)
    for part in np.array_split(data.to_numpy(), 9):
        counts = pd.Series(part).value_counts()
        items.update(counts.index.tolist(), counts.to_numpy())
    truth = data.value_counts()
    assert items.error <= len(data) / 65
    for value, count in items.counts.items():
        assert count <= truth[value] <= count + items.error
    assert [v for v, _ in items.top(3)] == truth.index[:3].tolist()
