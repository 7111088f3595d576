"""Flavors: every built-in one round-trips through a package in a real object store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from keel.errors import InvalidInput, PermissionDenied
from keel.registry._loaded import LoadedModel, clear_cache, load_package
from keel.registry._package import build_package
from keel.registry.flavors import FLAVORS, flavor_for, register_flavor
from keel.registry.flavors._sklearn import _numpy_twin, is_safe_type
from keel.store.objects import LocalObjectStore


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    n = 200
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 15_000, n),
            "tenure": rng.normal(5, 2, n),
        }
    )
    label = pd.Series((frame["income"] / 10_000 + frame["tenure"] > 10).astype(int))
    return frame, label


@pytest.fixture(scope="module")
def mixed() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(11)
    n = 200
    frame = pd.DataFrame(
        {
            "city": rng.choice(["Oslo", "Lima", "Pune"], n),
            "income": rng.normal(50_000, 15_000, n),
            "age": rng.integers(18, 80, n),
        }
    )
    label = pd.Series(((frame["city"] == "Oslo") | (frame["income"] > 60_000)).astype(int))
    return frame, label


def round_trip(model: object, objects: LocalObjectStore, example: object, **kw) -> LoadedModel:
    digest, _ = build_package(model, objects, input_example=example, **kw)
    clear_cache()
    return load_package(objects, digest, trust=kw.pop("trust", False))


# -- scikit-learn ---------------------------------------------------------------------------


def test_sklearn_logistic_regression_round_trips(objects, data) -> None:
    frame, label = data
    model = LogisticRegression(max_iter=500).fit(frame, label)
    loaded = round_trip(model, objects, frame.head(5))
    assert loaded.flavor == "sklearn"
    assert type(loaded.native) is LogisticRegression
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_array_equal(loaded.predict(frame.iloc[:1]), model.predict(frame.iloc[:1]))
    row = frame.iloc[0].to_dict()
    np.testing.assert_array_equal(loaded.predict(row), model.predict(frame.iloc[:1]))


def test_sklearn_scaled_pipeline_predicts_through_numpy_without_warnings(objects, data) -> None:
    frame, label = data
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, label)
    loaded = round_trip(model, objects, frame.head(5))
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_array_equal(loaded.predict(frame.iloc[[3]]), model.predict(frame.iloc[[3]]))


def test_sklearn_pipeline_with_column_transformer_round_trips(objects, mixed) -> None:
    frame, label = mixed
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["city"]), remainder=StandardScaler()
        ),
        LogisticRegression(max_iter=500),
    ).fit(frame, label)
    loaded = round_trip(model, objects, frame.head(5))
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    shuffled = frame[["age", "income", "city"]]  # keel puts the columns back in order
    np.testing.assert_array_equal(loaded.predict(shuffled), model.predict(frame))


def test_sklearn_model_fitted_on_arrays_takes_arrays(objects, data) -> None:
    frame, label = data
    model = LogisticRegression(max_iter=500).fit(frame.to_numpy(), label)
    loaded = round_trip(model, objects, frame.to_numpy()[:5])
    assert loaded.signature.names == ("x0", "x1", "x2")
    expected = model.predict(frame.to_numpy())
    np.testing.assert_array_equal(loaded.predict(frame.to_numpy()), expected)


def test_numpy_twin_only_for_estimators_that_merely_check_names(data, mixed) -> None:
    frame, label = data
    plain = LogisticRegression(max_iter=500).fit(frame, label)
    twin = _numpy_twin(plain)
    assert twin is not None
    assert not hasattr(twin, "feature_names_in_")
    assert hasattr(plain, "feature_names_in_")  # the original is untouched
    np.testing.assert_array_equal(twin.predict(frame.to_numpy()), plain.predict(frame))
    scaled = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, label)
    np.testing.assert_array_equal(
        _numpy_twin(scaled).predict(frame.to_numpy()), scaled.predict(frame)
    )
    city_frame, city_label = mixed
    by_name = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough"),
        LogisticRegression(max_iter=500),
    ).fit(city_frame, city_label)
    assert _numpy_twin(by_name) is None


class Doubler(BaseEstimator, TransformerMixin):
    """A custom transformer: its module must be imported to load it."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) * 2


def test_sklearn_types_outside_the_allow_list_need_trust(objects, data) -> None:
    frame, label = data
    model = make_pipeline(Doubler(), LogisticRegression(max_iter=500)).fit(frame, label)
    digest, _ = build_package(model, objects, input_example=frame.head(3))
    clear_cache()
    with pytest.raises(PermissionDenied, match=r"outside .* keel's allow-list: .*Doubler"):
        load_package(objects, digest)
    loaded = load_package(objects, digest, trust=True)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


class FrameDoubler(Doubler):
    """Hands the frame on, names and all, without recording them itself."""

    def transform(self, X):
        return X * 2


def test_a_pipeline_whose_later_step_knows_the_names_gets_the_frame(objects, data) -> None:
    frame, label = data
    model = make_pipeline(FrameDoubler(), LogisticRegression(max_iter=500)).fit(frame, label)
    digest, _ = build_package(model, objects, input_example=frame.head(3))
    clear_cache()
    loaded = load_package(objects, digest, trust=True)
    # an array would warn "X does not have valid feature names" (an error under pytest)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_safe_type_allow_list() -> None:
    assert is_safe_type("sklearn.tree._tree.Tree")
    assert is_safe_type("sklearn.feature_selection._univariate_selection.f_classif")
    assert not is_safe_type("numpy.load")
    assert not is_safe_type("sklearn.utils._testing.assert_run_python_script_without_output")
    assert not is_safe_type("sklearn.tree._tree")  # a module, not a name on the list
    assert not is_safe_type("builtins.eval")
    assert not is_safe_type("tests.registry.test_flavors.Doubler")


# -- XGBoost, LightGBM, ONNX ----------------------------------------------------------------


def test_xgboost_classifier_and_booster_round_trip(objects, data) -> None:
    xgboost = pytest.importorskip("xgboost")
    frame, label = data
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=3).fit(frame, label)
    loaded = round_trip(model, objects, frame.head(5))
    assert loaded.flavor == "xgboost"
    assert type(loaded.native) is xgboost.XGBClassifier
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    booster = model.get_booster()
    loaded_booster = round_trip(booster, objects, frame.head(5))
    np.testing.assert_allclose(
        loaded_booster.predict(frame), booster.predict(xgboost.DMatrix(frame)), rtol=1e-6
    )


def test_lightgbm_classifier_round_trips(objects, mixed) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    frame, label = mixed
    frame = frame.assign(city=frame["city"].astype("category"))
    model = lightgbm.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1).fit(frame, label)
    loaded = round_trip(model, objects, frame.head(5))
    assert loaded.flavor == "lightgbm"
    assert type(loaded.native) is lightgbm.LGBMClassifier
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_allclose(loaded.native.predict_proba(frame), model.predict_proba(frame))
    strings = frame.assign(city=frame["city"].astype(str))  # cast back to category
    np.testing.assert_array_equal(loaded.predict(strings), model.predict(frame))


def test_lightgbm_string_labels_booster_and_regressor_round_trip(objects, data) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    frame, label = data
    named = label.map({0: "stay", 1: "leave"})
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(frame, named)
    loaded = round_trip(model, objects, frame.head(5))
    assert loaded.predict(frame).tolist() == model.predict(frame).tolist()
    loaded_booster = round_trip(model.booster_, objects, frame.head(5))
    np.testing.assert_allclose(loaded_booster.predict(frame), model.booster_.predict(frame))
    regressor = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(frame, frame["income"])
    loaded_regressor = round_trip(regressor, objects, frame.head(5))
    np.testing.assert_allclose(loaded_regressor.predict(frame), regressor.predict(frame))


def test_onnx_model_from_skl2onnx_round_trips(objects, data) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    frame, label = data
    frame = frame.astype(np.float32)
    sk = LogisticRegression(max_iter=500).fit(frame.to_numpy(), label)
    onnx_model = skl2onnx.to_onnx(sk, frame.to_numpy()[:1], target_opset=17)
    loaded = round_trip(onnx_model, objects, frame.head(5))
    assert loaded.flavor == "onnx"
    np.testing.assert_array_equal(loaded.predict(frame), sk.predict(frame.to_numpy()))
    as_bytes = round_trip(onnx_model.SerializeToString(), objects, frame.head(5), flavor="onnx")
    np.testing.assert_array_equal(as_bytes.predict(frame), sk.predict(frame.to_numpy()))


def test_onnx_graph_with_one_input_per_column_round_trips(objects, mixed) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    frame, label = mixed
    frame = frame.assign(income=frame["income"].astype(np.float32))
    sk = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["city"]), remainder=StandardScaler()
        ),
        LogisticRegression(max_iter=500),
    ).fit(frame, label)
    onnx_model = skl2onnx.to_onnx(sk, frame.head(1), target_opset=17)  # inputs by column
    loaded = round_trip(onnx_model, objects, frame.head(5))
    np.testing.assert_array_equal(loaded.predict(frame), sk.predict(frame))


# -- pyfunc ---------------------------------------------------------------------------------


class Threshold:
    """Any Python object with predict: the pyfunc flavor."""

    def __init__(self, column: str, cut: float) -> None:
        self.column = column
        self.cut = cut

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame[self.column] > self.cut).to_numpy().astype(int)


def test_pyfunc_needs_trust_and_explains_why(objects, data) -> None:
    frame, _ = data
    model = Threshold("income", 50_000)
    digest, manifest = build_package(model, objects, input_example=frame.head(5))
    assert manifest.flavor == "pyfunc"
    with pytest.raises(
        PermissionDenied,
        match=r"cloudpickle can run arbitrary code when loading; pass trust=True only for "
        r"packages you or your team built",
    ):
        load_package(objects, digest, ref="fraud:2")
    loaded = load_package(objects, digest, trust=True)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_trusted_load_is_not_handed_to_an_untrusting_caller(objects, data) -> None:
    frame, _ = data
    digest, _ = build_package(Threshold("age", 40), objects, input_example=frame.head(2))
    load_package(objects, digest, trust=True)
    with pytest.raises(PermissionDenied):
        load_package(objects, digest)


# -- choosing and adding flavors ------------------------------------------------------------


def test_unsupported_model_lists_the_flavors() -> None:
    with pytest.raises(
        InvalidInput,
        match=r"No flavor can package a model of type builtins\.dict\. The flavors are: "
        r"pyfunc, sklearn, lightgbm, xgboost, onnx",
    ):
        flavor_for({"weights": [1, 2]})
    with pytest.raises(InvalidInput, match=r"Unknown flavor 'sklaern'. Did you mean 'sklearn'\?"):
        flavor_for(object(), "sklaern")


def test_estimators_pick_their_own_flavor_before_pyfunc() -> None:
    assert flavor_for(LogisticRegression()).name == "sklearn"
    assert flavor_for(Threshold("a", 1)).name == "pyfunc"


class Coefficients:
    def __init__(self, coef: list[float]) -> None:
        self.coef = coef


class CoefficientsFlavor:
    """A plug-in flavor: JSON coefficients, a dot product per row."""

    name = "coefficients"

    def handles(self, model: object) -> bool:
        return isinstance(model, Coefficients)

    def save(self, model: Coefficients, folder: Path) -> list[str]:
        import json

        (folder / "coef.json").write_text(json.dumps(model.coef))
        return ["coef.json"]

    def load(self, folder: Path, *, trust: bool) -> Coefficients:
        import json

        return Coefficients(json.loads((folder / "coef.json").read_text()))

    def predict(self, model: Coefficients, frame: pd.DataFrame) -> np.ndarray:
        return frame.to_numpy() @ np.asarray(model.coef)

    def requirements(self) -> list[str]:
        return []


def test_a_registered_flavor_packages_and_loads(objects) -> None:
    register_flavor(CoefficientsFlavor())
    try:
        frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
        loaded = round_trip(Coefficients([0.5, 2.0]), objects, frame)
        assert loaded.flavor == "coefficients"
        assert loaded.predict({"a": 2.0, "b": 1.0}).tolist() == [3.0]
    finally:
        del FLAVORS["coefficients"]
    with pytest.raises(InvalidInput, match="is not a flavor"):
        register_flavor(object())  # type: ignore[arg-type]
