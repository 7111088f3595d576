"""Checks of one validation share their passes over number columns (``_scans``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa

from keel.validation import Schema, checks, validate
from keel.validation._checks import Context
from keel.validation._data import load_table
from keel.validation._scans import Scans


class Counting(Scans):
    """Scans that count the passes they make."""

    def __init__(self, known=None) -> None:
        super().__init__(known)
        self.passes = 0

    def _once(self, key, compute):
        def counted():
            self.passes += 1
            return compute()

        return super()._once(key, counted)


def run(table: pa.Table, scans: Scans, *made):
    ctx = Context(scans=scans)
    return {c.name: c.run(table, ctx) for c in made}


def test_not_null_and_in_range_share_one_minimum_per_chunk() -> None:
    table = pa.table({"x": pa.chunked_array([np.arange(10.0), np.arange(5.0) + 20])})
    scans = Counting()
    found = run(table, scans, checks.not_null("x"), checks.in_range("x", 0, 30))
    assert all(o.passed for o in found.values())
    assert found["in_range(x)"].observed == {"min": 0.0, "max": 24.0}
    assert scans.passes == 4  # a minimum and a maximum of each of the two chunks


def test_nan_in_one_chunk_is_missing_and_outside_no_range() -> None:
    """A chunk with NaN, a chunk of NaN only, an empty chunk and a clean one."""
    chunks = [[1.0, np.nan, 500.0], [np.nan, np.nan], [], [2.0, 3.0]]
    table = pa.table({"x": pa.chunked_array([np.array(c) for c in chunks], pa.float64())})
    found = run(table, Scans(), checks.not_null("x"), checks.in_range("x", 0, 100))
    assert found["not_null(x)"].failing == 3
    assert found["in_range(x)"].failing == 1
    assert found["in_range(x)"].observed == {"min": 1.0, "max": 500.0}


def test_threads_asking_at_once_get_one_pass_and_one_answer() -> None:
    values = np.random.default_rng(0).normal(size=200_000)
    chunk = pa.array(values)
    scans = Counting()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: scans.minimum(chunk), range(32)))
    assert answers == [values.min()] * 32
    assert scans.passes == 1


def test_the_pandas_conversion_hands_over_each_clean_float_minimum() -> None:
    df = pd.DataFrame({"a": [3.0, 1.0, 2.0], "b": [1.0, np.nan, 0.5], "n": [5, 6, 7]})
    subject = load_table(df)
    assert list(subject.learnt.values()) == [1.0]  # "a" only: "b" has NaN, "n" is integers
    scans = Counting(subject.learnt)
    found = run(subject.table, scans, checks.not_null("a"), checks.in_range("a", 0, 5))
    assert found["not_null(a)"].passed
    assert found["in_range(a)"].observed == {"min": 1.0, "max": 3.0}
    assert scans.passes == 1  # the maximum; the minimum (and so "no NaN") came from pandas


def test_a_large_frame_validates_the_same_in_threads_as_its_arrow_table() -> None:
    """Above the size where checks run in threads, with NaN planted in one column."""
    rng = np.random.default_rng(1)
    n = 150_000
    df = pd.DataFrame({f"f{i}": rng.uniform(0, 1, n) for i in range(4)})
    df.loc[[7, 70_000], "f2"] = np.nan
    df.loc[[9], "f3"] = 4.0
    made = [c for i in range(4) for c in (checks.not_null(f"f{i}"), checks.in_range(f"f{i}", 0, 1))]
    mine = validate(df, Schema(made), record=False)
    theirs = validate(pa.Table.from_pandas(df, preserve_index=False), Schema(made), record=False)
    assert [(r.name, r.failing_rows, r.observed) for r in mine.results] == [
        (r.name, r.failing_rows, r.observed) for r in theirs.results
    ]
    assert {r.name: r.failing_rows for r in mine.results if not r.passed} == {
        "not_null(f2)": 2,
        "in_range(f3)": 1,
    }
