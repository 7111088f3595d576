"""Packages: manifests in the object store, verified loading, the in-process cache."""

from __future__ import annotations

import json
import os
import platform

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.errors import IntegrityError, InvalidInput, ObjectNotFound, StoreVersionError
from keel.registry import _loaded
from keel.registry._loaded import clear_cache, load_package
from keel.registry._package import EXAMPLE_FILE, build_package, read_package
from keel.store.objects import LocalObjectStore


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"income": rng.normal(50, 15, 100), "age": rng.integers(18, 80, 100)})


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(frame, (frame["income"] > 50).astype(int))


@pytest.fixture
def package(model, frame, objects) -> str:
    digest, _ = build_package(
        model,
        objects,
        input_example=frame.head(10),
        source_run="run-1",
        training_data=["credit@3"],
        extra={"note": "baseline"},
    )
    return digest


def tamper(objects: LocalObjectStore, digest: str, data: bytes) -> None:
    path = objects.path(digest)
    os.chmod(path, 0o644)
    path.write_bytes(data)


def test_the_same_model_gives_the_same_package(objects, model, frame) -> None:
    first, _ = build_package(model, objects, input_example=frame.head(10))
    again = LogisticRegression(max_iter=500).fit(frame, (frame["income"] > 50).astype(int))
    second, manifest = build_package(again, objects, input_example=frame.head(10))
    assert first == second  # no clock and no id() in the bytes: stored once
    assert manifest.created_at == 0
    assert load_package(objects, second).predict(frame).tolist() == model.predict(frame).tolist()


def test_manifest_records_everything_and_is_canonical_json(objects, package) -> None:
    manifest = read_package(objects, package)
    assert manifest.flavor == "sklearn"
    assert set(manifest.files) == {
        "model.skops",
        "skops-types.json",
        "native-scorer.json",  # a LogisticRegression: its NumPy scorer too
        "native-scorer.npz",
        EXAMPLE_FILE,
    }
    assert all(objects.exists(d) for d in manifest.files.values())
    assert manifest.python == platform.python_version()
    assert {"scikit-learn", "skops", "numpy", "pandas"} <= set(manifest.libraries)
    assert any(r.startswith("scikit-learn==") for r in manifest.requirements)
    assert manifest.source_run == "run-1"
    assert manifest.training_data == ["credit@3"]
    assert manifest.extra == {"note": "baseline"}
    assert manifest.signature == {
        "inputs": [{"name": "income", "dtype": "float64"}, {"name": "age", "dtype": "int64"}],
        "output": {"dtype": "int64", "shape": [None]},
    }
    raw = objects.read_bytes(package)
    data = json.loads(raw)
    assert data["format"] == 1
    assert raw == json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def test_load_predicts_like_the_original(objects, package, model, frame) -> None:
    loaded = load_package(objects, package, ref="credit:4")
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    assert repr(loaded) == "LoadedModel('credit:4', flavor='sklearn')"
    assert loaded.manifest.source_run == "run-1"
    pd.testing.assert_frame_equal(loaded.input_example, frame.head(5))
    with pytest.raises(InvalidInput, match="signature of credit:4: missing column 'age'"):
        loaded.predict(frame[["income"]])


def test_enforce_gives_the_frame_the_native_model_takes(objects, package, frame, model) -> None:
    loaded = load_package(objects, package)
    enforced = loaded.enforce(frame[["age", "income"]])
    assert list(enforced.columns) == ["income", "age"]
    np.testing.assert_allclose(
        loaded.native.predict_proba(enforced), model.predict_proba(frame), rtol=1e-12
    )


def test_example_columns_are_put_in_the_fitted_order(objects, model, frame) -> None:
    _digest, manifest = build_package(model, objects, input_example=frame[["age", "income"]])
    assert [c["name"] for c in manifest.signature["inputs"]] == ["income", "age"]
    with pytest.raises(InvalidInput, match=r"missing \['age'\], unexpected \['label'\]"):
        build_package(model, objects, input_example=frame[["income"]].assign(label=1))


def test_without_an_example_no_signature_is_enforced(objects, model, frame) -> None:
    digest, manifest = build_package(model, objects)
    assert manifest.signature is None
    assert EXAMPLE_FILE not in manifest.files
    loaded = load_package(objects, digest)
    assert loaded.signature is None
    assert loaded.input_example is None
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_an_example_the_model_cannot_predict_on_is_refused(objects, model) -> None:
    bad = pd.DataFrame({"income": ["high"], "age": [30]})
    with pytest.raises(InvalidInput, match="cannot predict on its input example"):
        build_package(model, objects, input_example=bad)


def test_warm_load_is_cached_and_skips_the_object_store(objects, package) -> None:
    first = load_package(objects, package)
    for digest in list(objects.digests()):
        objects.delete(digest)
    assert load_package(objects, package) is first
    renamed = load_package(objects, package, ref="credit@champion")
    assert renamed.ref == "credit@champion"
    assert renamed.native is first.native
    clear_cache()
    with pytest.raises(ObjectNotFound):
        load_package(objects, package)


def test_cache_keeps_the_most_recently_used(objects, model, frame, monkeypatch) -> None:
    monkeypatch.setattr(_loaded, "CACHE_SIZE", 2)
    digests = [build_package(model, objects, extra={"n": i})[0] for i in range(3)]
    loaded = [load_package(objects, d) for d in digests]
    assert load_package(objects, digests[2]) is loaded[2]
    assert load_package(objects, digests[0]) is not loaded[0]  # evicted, loaded again


def test_a_tampered_model_file_is_refused(objects, model, frame) -> None:
    # A package of its own: the same model gives the same package, and one this process
    # already materialised (verified) is loaded from those files, not the store's copies.
    package, _ = build_package(model, objects, input_example=frame, extra={"tampered": True})
    manifest = read_package(objects, package)
    tamper(objects, manifest.files["model.skops"], b"PK\x03\x04 not the model")
    with pytest.raises(IntegrityError, match="is corrupt"):
        load_package(objects, package)


def test_a_tampered_manifest_is_refused(objects, package) -> None:
    tamper(objects, package, objects.read_bytes(package).replace(b"run-1", b"run-2"))
    with pytest.raises(IntegrityError, match="is corrupt"):
        load_package(objects, package)


def test_objects_that_are_not_packages_are_refused(objects) -> None:
    with pytest.raises(IntegrityError, match="is not a keel model package"):
        read_package(objects, objects.put(b"[1, 2, 3]"))
    newer = json.dumps({"format": 99, "flavor": "sklearn"}).encode()
    with pytest.raises(StoreVersionError, match="Upgrade keel"):
        read_package(objects, objects.put(newer))


def test_file_names_escaping_the_package_are_refused(objects, package) -> None:
    data = json.loads(objects.read_bytes(package))
    data["files"]["../../evil.py"] = data["files"].pop("model.skops")
    forged = objects.put(json.dumps(data).encode())
    with pytest.raises(IntegrityError, match="not a plain relative path"):
        load_package(objects, forged)


def test_an_unknown_flavor_names_the_requirements(objects, package) -> None:
    data = json.loads(objects.read_bytes(package))
    data["flavor"] = "catboost"
    forged = objects.put(json.dumps(data).encode())
    with pytest.raises(InvalidInput, match=r"flavor 'catboost', which is not registered"):
        load_package(objects, forged)


def test_cache_dir_keeps_verified_files(objects, package, tmp_path, model, frame) -> None:
    cache = tmp_path / "cache"
    load_package(objects, package, cache_dir=cache)
    kept = cache / package / "model.skops"
    assert kept.is_file()
    kept.write_bytes(b"tampered")  # replaced by a verified copy on the next cold load
    clear_cache()
    loaded = load_package(objects, package, cache_dir=cache)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    assert kept.read_bytes() != b"tampered"
