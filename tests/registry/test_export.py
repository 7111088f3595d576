"""ONNX export: real skl2onnx conversions checked with real onnxruntime, through keel."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, SplineTransformer

from keel.config import resolve
from keel.errors import InvalidInput
from keel.quickstart._data import make_credit_data
from keel.quickstart._train import FEATURES, _pipeline
from keel.registry._export import TOLERANCE, export_onnx
from keel.registry._service import Actor, RegistryService
from keel.store import init_project
from tests._cli import run_keel, run_python

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryService]:
    config = resolve(
        uri=f"sqlite:///{tmp_path / 'meta' / 'keel.db'}", objects=str(tmp_path / "objects")
    )
    store = init_project(tmp_path, config)
    yield RegistryService(store, actor=Actor("alice", "admin"))
    store.close()


def docs_data() -> tuple[pd.DataFrame, pd.Series]:
    """The frame docs/registry.md trains its credit models on."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(50, 10, 400), "debt": rng.uniform(0, 1, 400)})
    y = (X["debt"] + rng.normal(0, 0.2, 400) > 0.5).astype(int)
    return X, y


def assert_exports_faithfully(
    registry: RegistryService, model: object, name: str, X: pd.DataFrame
) -> None:
    """Register ``model``, export it, and check the ONNX version against the original,
    both as the export's own check saw it and as keel loads and serves it."""
    registry.register(model, name, input_example=X.head())
    exported, agreement = export_onnx(registry, f"{name}:1")
    assert (exported.ref, exported.flavor, agreement) == (f"{name}:2", "onnx", 1.0)
    assert exported.description.startswith(f"ONNX export of {name}:1 (agrees on 5 example rows")
    assert exported.signature["inputs"] == registry.get(f"{name}:1").signature["inputs"]
    loaded = registry.load(exported.ref)
    rows = X.head(100)
    assert np.array_equal(np.asarray(loaded.predict(rows)).ravel(), model.predict(rows))
    session = loaded.native  # the onnxruntime session keel loaded: its second output
    feeds = {
        i.name: rows.to_numpy(np.float32)
        if len(session.get_inputs()) == 1
        else rows[[i.name]].to_numpy(np.float32 if i.type == "tensor(float)" else object)
        for i in session.get_inputs()
    }
    probabilities = session.run(["probabilities"], feeds)[0]
    assert np.abs(probabilities - model.predict_proba(rows)).max() <= TOLERANCE


def test_the_docs_example_exports(registry: RegistryService) -> None:
    # Was: "at most 1 input(s) is(are) supported but we got 2" (one input per column).
    X, y = docs_data()
    model = LogisticRegression(C=1.0).fit(X[:300], y[:300])
    assert_exports_faithfully(registry, model, "credit", X)


@pytest.mark.parametrize("kind", ["logistic_regression", "gradient_boosting"])
def test_the_quickstart_models_export(registry: RegistryService, kind: str) -> None:
    # Was: onnxruntime's Concat bound to tensor(double) and tensor(float) (ints and floats
    # went in as their own types; the one-hot strings came out as float).
    frame = make_credit_data(600)
    params = {"C": 1.0} if kind == "logistic_regression" else {"n_estimators": 20}
    model = _pipeline(kind, params).fit(frame[FEATURES], frame["default"])
    assert_exports_faithfully(registry, model, "credit", frame[FEATURES])


def test_a_one_column_model_exports(registry: RegistryService) -> None:
    # Was: INVALID_GRAPH, ZipMap given double probabilities.
    X, y = docs_data()
    model = LogisticRegression().fit(X[["debt"]], y)
    assert_exports_faithfully(registry, model, "debt-only", X[["debt"]])


def test_a_thirty_column_forest_exports(registry: RegistryService) -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(300, 30)), columns=[f"f{i}" for i in range(30)])
    y = (X["f0"] + X["f1"] - X["f29"] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=15, random_state=0).fit(X, y)
    assert_exports_faithfully(registry, model, "forest", X)


class Doubler(BaseEstimator, TransformerMixin):
    """A custom transformer: skl2onnx has no converter for it."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) * 2


@pytest.mark.parametrize(
    ("steps", "trust", "refusal"),
    [
        (
            [SplineTransformer()],
            False,
            r"skl2onnx cannot convert spline:1: it has no converter for SplineTransformer "
            r"\(step 'splinetransformer'\)\. Keep serving the scikit-learn version",
        ),
        (
            [Doubler()],
            True,
            r"skl2onnx cannot convert spline:1: it has no converter for Doubler "
            r"\(step 'doubler'\)",
        ),
        (
            [FunctionTransformer(np.log1p)],
            False,
            r"skl2onnx cannot convert spline:1 \(a Pipeline\): FunctionTransformer is not "
            r"supported .*; keep serving the scikit-learn version\.$",
        ),
    ],
    ids=["estimator-skl2onnx-lacks", "custom-transformer", "function-transformer"],
)
def test_what_skl2onnx_cannot_convert_is_refused_in_one_line(
    registry: RegistryService, steps: list, trust: bool, refusal: str
) -> None:
    X, y = docs_data()
    model = make_pipeline(*steps, LogisticRegression()).fit(X, y)
    registry.register(model, "spline", input_example=X.head())
    with pytest.raises(InvalidInput, match=refusal) as refused:
        export_onnx(registry, "spline:1", trust=trust)
    assert "\n" not in refused.value.message
    assert [v.ref for v in registry.versions("spline")] == ["spline:1"]


def test_an_export_that_loses_precision_is_refused(registry: RegistryService) -> None:
    # float32 cannot tell 1e8 + 0.3 from 1e8: the export would answer something else.
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"reading": 1e8 + rng.normal(0, 1, 50)})
    model = LinearRegression().fit(X, 1000 * (X["reading"] - 1e8))
    registry.register(model, "gauge", input_example=X.head())
    with pytest.raises(
        InvalidInput,
        match=r"The ONNX export of gauge:1 disagrees with the original on \d of 5 example "
        r"rows .* at most 0\.0001 allowed\)\. Not registered",
    ):
        export_onnx(registry, "gauge:1")
    assert [v.ref for v in registry.versions("gauge")] == ["gauge:1"]


REGISTER = textwrap.dedent(
    """
    import keel
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import SplineTransformer
    from keel.quickstart._data import make_credit_data
    from keel.quickstart._train import FEATURES, _pipeline

    frame = make_credit_data(400)
    X, y = frame[FEATURES], frame["default"]
    keel.register_model(
        _pipeline("logistic_regression", {"C": 1.0}).fit(X, y), "credit", input_example=X.head()
    )
    numbers = X.drop(columns="region")
    spline = make_pipeline(SplineTransformer(), LogisticRegression(max_iter=500))
    keel.register_model(spline.fit(numbers, y), "spline", input_example=numbers.head())
    """
)


def test_the_cli_exports_and_refuses_in_one_line(tmp_path: Path) -> None:
    assert run_keel("init", cwd=tmp_path).returncode == 0
    run_python(REGISTER, cwd=tmp_path)
    done = run_keel("models", "export", "credit:1", "--onnx", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "registered credit:2 (onnx); agrees with credit:1" in done.stdout
    refused = run_keel("models", "export", "spline:1", "--onnx", cwd=tmp_path)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "error: skl2onnx cannot convert spline:1: it has no converter for SplineTransformer "
        "(step 'splinetransformer'). Keep serving the scikit-learn version, or rebuild the "
        "model without it."
    ]
