"""SQL over dataset versions and holdout predictions."""

from __future__ import annotations

import pandas as pd
import pytest

from keel.data import DatasetService
from keel.errors import InvalidInput
from keel.lake import query, view_names
from keel.store import Store
from keel.tracking import SqlTracking, Tracker


@pytest.fixture
def data(store: Store) -> DatasetService:
    return DatasetService(store)


def test_datasets_are_views_by_name_and_version(data: DatasetService) -> None:
    data.log(pd.DataFrame({"region": ["n", "s", "s"], "amount": [1.0, 2.0, 3.0]}), "sales")
    data.log(pd.DataFrame({"region": ["n"], "amount": [10.0]}), "sales")
    latest = query("SELECT sum(amount) AS total FROM sales", service=data)
    assert latest["total"].tolist() == [10.0]
    first = query(
        'SELECT region, sum(amount) AS total FROM "sales:v1" GROUP BY region ORDER BY region',
        service=data,
    )
    assert first.to_dict(orient="records") == [
        {"region": "n", "total": 1.0},
        {"region": "s", "total": 5.0},
    ]
    assert {"sales", "sales:v1", "sales:v2", "run_predictions"} <= set(view_names(data))


def test_holdout_predictions_of_every_run_are_one_view(store: Store, data: DatasetService) -> None:
    tracker = Tracker(SqlTracking(store))
    ids = []
    for auc_shift in (0, 1):
        with tracker.start_run("credit", capture=False) as run:
            run.log_predictions(pd.DataFrame({"y_true": [0, 1, 1], "y_pred": [0, 1, auc_shift]}))
        ids.append(run.id)
    tracker.close()
    result = query(
        "SELECT run_id, avg((y_true = y_pred)::int) AS accuracy FROM run_predictions "
        "GROUP BY run_id ORDER BY run_id",
        service=data,
    )
    assert result["run_id"].tolist() == sorted(ids)
    assert result["accuracy"].tolist() == pytest.approx([2 / 3, 1.0])


def test_bad_sql_is_invalid_input(data: DatasetService) -> None:
    data.log(pd.DataFrame({"a": [1]}), "toy")
    with pytest.raises(InvalidInput, match="The lake query failed"):
        query("SELECT nope FROM toy", service=data)
    with pytest.raises(InvalidInput):
        query("SELEC 1", service=data)
