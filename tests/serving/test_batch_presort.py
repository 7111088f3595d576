"""Float columns sorted as they are written profile exactly as the rows in order do."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from keel.data._profile import profile_table
from keel.serving._batch_presort import PartRows


def batches() -> list[pa.Table]:
    rng = np.random.default_rng(3)
    out = []
    for n in (5_000, 1, 7_321, 4_000):
        proba = rng.uniform(size=n)
        proba[rng.integers(0, n, max(n // 100, 1))] = np.nan
        wide = rng.normal(0, 1e6, n).astype(np.float32)
        out.append(
            pa.table(
                {
                    "id": pa.array(rng.integers(0, 50, n)),
                    "label": pa.array(rng.choice(["a", "b", "c"], n)),
                    "proba": pa.array(proba, mask=rng.uniform(size=n) < 0.01),
                    "score": pa.array(
                        np.where(rng.uniform(size=n) < 0.01, np.inf, wide).astype(np.float32)
                    ),
                }
            )
        )
    return out


def test_the_profile_of_sorted_floats_is_the_profile_of_the_rows() -> None:
    parts = batches()
    rows = PartRows()
    for table in parts:
        rows.add(table)
    presorted = rows.table()
    whole = pa.concat_tables(parts)
    assert presorted.schema == whole.schema
    assert presorted.column("label").equals(whole.column("label"))  # kept in row order
    assert presorted.column("id").equals(whole.column("id"))
    proba = presorted.column("proba").to_numpy()
    finite = proba[~np.isnan(proba)]
    assert (np.diff(finite) >= 0).all()
    assert np.isnan(proba[len(finite) :]).all()
    assert profile_table(presorted).to_dict() == profile_table(whole).to_dict()


def test_a_part_is_forgotten_once_taken() -> None:
    rows = PartRows()
    rows.add(batches()[0])
    assert rows.table().num_rows == 5_000
    rows.add(batches()[1])
    assert rows.table().num_rows == 1
