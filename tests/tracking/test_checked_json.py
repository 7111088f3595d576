"""The captured code and environment are checked once per process, not once per run: a
run with the same JSON skips the check, gets its own copy, and anything else is checked."""

from __future__ import annotations

import dataclasses

import pytest

from keel.errors import InvalidInput
from keel.store import Store
from keel.tracking import SqlTracking
from keel.tracking._validate import MAX_JSON_DEPTH


def test_the_same_environment_is_stored_for_every_run_each_with_its_own_copy(
    store: Store,
) -> None:
    tracking = SqlTracking(store)
    environment = {"python": "3.11", "packages": {"numpy": "2.1"}, "argv": ("a", "b")}
    first = tracking.create_run("exp", environment=dict(environment))
    second = tracking.create_run("exp", environment=dict(environment))
    assert first.environment == second.environment == {**environment, "argv": ["a", "b"]}
    first.environment["packages"]["numpy"] = "changed"  # type: ignore[index]
    assert second.environment["packages"] == {"numpy": "2.1"}  # type: ignore[index]
    third = tracking.create_run("exp", environment=dict(environment))
    assert third.environment["packages"] == {"numpy": "2.1"}  # type: ignore[index]
    assert tracking.get_run(third.id).environment == second.environment


def test_a_different_environment_after_a_good_one_is_still_checked(store: Store) -> None:
    tracking = SqlTracking(store)
    tracking.create_run("exp", environment={"python": "3.11"})
    deep: dict = {}
    node = deep
    for _ in range(MAX_JSON_DEPTH + 1):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(InvalidInput, match="nested more than"):
        tracking.create_run("exp", environment=deep)
    with pytest.raises(InvalidInput, match="integer|64"):
        tracking.create_run("exp", code={"big": 2**63})
    with pytest.raises(InvalidInput):
        tracking.create_run("exp", environment={1: "not a string key"})  # type: ignore[dict-item]
    assert tracking.create_run("exp", environment={"python": "3.11"}).environment == {
        "python": "3.11"
    }


def test_the_size_limit_applies_even_to_json_seen_before(store: Store) -> None:
    tracking = SqlTracking(store)
    environment = {"blob": "x" * 3000}
    tracking.create_run("exp", environment=environment)
    store.config = dataclasses.replace(store.config, max_field_kb=1)
    with pytest.raises(InvalidInput, match="limit is 1024"):
        tracking.create_run("exp", environment=environment)
