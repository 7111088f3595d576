"""Caching: a hit reuses an earlier identical step run's outputs; code, params and inputs
changes miss; steps and runs opt out."""

from __future__ import annotations

import keel
from keel.client import Client

from .flows import retrain


def _state(run) -> dict[str, str]:
    return {s["step"]: ("cached" if s["cached_from"] else s["status"]) for s in run.steps}


def test_an_identical_rerun_is_answered_by_the_cache(client: Client) -> None:
    first = retrain.run({"month": 3}, client=client)
    assert first.status == "succeeded"
    assert _state(first) == {"load": "succeeded", "train": "succeeded", "score": "succeeded"}
    again = retrain.run({"month": 3}, client=client)
    assert _state(again) == {"load": "cached", "train": "cached", "score": "cached"}
    original = {s["step"]: s["id"] for s in first.steps}
    assert {s["step"]: s["cached_from"] for s in again.steps} == original
    assert again.output == first.output
    assert again.steps[0]["outputs"] == first.steps[0]["outputs"]
    assert len(client.datasets.versions("retrain.load")) == 1
    assert len(client.models.versions("retrain.train")) == 1


def test_a_param_change_misses_downstream_of_it_only(client: Client) -> None:
    retrain.run({"month": 3}, client=client)
    other_c = retrain.run({"month": 3, "c": 0.5}, client=client)
    assert _state(other_c) == {"load": "cached", "train": "succeeded", "score": "succeeded"}
    other_month = retrain.run({"month": 4}, client=client)
    assert _state(other_month) == {"load": "succeeded", "train": "succeeded", "score": "succeeded"}


def test_a_code_change_misses(sqlite_client: Client) -> None:
    def make(offset: int):
        if offset == 0:

            @keel.step(name="add")
            def add(x: int) -> int:
                return x

        else:

            @keel.step(name="add")
            def add(x: int) -> int:
                return x + 1

        @keel.pipeline(name="adder")
        def adder(x: int = 1):
            return add(x)

        return adder

    assert make(0).run(client=sqlite_client).output == 1
    assert _state(make(0).run(client=sqlite_client)) == {"add": "cached"}
    changed = make(1).run(client=sqlite_client)
    assert _state(changed) == {"add": "succeeded"}
    assert changed.output == 2


def test_an_input_change_misses_even_with_the_same_params(sqlite_client: Client) -> None:
    @keel.step(cache=False)
    def source(path: str) -> dict:
        from pathlib import Path

        return {"text": Path(path).read_text()}

    @keel.step
    def shout(data: dict) -> str:
        return data["text"].upper()

    @keel.pipeline(name="shouter")
    def shouter(path: str = "in.txt"):
        return shout(source(path))

    from pathlib import Path

    Path("in.txt").write_text("a")
    assert shouter.run(client=sqlite_client).output == "A"
    assert _state(shouter.run(client=sqlite_client)) == {"source": "succeeded", "shout": "cached"}
    Path("in.txt").write_text("b")
    run = shouter.run(client=sqlite_client)
    assert _state(run) == {"source": "succeeded", "shout": "succeeded"}
    assert run.output == "B"


def test_a_run_opts_out_of_the_cache(sqlite_client: Client) -> None:
    retrain.run({"month": 2}, client=sqlite_client)
    fresh = retrain.run({"month": 2}, client=sqlite_client, cache=False)
    assert _state(fresh) == {"load": "succeeded", "train": "succeeded", "score": "succeeded"}
    assert len(sqlite_client.models.versions("retrain.train")) == 2
