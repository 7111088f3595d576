"""seed_everything seeds every global RNG and remembers the seed for runs to record."""

from __future__ import annotations

import importlib.machinery
import os
import random
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from keel.errors import InvalidInput
from keel.tracking import _seed
from keel.tracking._seed import current_seed, seed_everything


@pytest.fixture(autouse=True)
def _restore_global_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Seeding changes process-wide RNGs and PYTHONHASHSEED; put them back afterwards."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.setattr(_seed, "_seed", None)
    yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)


def draws() -> tuple[list[float], list[float]]:
    return [random.random() for _ in range(5)], np.random.rand(5).tolist()


def test_the_same_seed_repeats_python_and_numpy_draws() -> None:
    assert seed_everything(1234) == 1234
    first = draws()
    seed_everything(1234)
    assert draws() == first
    seed_everything(1235)
    assert draws() != first


def test_current_seed_is_the_last_seed_given() -> None:
    assert current_seed() is None
    seed_everything(7)
    seed_everything(2**32 - 1)
    assert current_seed() == 2**32 - 1


def test_child_processes_get_the_hash_seed() -> None:
    seed_everything(99)
    assert os.environ["PYTHONHASHSEED"] == "99"


def test_numpy_integers_are_accepted_as_plain_ints() -> None:
    seed = seed_everything(np.int64(5))
    assert seed == 5
    assert type(seed) is int
    assert type(current_seed()) is int


@pytest.mark.parametrize(
    ("seed", "got"),
    [
        (-1, "Got -1 instead"),
        (2**32, "Got 4294967296 instead"),
        (True, r"Got True \(bool\) instead"),
        ("42", r"Got '42' \(str\) instead"),
        (4.0, r"Got 4.0 \(float\) instead"),
        (None, r"Got None \(NoneType\) instead"),
    ],
)
def test_bad_seeds_say_what_was_expected(seed: Any, got: str) -> None:
    with pytest.raises(
        InvalidInput,
        match=r"The 'seed' argument of seed_everything must be an int in \[0, 4294967295\]\. "
        + got
        + r"\. Pass a non-negative whole number, e\.g\. seed_everything\(42\)\.",
    ):
        seed_everything(seed)
    assert current_seed() is None
    assert "PYTHONHASHSEED" not in os.environ


def test_torch_is_seeded_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # torch is too large to install for this test; a stand-in module records the calls.
    calls: list[tuple[str, int]] = []
    torch = types.ModuleType("torch")
    torch.__spec__ = importlib.machinery.ModuleSpec("torch", None)
    torch.manual_seed = lambda seed: calls.append(("manual_seed", seed))
    torch.cuda = types.SimpleNamespace(
        is_available=lambda: True,
        manual_seed_all=lambda seed: calls.append(("cuda.manual_seed_all", seed)),
    )
    monkeypatch.setitem(sys.modules, "torch", torch)

    seed_everything(3)

    assert calls == [("manual_seed", 3), ("cuda.manual_seed_all", 3)]


def test_torch_is_left_alone_when_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    assert seed_everything(3) == 3
