"""Signatures: inference from examples, and enforcement with casts and clear errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.errors import InvalidInput
from keel.registry._signature import ColumnSpec, Signature, enforce, infer_signature


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 45], dtype=np.int64),
            "income": [52_000.0, 61_500.5],
            "city": ["Oslo", "Lima"],
            "member": [True, False],
            "plan": pd.Categorical(["basic", "gold"]),
            "joined": pd.to_datetime(["2024-01-02", "2023-05-06"]).astype("datetime64[ns]"),
        }
    )


@pytest.fixture
def signature(frame: pd.DataFrame) -> Signature:
    return infer_signature(frame, np.array([0, 1]))


def test_infers_normalised_dtypes_of_each_column(signature: Signature) -> None:
    assert signature.inputs == (
        ColumnSpec("age", "int64"),
        ColumnSpec("income", "float64"),
        ColumnSpec("city", "string"),
        ColumnSpec("member", "bool"),
        ColumnSpec("plan", "category"),
        ColumnSpec("joined", "datetime64[ns]"),
    )
    assert signature.output == {"dtype": "int64", "shape": [None]}


def test_object_strings_and_nullable_types_get_the_same_names() -> None:
    frame = pd.DataFrame(
        {
            "s": pd.Series(["a", None], dtype=object),
            "i": pd.array([1, 2], dtype="Int64"),
            "b": pd.array([True, False], dtype="boolean"),
            "t": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("UTC"),
        }
    )
    dtypes = [c.dtype for c in infer_signature(frame).inputs]
    assert dtypes[:3] == ["string", "int64", "bool"]
    assert dtypes[3].startswith("datetime64[")
    assert dtypes[3].endswith(", UTC]")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (np.array([0.1, 0.2]), {"dtype": "float64", "shape": [None]}),
        (np.zeros((2, 3), dtype=np.float32), {"dtype": "float32", "shape": [None, 3]}),
        (np.array(["yes", "no"], dtype=object), {"dtype": "string", "shape": [None]}),
        (pd.Series([1, 2]), {"dtype": "int64", "shape": [None]}),
        (
            pd.DataFrame({"p": [0.5, 0.7], "label": ["a", "b"]}),
            {
                "dtype": "object",
                "shape": [None, 2],
                "columns": [
                    {"name": "p", "dtype": "float64"},
                    {"name": "label", "dtype": "string"},
                ],
            },
        ),
    ],
)
def test_infers_the_output_type_and_shape(output: object, expected: dict) -> None:
    assert infer_signature(pd.DataFrame({"x": [1, 2]}), output).output == expected


def test_infers_from_dicts_and_named_arrays() -> None:
    assert infer_signature({"a": [1, 2], "b": ["x", "y"]}).names == ("a", "b")
    assert infer_signature([{"a": 1.5}, {"a": 2.0}]).inputs == (ColumnSpec("a", "float64"),)
    named = infer_signature(np.zeros((3, 2)), columns=["u", "v"])
    assert named.inputs == (ColumnSpec("u", "float64"), ColumnSpec("v", "float64"))
    assert infer_signature(np.zeros((3, 2))).names == ("x0", "x1")


def test_round_trips_through_a_dict(signature: Signature) -> None:
    assert Signature.from_dict(signature.to_dict()) == signature
    with pytest.raises(InvalidInput, match="is not a model signature"):
        Signature.from_dict({"columns": []})
    with pytest.raises(InvalidInput, match="names a column twice"):
        Signature.from_dict({"inputs": [{"name": "a", "dtype": "int64"}] * 2})


def test_a_matching_frame_passes_through_untouched(signature, frame) -> None:
    assert enforce(signature, frame) is frame
    assert enforce(signature, frame) is frame  # the columns Index is remembered


def test_columns_are_put_in_signature_order(signature, frame) -> None:
    shuffled = frame[list(reversed(frame.columns))]
    out = enforce(signature, shuffled)
    assert list(out.columns) == list(signature.names)
    pd.testing.assert_frame_equal(out, frame)


def test_compatible_types_are_cast(signature, frame) -> None:
    given = frame.assign(
        age=[31.0, 45.0],  # whole floats -> int64
        income=[52_000, 61_500],  # ints -> float64
        city=pd.Categorical(["Oslo", "Lima"]),  # category of strings -> string
        plan=["basic", "gold"],  # strings -> category
        joined=["2024-01-02", "2023-05-06"],  # ISO strings -> datetime
    )
    out = enforce(signature, given)
    assert [str(t) for t in out.dtypes] == [
        "int64",
        "float64",
        str(frame["city"].dtype),
        "bool",
        "category",
        "datetime64[ns]",
    ]
    assert out["age"].tolist() == [31, 45]
    assert out["joined"].tolist() == frame["joined"].tolist()


def test_numeric_strings_are_parsed_only_when_all_parse(signature, frame) -> None:
    out = enforce(signature, frame.assign(income=["1.5", "2"]))
    assert out["income"].tolist() == [1.5, 2.0]
    with pytest.raises(InvalidInput, match=r"column 'age' has type string, expected int64 "):
        enforce(signature, frame.assign(age=["31", "abc"]))
    with pytest.raises(InvalidInput, match=r"\(cannot cast 'abc'\)"):
        enforce(signature, frame.assign(age=["31", "abc"]))


def test_unsafe_casts_are_refused(signature, frame) -> None:
    with pytest.raises(InvalidInput, match=r"'age' has type float64, expected int64 \(value 2\.5"):
        enforce(signature, frame.assign(age=[1.0, 2.5]))
    with pytest.raises(InvalidInput, match=r"'age' has type float64, expected int64 \(missing"):
        enforce(signature, frame.assign(age=[1.0, np.nan]))
    with pytest.raises(InvalidInput, match=r"'member' has type int64, expected bool\."):
        enforce(signature, frame.assign(member=[1, 0]))
    with pytest.raises(InvalidInput, match=r"'income' has type bool, expected float64\."):
        enforce(signature, frame.assign(income=[True, False]))
    with pytest.raises(InvalidInput, match=r"'city' has type int64, expected string\."):
        enforce(signature, frame.assign(city=[1, 2]))


def test_one_error_names_every_missing_unexpected_and_mistyped_column(signature, frame) -> None:
    bad = frame.drop(columns=["age", "member"]).rename(columns={"income": "incme"})
    bad["income_x"] = 1
    bad["city"] = [1, 2]
    with pytest.raises(InvalidInput) as info:
        enforce(signature, bad, model="credit:4")
    assert info.value.message.startswith(
        "Input does not match the signature of credit:4: "
        "missing columns 'age', 'income', 'member'; "
        "unexpected columns 'incme' (did you mean 'income'?), 'income_x' (did you mean "
        "'income'?); column 'city' has type int64, expected string. "
        "Expected columns: 'age' int64, 'income' float64, 'city' string,"
    )


def test_duplicate_columns_are_reported(signature, frame) -> None:
    doubled = pd.concat([frame, frame[["age"]]], axis=1)
    with pytest.raises(InvalidInput, match="duplicate column 'age'"):
        enforce(signature, doubled)


def test_one_row_as_a_dict_and_rows_as_dicts() -> None:
    numeric = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    out = enforce(numeric, {"b": 2, "a": 1.5})
    assert out.to_dict("records") == [{"a": 1.5, "b": 2.0}]
    assert out.dtypes.tolist() == [np.float64, np.float64]
    rows = enforce(numeric, [{"a": 1, "b": 2}, {"a": 3, "b": 4.5}])
    assert rows.to_dict("records") == [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.5}]
    with pytest.raises(InvalidInput, match=r"'a' has type bool, expected float64"):
        enforce(numeric, {"a": True, "b": 1.0})
    with pytest.raises(InvalidInput, match="missing column 'b'"):
        enforce(numeric, {"a": 1.0})


def test_a_mixed_row_dict_is_cast_column_by_column(signature, frame) -> None:
    row = {
        "age": 31,
        "income": 52_000,
        "city": "Oslo",
        "member": True,
        "plan": "basic",
        "joined": "2024-01-02",
    }
    out = enforce(signature, row)
    assert list(out.columns) == list(signature.names)
    assert out.iloc[0]["joined"] == frame["joined"].iloc[0]
    assert out["income"].dtype == np.float64


def test_arrays_are_read_in_signature_order() -> None:
    sig = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    out = enforce(sig, np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert out["b"].tolist() == [2.0, 4.0]
    assert enforce(sig, np.array([5.0, 6.0]))["a"].tolist() == [5.0]
    with pytest.raises(InvalidInput, match="the array has 3 columns, expected 2"):
        enforce(sig, np.zeros((1, 3)))


def test_unreadable_input_says_what_to_give(signature) -> None:
    with pytest.raises(InvalidInput, match="Cannot read model input of type int"):
        enforce(signature, 42)


# -- property: valid data built from any signature is accepted as it is ----------------------

KINDS = {
    "int64": st.integers(-(2**40), 2**40),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "float64": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "float32": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "bool": st.booleans(),
    "string": st.text(max_size=5),
    "category": st.sampled_from(["a", "b", "c"]),
    "datetime64[ns]": st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)),
}


@st.composite
def signatures_and_frames(draw: st.DrawFn) -> tuple[Signature, pd.DataFrame]:
    names = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=6, unique=True))
    dtypes = [draw(st.sampled_from(sorted(KINDS))) for _ in names]
    n = draw(st.integers(1, 4))
    columns = {}
    for name, dtype in zip(names, dtypes, strict=True):
        values = draw(st.lists(KINDS[dtype], min_size=n, max_size=n))
        if dtype == "category":
            columns[name] = pd.Categorical(values)
        elif dtype == "string":
            columns[name] = pd.Series(values, dtype=object)
        else:
            columns[name] = pd.Series(values).astype(dtype)
    signature = Signature(tuple(ColumnSpec(n, d) for n, d in zip(names, dtypes, strict=True)))
    frame = pd.DataFrame(columns)
    order = draw(st.permutations(names))
    return signature, frame[list(order)]


@settings(max_examples=60, deadline=None)
@given(signatures_and_frames())
def test_valid_frames_are_accepted_in_signature_order(case) -> None:
    signature, frame = case
    out = enforce(signature, frame)
    assert list(out.columns) == list(signature.names)
    assert len(out) == len(frame)
    again = enforce(signature, out)
    assert list(again.columns) == list(signature.names)
    for spec in signature.inputs:
        if spec.dtype not in ("string", "category"):
            assert str(out[spec.name].dtype) == spec.dtype
        assert out[spec.name].tolist() == frame[spec.name].tolist()
