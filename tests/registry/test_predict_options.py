"""What users expected of a loaded model (issue 16): predict_proba where the flavor has it,
scoring a wider table by choice (extra="ignore"), and polars in as well as out."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import keel
from keel.client import default_client, reset_default_client
from keel.errors import InvalidInput
from keel.store import init_project
from keel.tracking import RunQuery

RNG = np.random.default_rng(1)
X = pd.DataFrame({"income": RNG.normal(50, 10, 120), "debt": RNG.uniform(0, 1, 120)})
Y = (X["debt"] > 0.5).astype(int)
WIDE = X.assign(customer_id=range(len(X)), label=Y)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    init_project(tmp_path).close()
    monkeypatch.chdir(tmp_path)
    reset_default_client()
    yield tmp_path
    reset_default_client()


def _classifiers() -> list:
    out: list = [pytest.param(LogisticRegression, id="sklearn")]
    for module, name in (("lightgbm", "LGBMClassifier"), ("xgboost", "XGBClassifier")):
        out.append(pytest.param((module, name), id=module))
    return out


def _make(spec):
    if isinstance(spec, tuple):
        module = pytest.importorskip(spec[0])
        return (
            getattr(module, spec[1])(n_estimators=5, verbose=-1)
            if spec[0] == "lightgbm"
            else getattr(module, spec[1])(n_estimators=5)
        )
    return spec()


@pytest.mark.parametrize("spec", _classifiers())
def test_predict_proba_is_what_the_native_model_gives(project: Path, spec) -> None:
    native = _make(spec).fit(X, Y)
    version = keel.register_model(native, "credit", input_example=X.head())
    model = keel.load_model(version.ref)
    proba = model.predict_proba(X.head(10))
    np.testing.assert_allclose(proba, native.predict_proba(X.head(10)), rtol=1e-6)
    assert proba.shape == (10, 2)
    np.testing.assert_allclose(model.predict_proba(WIDE.head(10), extra="ignore"), proba)


def test_a_model_without_probabilities_says_so(project: Path) -> None:
    version = keel.register_model(
        LinearRegression().fit(X, X["income"]), "spend", input_example=X.head()
    )
    model = keel.load_model(version.ref)
    with pytest.raises(
        InvalidInput, match=r"spend:1 \(sklearn flavor, LinearRegression\) gives no"
    ):
        model.predict_proba(X.head())
    assert model.predict(X.head(3)).shape == (3,)


def test_extra_columns_are_refused_by_default_and_left_out_by_choice(project: Path) -> None:
    native = LogisticRegression().fit(X, Y)
    model = keel.load_model(keel.register_model(native, "credit", input_example=X.head()).ref)
    with pytest.raises(InvalidInput, match=r"unexpected columns 'customer_id', 'label'"):
        model.predict(WIDE)
    expected = native.predict(X)
    np.testing.assert_array_equal(model.predict(WIDE, extra="ignore"), expected)
    row = {"income": 40.0, "debt": 0.9, "customer_id": 7}
    assert (
        model.predict(row, extra="ignore").tolist()
        == native.predict(pd.DataFrame([row])[["income", "debt"]]).tolist()
    )
    rows = [row, {**row, "debt": 0.1}]
    assert len(model.predict(rows, extra="ignore")) == 2
    with pytest.raises(InvalidInput, match="missing column 'debt'"):
        model.predict(WIDE.drop(columns="debt"), extra="ignore")  # ignoring is not guessing
    with pytest.raises(InvalidInput, match="extra must be 'error'.*'ignore'.*'drop'"):
        model.predict(WIDE, extra="drop")
    assert list(WIDE.columns) == ["income", "debt", "customer_id", "label"]  # not changed


def test_polars_out_needs_polars_installed(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keel.log_dataset(X, "applications")
    monkeypatch.setitem(sys.modules, "polars", None)  # as if it were not installed
    with (
        keel.start_run(experiment="e", capture=False) as run,
        pytest.raises(InvalidInput, match=r"pip install polars"),
    ):
        keel.load_dataset("applications", format="polars")
    assert "keel.input.training" not in default_client().runs.get_run(run.id).tags
    with pytest.raises(InvalidInput, match="pandas, arrow, duckdb, polars"):
        keel.load_dataset("applications", format="excel")
    assert len(default_client().runs.search_runs(RunQuery())) == 1


def test_polars_in_and_out(project: Path) -> None:
    pl = pytest.importorskip("polars")
    keel.log_dataset(pl.from_pandas(WIDE), "applications")
    loaded = keel.load_dataset("applications", format="polars")
    assert isinstance(loaded, pl.DataFrame)
    assert loaded.columns == list(WIDE.columns)
    assert loaded.height == len(WIDE)
    native = LogisticRegression().fit(X, Y)
    version = keel.register_model(native, "credit", input_example=pl.from_pandas(X.head()))
    model = keel.load_model(version.ref)
    np.testing.assert_array_equal(
        model.predict(loaded.select(["income", "debt"])), native.predict(X)
    )
    np.testing.assert_array_equal(model.predict(loaded, extra="ignore"), native.predict(X))
    np.testing.assert_allclose(
        model.predict_proba(loaded, extra="ignore"), native.predict_proba(X), rtol=1e-9
    )
