"""Weighted routing: proportions, stickiness and minimal movement when weights change."""

from __future__ import annotations

from collections import Counter

import pytest

from keel.errors import InvalidInput
from keel.serving._router import Router, key_point


def test_random_choice_follows_the_weights() -> None:
    router = Router([("m:1", 70), ("m:2", 20), ("m:3", 10)], seed=7)
    n = 20_000
    counts = Counter(router.choose() for _ in range(n))
    expected = {"m:1": 0.7 * n, "m:2": 0.2 * n, "m:3": 0.1 * n}
    chi2 = sum((counts[k] - e) ** 2 / e for k, e in expected.items())
    assert chi2 < 13.8  # p = 0.001 for 2 degrees of freedom


def test_keys_spread_by_weight_too() -> None:
    router = Router([("m:1", 90), ("m:2", 10)])
    counts = Counter(router.choose(f"customer-{i}") for i in range(10_000))
    assert 850 < counts["m:2"] < 1150


def test_the_same_key_always_reaches_the_same_version() -> None:
    one = Router([("m:1", 50), ("m:2", 50)], seed=1)
    other = Router([("m:1", 50), ("m:2", 50)], seed=2)
    for i in range(500):
        key = f"k{i}"
        assert one.choose(key) == one.choose(key) == other.choose(key)
    assert key_point("abc") == key_point("abc")
    assert 0 <= key_point("") < 100


def test_moving_weight_moves_only_the_keys_of_the_new_share() -> None:
    before = Router([("champion", 90), ("challenger", 10)])
    after = Router([("champion", 80), ("challenger", 20)])
    keys = [f"customer-{i}" for i in range(10_000)]
    moved = [k for k in keys if before.choose(k) != after.choose(k)]
    assert all(before.choose(k) == "champion" and after.choose(k) == "challenger" for k in moved)
    assert 850 < len(moved) < 1150  # about the 10% that changed hands


def test_zero_weights_are_never_chosen_and_one_route_needs_no_draw() -> None:
    router = Router([("m:1", 0), ("m:2", 100)])
    assert {router.choose() for _ in range(100)} == {"m:2"}
    assert router.choose("anything") == "m:2"
    with pytest.raises(InvalidInput, match="at least one route with a weight above 0"):
        Router([("m:1", 0)])
