"""The canary's pure logic: traffic blends and the step controller, on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keel.deploy import Canary, DeploymentSpec
from keel.deploy.canary import CanaryController, StepStats, blend
from keel.errors import InvalidInput


def _spec(*routes: tuple[str, float], model: str = "credit") -> DeploymentSpec:
    return DeploymentSpec.from_dict(
        {
            "name": "scoring",
            "model": model,
            "routes": [{"version": v, "weight": w} for v, w in routes],
        }
    )


OLD = _spec(("@champion", 90), ("@challenger", 10))
NEW = _spec(("3", 100))
POLICY = Canary(steps=(10.0, 50.0, 100.0), interval=60.0, max_error_rate=0.05, min_requests=20)


def _pairs(split: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return [(ref, round(w, 9)) for ref, w in split]


def test_blend_scales_both_sides() -> None:
    assert _pairs(blend(OLD, NEW, 10)) == [
        ("credit:3", 10.0),
        ("credit@champion", 81.0),
        ("credit@challenger", 9.0),
    ]
    assert blend(OLD, NEW, 100) == [("credit:3", 100.0)]
    assert _pairs(blend(OLD, NEW, 0)) == [("credit@champion", 90.0), ("credit@challenger", 10.0)]
    assert blend(None, NEW, 5) == [("credit:3", 100.0)]


def test_blend_merges_a_ref_in_both() -> None:
    target = _spec(("@champion", 50), ("4", 50))
    assert dict(blend(OLD, target, 20)) == pytest.approx(
        {"credit@champion": 10 + 72, "credit:4": 10, "credit@challenger": 8}
    )
    other_model = _spec(("@champion", 100), model="debit")
    assert dict(blend(OLD, other_model, 50)) == pytest.approx(
        {"debit@champion": 50, "credit@champion": 45, "credit@challenger": 5}
    )


@pytest.mark.parametrize("bad", [-1, 100.5, float("nan"), True, "10"])
def test_blend_refuses_a_bad_percent(bad: object) -> None:
    with pytest.raises(InvalidInput, match="percentage 0-100"):
        blend(OLD, NEW, bad)  # type: ignore[arg-type]


weights = st.lists(st.integers(1, 50), min_size=1, max_size=4)


@given(old=weights, new=weights, percent=st.floats(0, 100))
def test_blend_sums_to_100_and_gives_the_target_its_share(old, new, percent) -> None:
    def spec(ws: list[int], start: int) -> DeploymentSpec:
        total = sum(ws)
        scaled = [w * 100 / total for w in ws]
        scaled[-1] = 100 - sum(scaled[:-1])
        return _spec(*((str(start + i), w) for i, w in enumerate(scaled)))

    previous, target = spec(old, 1), spec(new, 100)
    split = blend(previous, target, percent)
    assert sum(w for _, w in split) == pytest.approx(100)
    assert all(w > 0 for _, w in split)
    target_refs = {f"credit:{100 + i}" for i in range(len(new))}
    assert sum(w for ref, w in split if ref in target_refs) == pytest.approx(percent, abs=1e-6)


def test_steps_pass_after_the_interval_then_promote() -> None:
    c = CanaryController(POLICY, started_at=1000.0)
    assert (c.step, c.percent, c.state, c.due_at) == (0, 10.0, "running", 1060.0)
    assert c.tick(1030.0, StepStats(50, 0, 3.0)) is None  # the interval has not passed
    first = c.tick(1060.0, StepStats(50, 1, 3.0))
    assert (first.step, first.percent, first.status) == (0, 10.0, "passed")
    assert first.metrics["requests"] == 50
    assert first.metrics["error_rate"] == pytest.approx(0.02)
    assert (c.step, c.percent, c.due_at) == (1, 50.0, 1120.0)
    assert c.tick(1100.0, StepStats(300, 0)) is None  # the new step's own interval
    assert c.tick(1120.0, StepStats(300, 0)).status == "passed"
    last = c.tick(1180.0, StepStats(500, 2, 9.0))
    assert (last.step, last.percent, last.status) == (2, 100.0, "promoted")
    assert (c.state, c.percent) == ("promoted", 100.0)
    assert c.tick(2000.0, StepStats(1, 1)) is None  # finished: nothing more


def test_too_few_requests_keep_the_step_waiting() -> None:
    c = CanaryController(POLICY, started_at=0.0)
    assert c.tick(600.0, StepStats(19, 0)) is None
    assert (c.step, c.state) == (0, "running")
    assert c.tick(601.0, StepStats(20, 0)).status == "passed"


def test_an_error_breach_rolls_back_at_once() -> None:
    c = CanaryController(POLICY, started_at=0.0)
    assert c.tick(1.0, StepStats(1, 1)) is None  # 1 error of min 20 allowed: 1/20 = 0.05
    decision = c.tick(2.0, StepStats(3, 2))  # 2 of at least 20 is already above 5%
    assert (decision.step, decision.percent, decision.status) == (0, 10.0, "rolled_back")
    assert "above max_error_rate 0.05" in decision.metrics["reason"]
    assert (c.state, c.percent) == ("rolled_back", 0.0)
    assert c.tick(100.0, StepStats(100, 0)) is None


def test_a_breach_after_enough_requests_uses_the_plain_rate() -> None:
    c = CanaryController(POLICY, started_at=0.0)
    assert c.tick(10.0, StepStats(100, 5)) is None  # exactly 5%: within
    assert c.tick(11.0, StepStats(100, 6)).status == "rolled_back"


def test_a_latency_breach_rolls_back_in_a_later_step() -> None:
    policy = Canary(steps=(50.0, 100.0), interval=10.0, max_error_rate=1.0, max_p99_ms=50.0)
    c = CanaryController(policy, started_at=0.0)
    assert c.tick(10.0, StepStats(40, 0, 49.0)).status == "passed"
    decision = c.tick(12.0, StepStats(5, 0, 51.0))
    assert (decision.step, decision.percent, decision.status) == (1, 100.0, "rolled_back")
    assert decision.metrics["reason"] == "p99 51 ms is above max_p99_ms 50"


def test_no_p99_limit_ignores_latency() -> None:
    c = CanaryController(Canary(steps=(100.0,), interval=1.0, min_requests=1), started_at=0.0)
    assert c.tick(1.0, StepStats(1, 0, 10_000.0)).status == "promoted"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((-1, 0), "requests is a count"),
        ((1, 2), "cannot be more than the requests"),
        ((1, 0, -3.0), "p99_ms is milliseconds"),
        ((1, 0, float("nan")), "p99_ms is milliseconds"),
        ((1.5, 0), "requests is a count"),
    ],
)
def test_bad_stats_are_refused(args: tuple, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        StepStats(*args)


def test_the_controller_needs_a_policy_and_stats() -> None:
    with pytest.raises(InvalidInput, match="needs a Canary policy"):
        CanaryController(None, started_at=0.0)  # type: ignore[arg-type]
    c = CanaryController(POLICY, started_at=0.0)
    with pytest.raises(InvalidInput, match="tick needs StepStats"):
        c.tick(1.0, {"requests": 1})  # type: ignore[arg-type]
    assert repr(c) == "CanaryController(step=0, percent=10, state='running')"
