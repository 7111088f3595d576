"""RegistryService.register_from_run: the model a run logged becomes a version, on SQLite and
PostgreSQL, under the same allow-list as a package; a refused artifact registers nothing."""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from keel.data import DatasetService
from keel.errors import InvalidInput, NotFound, PermissionDenied
from keel.registry import Actor, RegistryService
from keel.store import Store
from keel.tracking import SqlTracking, Tracker


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(50, 10, 200), "debt": rng.uniform(0, 1, 200)})
    return X.assign(label=(X["debt"] > 0.5).astype(int))


@pytest.fixture
def runs(store: Store) -> SqlTracking:
    return SqlTracking(store)


@pytest.fixture
def registry(store: Store) -> RegistryService:
    return RegistryService(store, actor=Actor("alice", "writer"))


def _logged(runs: SqlTracking, artifact: bytes, name: str = "model.skops") -> str:
    """A finished run holding ``artifact``, an auc and a system metric."""
    tracker = Tracker(runs, heartbeat=None)
    with tracker.start_run("credit", capture=False) as run:
        run.log_metric("auc", 0.91)
        run.log_metric("system/cpu_percent", 12.0)
        run.log_artifact(artifact, name, kind="model")
    tracker.close()
    return run.id


def test_the_runs_model_its_metrics_and_an_example_make_the_version(
    store: Store, runs: SqlTracking, registry: RegistryService, frame: pd.DataFrame
) -> None:
    model = LogisticRegression().fit(frame[["income", "debt"]], frame["label"])
    run_id = _logged(runs, sio.dumps(model))
    datasets = DatasetService(store)
    datasets.log(frame, "applications")
    version = registry.register_from_run(
        run_id[:20],  # a prefix, as a person types it
        "credit",
        runs=runs,
        datasets=datasets,
        example="applications",
        drop=["label", "not-a-column"],
    )
    assert version.ref == "credit:1"
    assert version.flavor == "sklearn"
    assert version.run_id == run_id
    assert version.metrics == {"auc": pytest.approx(0.91)}  # system/* metrics stay on the run
    assert [c["name"] for c in version.signature["inputs"]] == ["income", "debt"]
    loaded = registry.load("credit:1")
    expected = model.predict(frame[["income", "debt"]])
    assert (np.asarray(loaded.predict(frame[["income", "debt"]])).ravel() == expected).all()
    assert [e.action for e in registry.history("credit")] == ["register"]


def test_services_default_to_the_registrys_store(
    store: Store, runs: SqlTracking, frame: pd.DataFrame
) -> None:
    model = LogisticRegression().fit(frame[["income", "debt"]], frame["label"])
    run_id = _logged(runs, sio.dumps(model), name="models/lr.skops")
    DatasetService(store, project="default").log(frame, "applications")
    registry = RegistryService(store)
    version = registry.register_from_run(
        run_id, "credit", artifact="models/lr.skops", example="applications", drop=["label"]
    )
    assert version.run_id == run_id
    assert version.signature is not None


def test_an_artifact_that_is_not_skops_registers_nothing(
    runs: SqlTracking, registry: RegistryService
) -> None:
    run_id = _logged(runs, b"not a zip file")
    with pytest.raises(InvalidInput, match=f"'model.skops' of run {run_id} is not a skops file"):
        registry.register_from_run(run_id, "credit", runs=runs)
    assert registry.list() == []


def test_a_type_outside_the_allow_list_is_refused_before_loading(
    runs: SqlTracking, registry: RegistryService
) -> None:
    run_id = _logged(runs, sio.dumps(FunctionTransformer(operator.neg)))
    with pytest.raises(PermissionDenied, match="_operator.neg"):
        registry.register_from_run(run_id, "credit", runs=runs)
    assert registry.list() == []


def test_a_missing_artifact_or_an_ambiguous_run_registers_nothing(
    runs: SqlTracking, registry: RegistryService, frame: pd.DataFrame
) -> None:
    model = LogisticRegression().fit(frame[["income", "debt"]], frame["label"])
    first = _logged(runs, sio.dumps(model))
    second = _logged(runs, sio.dumps(model))
    with pytest.raises(NotFound, match="has no artifact named 'model.skop'.*model.skops"):
        registry.register_from_run(first, "credit", runs=runs, artifact="model.skop")
    shared = first[: next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)]
    assert len(shared) >= 4  # ids start with the time they were made: made together, shared
    with pytest.raises(InvalidInput, match="is ambiguous"):
        registry.register_from_run(shared, "credit", runs=runs)
    assert registry.list() == []
