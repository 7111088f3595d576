"""Four eyes (issue 16): a policy may require that a version be approved by someone other
than whoever registered it; the audit trail shows both. On SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.errors import InvalidInput, PermissionDenied
from keel.registry import Policy
from keel.registry._service import Actor, RegistryService
from keel.store import Store

X = pd.DataFrame({"income": np.linspace(10, 90, 40), "debt": np.linspace(0, 1, 40)})
Y = (X["debt"] > 0.5).astype(int)


def _as(store: Store, name: str, role: str = "admin") -> RegistryService:
    return RegistryService(store, actor=Actor(name, role))


def test_the_registrant_cannot_approve_their_own_version_into_production(store: Store) -> None:
    alice, bob = _as(store, "alice"), _as(store, "bob", "approver")
    version = alice.register(LogisticRegression().fit(X, Y), "credit", input_example=X.head())
    alice.set_policy("credit", {"aliases": {"champion": {"approvals": 1, "four_eyes": True}}})
    assert alice.policy("credit").rules["champion"].four_eyes
    alice.approve(version, "mine, and fine")
    with pytest.raises(
        PermissionDenied,
        match=r"1 approval from someone other than 'alice', who registered it, and has 0 "
        r"\(its registrant's own approval does not count\)\. Nothing was changed",
    ):
        alice.set_alias(version, "champion")
    assert alice.get("credit:1").aliases == ()
    bob.approve(version, "checked the holdout")
    moved = alice.set_alias(version, "champion", reason="approved by bob")
    assert moved.aliases == ("champion",)
    events = alice.history("credit")
    assert [(e.actor, e.action) for e in events if e.action in ("register", "approve")] == [
        ("alice", "register"),
        ("alice", "approve"),
        ("bob", "approve"),
    ]
    promotion = next(e for e in events if e.action == "set_alias")
    assert promotion.details["registered_by"] == "alice"
    assert promotion.details["approved_by"] == ["alice", "bob"]


def test_four_eyes_with_no_approval_count_still_needs_one_other(store: Store) -> None:
    alice = _as(store, "alice")
    version = alice.register(LogisticRegression().fit(X, Y), "credit")
    alice.set_policy("credit", {"aliases": {"prod": {"four_eyes": True}}})
    with pytest.raises(PermissionDenied, match="someone other than 'alice'"):
        alice.set_alias(version, "prod")
    _as(store, "carol", "approver").approve(version)
    assert alice.set_alias(version, "prod").aliases == ("prod",)
    alice.set_alias(version, "staging")  # an alias without a rule moves freely


def test_without_four_eyes_the_registrant_may_approve(store: Store) -> None:
    alice = _as(store, "alice")
    version = alice.register(LogisticRegression().fit(X, Y), "credit")
    alice.set_policy("credit", {"aliases": {"champion": {"approvals": 1}}})
    alice.approve(version)
    assert alice.set_alias(version, "champion").aliases == ("champion",)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"four_eyes": "yes"}, "four_eyes for alias 'champion' must be true or false"),
        ({"gate": 1}, "gate for alias 'champion' must be true or false"),
        ({"four_eye": True}, r"Unknown policy setting \['four_eye'\]"),
        ("strict", "must be a mapping"),
    ],
)
def test_bad_policies_are_refused(rule, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Policy.from_dict({"aliases": {"champion": rule}})


def test_the_policy_round_trips() -> None:
    policy = Policy.from_dict({"aliases": {"champion": {"approvals": 2, "four_eyes": True}}})
    assert Policy.from_dict(policy.to_dict()) == policy
    assert policy.to_dict()["aliases"]["champion"] == {
        "approvals": 2,
        "gate": False,
        "four_eyes": True,
    }


def test_four_eyes_through_a_server_tells_tokens_apart(store_config, tmp_path) -> None:
    from keel.client import Client
    from keel.server.tokens import TokenService
    from keel.store import init_project
    from tests.conftest import live_server

    init_project(tmp_path, store_config).close()
    with Client(config=store_config) as local:
        tokens = TokenService(local.store)
        secrets = {
            name: tokens.create(name, role)[1]
            for name, role in (("alice", "approver"), ("bob", "approver"), ("root", "admin"))
        }
    with live_server(store_config, auth=True) as url:

        def client(name: str) -> Client:
            return Client(url, project=store_config.project, token=secrets[name])

        with client("alice") as alice, client("bob") as bob, client("root") as root:
            alice.models.register(LogisticRegression().fit(X, Y), "credit")
            root.models.set_policy("credit", {"aliases": {"champion": {"four_eyes": True}}})
            alice.models.approve("credit:1")
            with pytest.raises(PermissionDenied, match="someone other than 'alice'"):
                alice.models.set_alias("credit:1", "champion")
            bob.models.approve("credit:1")
            assert alice.models.set_alias("credit:1", "champion").aliases == ("champion",)
            moved = [e for e in root.models.history("credit") if e.action == "set_alias"]
            assert moved[0].details["registered_by"] == "alice"
            assert moved[0].details["approved_by"] == ["alice", "bob"]
