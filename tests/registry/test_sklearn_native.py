"""The native scorer (issue 17): scikit-learn linear models and scalers predicted with NumPy
alone, equal to scikit-learn's predictions, loaded without importing scikit-learn, SciPy,
skops or pandas, verified like every file of the package, and refused where it would
differ from the estimator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from keel.errors import IntegrityError, InvalidInput
from keel.registry._loaded import clear_cache, load_package
from keel.registry._package import build_package, read_package
from keel.registry.flavors._sklearn_native import NATIVE_ARRAYS, NATIVE_OPS
from keel.store.objects import LocalObjectStore

ROWS = 4000
WIDTH = 6
COLUMNS = [f"f{i}" for i in range(WIDTH)]


def _data(seed: int, classes: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(3.0, 2.5, (ROWS, WIDTH)) * np.arange(1, WIDTH + 1), columns=COLUMNS)
    score = X.to_numpy() @ rng.normal(size=WIDTH) + rng.normal(0, 2, ROWS)
    if classes == 0:
        return X, score
    cuts = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    return X, np.searchsorted(cuts, score)


class Pet(LogisticRegression):
    """A subclass: the same fitted arrays, but its math is its own."""


# (name, estimator factory, classes (0: regression), label mapping)
CASES = [
    ("scaled-logistic", lambda: make_pipeline(StandardScaler(), LogisticRegression()), 2, None),
    ("logistic", lambda: LogisticRegression(max_iter=500), 2, None),
    ("multinomial", lambda: make_pipeline(StandardScaler(), LogisticRegression()), 4, None),
    ("string-labels", lambda: make_pipeline(MinMaxScaler(), LogisticRegression()), 3, "str"),
    ("object-labels", lambda: make_pipeline(StandardScaler(), LogisticRegression()), 3, "obj"),
    ("no-intercept", lambda: LogisticRegression(fit_intercept=False, max_iter=500), 2, None),
    ("linear-svc", lambda: make_pipeline(StandardScaler(with_mean=False), LinearSVC()), 3, None),
    ("ridge-classifier", lambda: make_pipeline(StandardScaler(), RidgeClassifier()), 3, None),
    ("sgd-log", lambda: make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss")), 3, None),
    ("sgd-hinge", lambda: make_pipeline(StandardScaler(), SGDClassifier(random_state=0)), 2, None),
    ("linear-regression", lambda: LinearRegression(), 0, None),
    ("ridge-no-intercept", lambda: Ridge(fit_intercept=False), 0, None),
    ("minmax-clip-ridge", lambda: make_pipeline(MinMaxScaler(clip=True), Ridge()), 0, None),
    (
        "two-scalers-sgd",
        lambda: make_pipeline(
            StandardScaler(with_std=False), MinMaxScaler((-1, 1)), SGDRegressor(random_state=0)
        ),
        0,
        None,
    ),
    (
        "passthrough-step",
        lambda: Pipeline([("skip", "passthrough"), ("lr", LogisticRegression(max_iter=500))]),
        2,
        None,
    ),
]


def _labels(y: np.ndarray, mapping: str | None) -> np.ndarray:
    if mapping is None:
        return y
    names = np.array(["low", "mid", "high", "top"])[y]
    return names.astype(object) if mapping == "obj" else names


def _fit(case: tuple, seed: int) -> tuple[object, pd.DataFrame]:
    _, factory, classes, mapping = case
    X, y = _data(seed, classes)
    model = factory()
    model.fit(X, _labels(y, mapping) if classes else y)
    return model, X


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_native_predictions_equal_sklearn(objects: LocalObjectStore, case, seed: int) -> None:
    model, X = _fit(case, seed)
    digest, manifest = build_package(model, objects, input_example=X.head())
    assert {NATIVE_OPS, NATIVE_ARRAYS} <= set(manifest.files)
    loaded = load_package(objects, digest)
    assert loaded.scorer is not None
    rng = np.random.default_rng(seed + 100)
    fresh = pd.DataFrame(
        rng.normal(3.0, 4.0, (ROWS, WIDTH)) * np.arange(1, WIDTH + 1), columns=COLUMNS
    )
    for frame in (X, fresh):
        expected = model.predict(frame)
        for given in (frame, frame.to_numpy(), {c: frame[c].to_numpy() for c in COLUMNS}):
            got = loaded.predict(given)
            assert got.dtype == expected.dtype
            if case[2]:  # labels: exactly scikit-learn's, of its classes_ dtype
                assert np.array_equal(got, expected)
            else:
                np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(frame)
            np.testing.assert_allclose(
                loaded.predict_proba(frame.to_numpy()), proba, rtol=1e-12, atol=1e-15
            )
            np.testing.assert_allclose(
                loaded.proba_function()(frame), proba, rtol=1e-12, atol=1e-15
            )
        else:
            with pytest.raises(InvalidInput, match="gives no class probabilities"):
                loaded.predict_proba(frame)


def test_one_row_inputs_and_arrow_tables(objects: LocalObjectStore) -> None:
    model, X = _fit(CASES[0], 3)
    digest, _ = build_package(model, objects, input_example=X.head())
    loaded = load_package(objects, digest)
    expected = model.predict_proba(X)
    row = {c: float(X[c].iloc[7]) for c in COLUMNS}
    np.testing.assert_allclose(loaded.predict_proba(row), expected[[7]], rtol=1e-12)
    np.testing.assert_allclose(loaded.predict_proba(X.iloc[7].to_numpy()), expected[[7]])
    table = pa.Table.from_pandas(X.assign(id=range(ROWS)), preserve_index=False)
    assert np.array_equal(loaded.predict(table, extra="ignore"), model.predict(X))
    ints = X.round().astype("int64")  # integers into a float signature: cast as pandas does
    assert np.array_equal(loaded.predict(ints.to_numpy()), model.predict(ints))


def test_columns_in_another_order_are_put_in_the_fitted_order(objects) -> None:
    model, X = _fit(CASES[1], 4)
    digest, _ = build_package(model, objects, input_example=X.head())
    loaded = load_package(objects, digest)
    shuffled = X[COLUMNS[::-1]]
    assert np.array_equal(loaded.predict(shuffled), model.predict(X))


def test_bad_input_is_refused_as_before(objects: LocalObjectStore) -> None:
    model, X = _fit(CASES[0], 5)
    digest, _ = build_package(model, objects, input_example=X.head())
    loaded = load_package(objects, digest)
    with pytest.raises(InvalidInput, match="the array has 5 columns, expected 6"):
        loaded.predict(X.to_numpy()[:, :5])
    with pytest.raises(InvalidInput, match="missing column 'f5'"):
        loaded.predict(X.drop(columns="f5"))
    with pytest.raises(InvalidInput, match="column 'f0' has type string"):
        loaded.predict({"f0": ["a"], **{c: [1.0] for c in COLUMNS[1:]}})
    missing = X.to_numpy().copy()
    missing[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        loaded.predict(missing)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(pd.DataFrame(missing, columns=COLUMNS))  # scikit-learn refuses it too


def test_the_estimator_loads_on_first_access(objects: LocalObjectStore) -> None:
    model, X = _fit(CASES[2], 6)
    digest, _ = build_package(model, objects, input_example=X.head())
    loaded = load_package(objects, digest)
    assert "native" not in loaded.__dict__
    assert loaded._native is not None
    estimator = loaded.native
    assert type(estimator) is Pipeline
    assert np.array_equal(estimator.predict(X), model.predict(X))
    assert loaded.native is estimator  # loaded once
    assert load_package(objects, digest, ref="other:1").native is estimator  # shared


def test_native_false_predicts_with_the_estimator(objects: LocalObjectStore) -> None:
    model, X = _fit(CASES[0], 7)
    digest, _ = build_package(model, objects, input_example=X.head())
    plain = load_package(objects, digest, native=False)
    assert plain.scorer is None
    assert type(plain.__dict__["native"]) is Pipeline  # loaded at once
    assert np.array_equal(plain.predict(X), model.predict(X))
    assert load_package(objects, digest).scorer is not None  # cached apart


@pytest.mark.parametrize(
    "factory",
    [
        lambda: DecisionTreeClassifier(max_depth=3),
        lambda: Pet(max_iter=500),
        lambda: make_pipeline(FunctionTransformer(np.abs), LogisticRegression(max_iter=500)),
        lambda: make_pipeline(StandardScaler(), SGDClassifier(loss="modified_huber")),
        lambda: make_pipeline(StandardScaler(), LogisticRegression()).set_output(
            transform="pandas"
        ),
    ],
    ids=["tree", "subclass", "custom-step", "modified-huber", "pandas-output"],
)
def test_a_model_outside_the_set_has_no_native_files(objects, factory) -> None:
    X, y = _data(8, 2)
    model = factory().fit(X, y)
    digest, manifest = build_package(model, objects, input_example=X.head())
    assert not {NATIVE_OPS, NATIVE_ARRAYS} & set(manifest.files)
    loaded = load_package(objects, digest, trust=True)
    assert loaded.scorer is None
    assert type(loaded.__dict__["native"]) is type(model)
    assert np.array_equal(loaded.predict(X), model.predict(X))


def _stored_file(objects: LocalObjectStore, digest: str, name: str) -> Path:
    return objects.path(read_package(objects, digest).files[name])


@pytest.mark.parametrize("name", [NATIVE_OPS, NATIVE_ARRAYS])
def test_a_tampered_native_file_is_refused(
    objects: LocalObjectStore, name: str, tmp_path: Path
) -> None:
    model, X = _fit(CASES[1], 9)
    digest, _ = build_package(model, objects, input_example=X.head())
    path = _stored_file(objects, digest, name)
    raw = path.read_bytes()
    if name == NATIVE_OPS:
        ops = json.loads(raw)
        ops["final"]["intercept"] = "coef"  # another array, a valid-looking file
        forged = json.dumps(ops).encode()
    else:
        forged = raw[:-60] + bytes([raw[-60] ^ 1]) + raw[-59:]  # one bit of the last array
    os.chmod(path, 0o644)
    path.write_bytes(forged)
    with pytest.raises(IntegrityError, match=rf"its file {name} .* is corrupt or was tampered"):
        load_package(objects, digest, cache_dir=tmp_path)  # a folder of its own
    path.write_bytes(raw)
    clear_cache()
    loaded = load_package(objects, digest, cache_dir=tmp_path)
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_native_files_keel_did_not_write_are_refused(
    objects: LocalObjectStore, tmp_path: Path
) -> None:
    """A package built elsewhere, self-consistent digests but a broken scorer."""
    from keel.registry.flavors._sklearn_native import NativeScorer

    model, X = _fit(CASES[1], 10)
    digest, _ = build_package(model, objects, input_example=X.head())
    folder = tmp_path / "unpacked"
    folder.mkdir()
    for name in (NATIVE_OPS, NATIVE_ARRAYS):
        (folder / name).write_bytes(_stored_file(objects, digest, name).read_bytes())
    ops = json.loads((folder / NATIVE_OPS).read_text())
    ops["n_features"] = 4
    (folder / NATIVE_OPS).write_text(json.dumps(ops))
    with pytest.raises(IntegrityError, match="cannot be read"):
        NativeScorer.read(folder)


def test_the_same_model_gives_the_same_native_files(objects: LocalObjectStore) -> None:
    model, X = _fit(CASES[0], 11)
    first, _ = build_package(model, objects, input_example=X.head())
    again, _ = _fit(CASES[0], 11)
    second, _ = build_package(again, objects, input_example=X.head())
    assert first == second


FRESH = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keel
    loaded = keel.load_model(sys.argv[1])
    X = np.load(sys.argv[2])
    labels = loaded.predict(X).tolist()
    proba = loaded.predict_proba({c: X[:, i] for i, c in enumerate(sys.argv[3].split(","))})
    heavy = sorted(m for m in ("sklearn", "scipy", "skops", "pandas") if m in sys.modules)
    print(json.dumps({"labels": labels, "proba": proba.tolist(), "heavy": heavy}))
    """
)


def _fresh_process(tmp_path: Path, env: dict[str, str], ref: str, X: pd.DataFrame) -> dict:
    np.save(tmp_path / "X.npy", X.to_numpy())
    env = {**os.environ, **env, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    out = subprocess.run(
        [sys.executable, "-c", FRESH, ref, str(tmp_path / "X.npy"), ",".join(COLUMNS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_a_fresh_process_loads_without_sklearn_scipy_skops_or_pandas(tmp_path: Path) -> None:
    import keel
    from keel.client import reset_default_client
    from keel.store import init_project

    init_project(tmp_path).close()
    model, X = _fit(CASES[0], 12)
    env = {"KEEL_URI": str(tmp_path)}
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        reset_default_client()
        keel.register_model(model, "credit", input_example=X.head())
    finally:
        os.chdir(cwd)
        reset_default_client()
    answer = _fresh_process(tmp_path, env, "credit:1", X)
    assert answer["heavy"] == []
    assert answer["labels"] == model.predict(X).tolist()
    np.testing.assert_allclose(answer["proba"], model.predict_proba(X), rtol=1e-12)


def test_a_fresh_process_loads_from_a_keel_server_the_same_way(tmp_path: Path) -> None:
    from tests._served import serve_local

    model, X = _fit(CASES[3], 13)
    with serve_local(tmp_path / "server", ["writer"], project="credit") as served:
        with served.remote("writer") as client:
            client.models.register(model, "credit", input_example=X.head())
        env = {
            "KEEL_URI": served.url,
            "KEEL_PROJECT": "credit",
            "KEEL_TOKEN": served.tokens["writer"],
            "KEEL_CACHE_DIR": str(tmp_path / "cache"),
        }
        answer = _fresh_process(tmp_path, env, "credit:1", X)
    assert answer["heavy"] == []
    assert answer["labels"] == model.predict(X).tolist()
    np.testing.assert_allclose(answer["proba"], model.predict_proba(X), rtol=1e-12)


def test_classes_and_probabilities_are_told_without_loading_the_estimator(objects) -> None:
    model, X = _fit(CASES[3], 14)
    digest, _ = build_package(model, objects, input_example=X.head())
    loaded = load_package(objects, digest)
    assert loaded.classes.tolist() == model.classes_.tolist()
    assert loaded.classes.dtype == model.classes_.dtype
    assert loaded.gives_proba is True
    assert "native" not in loaded.__dict__
    assert loaded._native._load is not None  # still not loaded
    regressor, _ = _fit(CASES[10], 14)
    other = load_package(objects, build_package(regressor, objects, input_example=X.head())[0])
    assert other.classes is None
    assert other.gives_proba is False
    plain = load_package(objects, digest, native=False)
    assert plain.classes.tolist() == model.classes_.tolist()
    assert plain.gives_proba is True
