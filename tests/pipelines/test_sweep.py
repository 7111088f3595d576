"""Sweeps: a grid or a seeded random space, each trial a tracked run, on the executor."""

from __future__ import annotations

import pytest

import keel
from keel.client import Client
from keel.errors import InvalidInput

from .flows import load


@keel.step
def fit(data, c: float = 1.0) -> dict:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c).fit(data[["x"]], data["y"])
    return {"accuracy": float(model.score(data[["x"]], data["y"])), "c": c}


def test_a_grid_sweep_tracks_every_trial(sqlite_client: Client) -> None:
    data = load(10)
    result = keel.sweep(
        fit, {"c": [0.01, 1.0, 100.0]}, inputs={"data": data}, client=sqlite_client, max_workers=2
    )
    assert [t.params for t in result.trials] == [{"c": 0.01}, {"c": 1.0}, {"c": 100.0}]
    assert all(t.status == "FINISHED" for t in result.trials)
    for trial in result.trials:
        run = sqlite_client.runs.get_run(trial.run_id)
        assert float(run.params["c"]) == trial.params["c"]
        assert run.experiment == "fit"
        assert run.metrics["c"] == trial.params["c"]
    best = result.best("c", mode="min")
    assert best.params == {"c": 0.01}
    with pytest.raises(InvalidInput, match="No finished trial has metric 'auc'"):
        result.best("auc")


def test_a_random_space_is_seeded_and_bounded(sqlite_client: Client) -> None:
    space = keel.random_space({"c": (0.01, 10.0, "log"), "k": (1, 3), "kind": ["a", "b"]}, seed=3)
    first, again = space.sample(5), space.sample(5)
    assert first == again
    assert all(0.01 <= p["c"] <= 10 and p["k"] in (1, 2, 3) and p["kind"] in "ab" for p in first)

    @keel.step
    def echo(c: float, k: int, kind: str) -> dict:
        keel.log_metric("k", k)
        return {"c": c}

    result = keel.sweep(echo, space, n=3, client=sqlite_client, max_workers=1)
    assert [t.params for t in result.trials] == first[:3]
    assert [t.metrics["k"] for t in result.trials] == [p["k"] for p in first[:3]]


def test_bad_sweeps_are_refused(sqlite_client: Client) -> None:
    with pytest.raises(InvalidInput, match="non-empty list"):
        keel.sweep(fit, {"c": []}, client=sqlite_client)
    with pytest.raises(InvalidInput, match="takes no argument 'alpha'"):
        keel.sweep(fit, {"alpha": [1]}, client=sqlite_client)
    with pytest.raises(InvalidInput, match=r"\(low, high\)"):
        keel.random_space({"c": (2, 1)})
    with pytest.raises(InvalidInput, match="n must be"):
        keel.sweep(fit, {"c": [1.0]}, n=0, client=sqlite_client)
