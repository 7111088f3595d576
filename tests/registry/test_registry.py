"""Registry lifecycle on SQLite and PostgreSQL: versions, aliases, policy, approvals, audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

from keel.data import DatasetService
from keel.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from keel.registry._service import Actor, RegistryService
from keel.store import Store


@pytest.fixture
def xy() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(50, 10, 300), "debt": rng.uniform(0, 1, 300)})
    y = (X["debt"] + rng.normal(0, 0.2, 300) > 0.5).astype(int).to_numpy()
    return X, y


@pytest.fixture
def registry(store: Store, xy) -> RegistryService:
    X, y = xy
    service = RegistryService(store, actor=Actor("alice", "admin"))
    for c in (0.1, 1.0, 10.0):
        service.register(
            LogisticRegression(C=c).fit(X, y), "credit", input_example=X.head(), metrics={"C": c}
        )
    return service


def test_versions_refs_and_load(registry: RegistryService, xy) -> None:
    X, y = xy
    assert [v.ref for v in registry.versions("credit")] == ["credit:1", "credit:2", "credit:3"]
    assert registry.get("credit").version == 3
    assert registry.get("credit@latest").version == 3
    assert registry.get("credit:2").metrics == {"C": 1.0}
    assert [c["name"] for c in registry.get("credit:1").signature["inputs"]] == ["income", "debt"]
    loaded = registry.load("credit:3")
    expected = LogisticRegression(C=10.0).fit(X, y).predict(X)
    assert (np.asarray(loaded.predict(X)).ravel() == expected).all()
    with pytest.raises(NotFound, match="has no version 7"):
        registry.get("credit:7")
    with pytest.raises(NotFound, match="No model named 'credt'.*Did you mean 'credit'"):
        registry.get("credt")
    with pytest.raises(InvalidInput, match="Cannot read the model reference"):
        registry.get("credit::2")


def test_load_resolves_a_version_once(registry: RegistryService) -> None:
    registry.load("credit:2")
    statements: list[str] = []
    sa.event.listen(
        registry.store.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    loaded = registry.load("credit:2")
    assert (loaded.ref, statements) == ("credit:2", [])
    assert loaded.digest == registry.get("credit:2").package_digest


def test_load_sees_alias_moves_and_new_versions_at_once(registry: RegistryService, xy) -> None:
    X, y = xy
    registry.set_alias("credit:1", "champion")
    assert registry.load("credit@champion").ref == "credit:1"
    assert registry.load("credit").ref == "credit:3"
    registry.set_alias("credit:3", "champion")
    moved = registry.load("credit@champion")
    assert moved.ref == "credit:3"
    assert moved.digest == registry.get("credit:3").package_digest
    registry.register(LogisticRegression(C=5.0).fit(X, y), "credit", input_example=X.head())
    assert registry.load("credit").ref == "credit:4"
    assert registry.load("credit@latest").ref == "credit:4"
    registry.rollback("credit")
    assert registry.load("credit@champion").ref == "credit:1"


def test_load_names_what_is_missing(registry: RegistryService) -> None:
    with pytest.raises(NotFound, match="has no alias 'challenger'"):
        registry.load("credit@challenger")
    with pytest.raises(NotFound, match="has no version 9"):
        registry.load("credit:9")
    with pytest.raises(NotFound, match="No model named 'credt'"):
        registry.load("credt:1")
    with pytest.raises(NotFound, match="No model named 'credt'"):
        registry.load("credt")


def test_aliases_move_and_roll_back(registry: RegistryService) -> None:
    registry.set_alias("credit:1", "champion")
    registry.set_alias("credit:2", "champion", reason="better auc")
    registry.set_alias("credit:3", "champion")
    assert registry.get("credit@champion").version == 3
    assert registry.get("credit:3").aliases == ("champion",)
    assert registry.get("credit:2").aliases == ()
    assert registry.rollback("credit").version == 2
    assert registry.rollback("credit").version == 1
    with pytest.raises(InvalidInput, match="no earlier version to roll back to"):
        registry.rollback("credit")
    with pytest.raises(NotFound, match="has no alias 'challenger'"):
        registry.get("credit@challenger")
    with pytest.raises(InvalidInput, match="'latest' is reserved"):
        registry.set_alias("credit:1", "latest")


def test_policy_needs_approvals_and_a_gate(registry: RegistryService) -> None:
    registry.set_policy("credit", {"aliases": {"champion": {"approvals": 1, "gate": True}}})
    with pytest.raises(
        PermissionDenied, match="0 of the 1 approval required.*no passing evaluation gate"
    ):
        registry.set_alias("credit:2", "champion")
    registry.approve("credit:2", "looks good")
    with pytest.raises(PermissionDenied, match="no passing evaluation gate"):
        registry.set_alias("credit:2", "champion")
    version = registry.get("credit:2")
    registry.record_evaluation(
        version,
        baseline=None,
        data_ref="holdout:v1",
        metrics={"auc": 0.9},
        gate="auc > 0.8",
        passed=True,
    )
    assert registry.set_alias("credit:2", "champion").aliases == ("champion",)
    bob = RegistryService(registry.store, actor=Actor("bob", "approver"))
    bob.reject("credit:2", "leaks the label")
    with pytest.raises(PermissionDenied, match="rejected by bob"):
        registry.set_alias("credit:2", "champion")
    assert registry.approvals("credit:2") == {"alice": "approved", "bob": "rejected"}
    with pytest.raises(InvalidInput, match="Unknown policy setting"):
        registry.set_policy("credit", {"aliases": {"champion": {"approval": 1}}})


def test_roles_are_enforced(registry: RegistryService) -> None:
    reader = RegistryService(registry.store, actor=Actor("carol", "reader"))
    writer = RegistryService(registry.store, actor=Actor("dave", "writer"))
    with pytest.raises(PermissionDenied, match="'carol' has role 'reader'"):
        reader.approve("credit:1")
    with pytest.raises(PermissionDenied):
        reader.set_alias("credit:1", "champion")
    with pytest.raises(PermissionDenied, match="needs 'admin'"):
        writer.set_policy("credit", {})
    assert registry.approvals("credit:1") == {}


def test_approvals_and_protected_aliases_need_an_approver(registry: RegistryService) -> None:
    writer = RegistryService(registry.store, actor=Actor("dave", "writer"))
    approver = RegistryService(registry.store, actor=Actor("erin", "approver"))
    with pytest.raises(PermissionDenied, match="'dave' has role 'writer'.*needs 'approver'"):
        writer.approve("credit:1")
    with pytest.raises(PermissionDenied, match="needs 'approver'"):
        writer.reject("credit:1")
    writer.set_alias("credit:1", "staging")  # no rule protects it: a writer moves it
    registry.set_policy("credit", {"aliases": {"champion": {"approvals": 1}}})
    approver.approve("credit:1", "ok")
    with pytest.raises(PermissionDenied, match="credit@champion, which its policy protects"):
        writer.set_alias("credit:1", "champion")
    assert approver.set_alias("credit:1", "champion").aliases == ("champion", "staging")
    approver.approve("credit:2")
    approver.set_alias("credit:2", "champion")
    with pytest.raises(PermissionDenied, match="roll back credit@champion"):
        writer.rollback("credit")
    assert approver.rollback("credit").version == 1
    assert registry.approvals("credit:1") == {"erin": "approved"}
    # the local actor is an admin, which includes approving
    assert Actor.local().role == "admin"


def test_history_records_every_decision(registry: RegistryService) -> None:
    registry.set_alias("credit:1", "champion")
    registry.approve("credit:2", "ok")
    registry.set_alias("credit:2", "champion")
    registry.rollback("credit")
    actions = [e.action for e in registry.history("credit")]
    assert actions == ["register"] * 3 + ["set_alias", "approve", "set_alias", "rollback"]
    last = registry.history("credit")[-1]
    assert (last.actor, last.details["from"], last.details["to"]) == ("alice", 2, 1)


def test_names_cannot_clash_with_datasets(store: Store, xy) -> None:
    X, y = xy
    DatasetService(store).log(X, "scores")
    with pytest.raises(AlreadyExists, match="already the name of a dataset"):
        RegistryService(store).register(LogisticRegression().fit(X, y), "scores", input_example=X)


def test_unsupported_model_changes_nothing(store: Store) -> None:
    service = RegistryService(store)
    with pytest.raises(InvalidInput, match="sklearn"):
        service.register(object(), "weird")
    assert store.counts()["model_versions"] == 0
