"""Both executors run the same pipelines: in-process and a process pool locally, Ray tasks
on a local Ray (num_cpus=2)."""

from __future__ import annotations

import os

import pytest

import keel
from keel.client import Client
from keel.errors import InvalidInput

from .flows import branches, retrain, tracking, unreliable

EXECUTORS = ["local", "ray"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


def test_a_pipeline_runs_end_to_end(executor: str, sqlite_client: Client) -> None:
    run = retrain.run({"month": 5}, client=sqlite_client, executor=executor)
    assert run.status == "succeeded", run.error
    assert run.output["rows"] == 25
    assert run.step("train")["outputs"]["return"]["ref"] == "retrain.train:1"
    cached = retrain.run({"month": 5}, client=sqlite_client, executor=executor)
    assert all(s["cached_from"] for s in cached.steps)
    assert cached.output == run.output


def test_retries_then_success_on_each_executor(
    executor: str, sqlite_client: Client, tmp_path
) -> None:
    counter = str(tmp_path / f"count-{executor}")
    run = unreliable.run(
        {"counter": counter, "failures": 2}, client=sqlite_client, executor=executor
    )
    assert run.status == "succeeded", run.error
    assert run.step("flaky")["attempt"] == 3
    assert run.output == 6  # the third attempt returned 3, doubled


def test_a_step_records_the_tracking_run_it_started(
    executor: str, sqlite_client: Client, tmp_path
) -> None:
    counter = str(tmp_path / f"tracked-{executor}")
    run = tracking.run({"counter": counter}, client=sqlite_client, executor=executor)
    assert run.status == "succeeded", run.error
    step = run.step("tracked")
    assert step["attempt"] == 2
    assert step["run_id"] == run.output  # the retry's run, not the failed attempt's or a child's
    assert sqlite_client.runs.get_run(step["run_id"]).metrics["attempt"] == 2
    assert run.step("untracked")["run_id"] is None
    stored = sqlite_client.pipelines.run(run.id)["steps"]
    assert {s["step"]: s["run_id"] for s in stored} == {
        "tracked": run.output,
        "untracked": None,
    }


def test_independent_branches_run_in_separate_processes(client: Client) -> None:
    run = branches.run({"n": 4}, client=client, max_workers=2)
    assert run.status == "succeeded", run.error
    pids = run.output["pids"]
    assert len(set(pids)) == 2
    assert os.getpid() not in pids
    assert run.output["total"] == 12


def test_a_lone_step_runs_in_process(sqlite_client: Client) -> None:
    @keel.step
    def where() -> int:
        return os.getpid()

    @keel.pipeline(name="lone")
    def lone():
        return where()

    assert lone.run(client=sqlite_client, cache=False).output == os.getpid()


def test_an_unknown_executor_is_refused_before_anything_runs(sqlite_client: Client) -> None:
    with pytest.raises(InvalidInput, match="Unknown executor 'rey'. Did you mean 'ray'"):
        retrain.run(client=sqlite_client, executor="rey")
    assert sqlite_client.pipelines.list() == []


@keel.step
def square(x: int) -> dict:
    return {"square": x * x, "pid": os.getpid()}


def test_a_sweep_fans_out_over_the_executor(executor: str, sqlite_client: Client) -> None:
    result = keel.sweep(
        square, {"x": [1, 2, 3]}, executor=executor, client=sqlite_client, max_workers=2
    )
    assert [t.metrics["square"] for t in result.trials] == [1.0, 4.0, 9.0]
    assert all(t.metrics["pid"] != os.getpid() for t in result.trials)
    assert result.best("square").params == {"x": 3}
    assert len({t.run_id for t in result.trials}) == 3


def test_a_step_that_cannot_reach_a_worker_fails_naming_it(sqlite_client: Client) -> None:
    import threading

    class Locked:
        id = "locked"
        lock = threading.Lock()  # cannot be pickled

        def save(self, value, ctx) -> dict:
            return {"value": value}

        def load(self, ref, ctx):
            return ref["value"]

    @keel.step(materializer=Locked())
    def left(n: int) -> int:
        return n

    @keel.step
    def right(n: int) -> int:
        return n

    @keel.pipeline(name="unpicklable")
    def unpicklable(n: int = 1):
        return left(n), right(n)

    run = unpicklable.run(client=sqlite_client, max_workers=2)
    assert run.status == "failed"
    assert "Step 'left' cannot be sent to a worker process" in run.step("left")["error"]
    assert run.step("right")["status"] == "succeeded"
