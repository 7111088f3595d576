"""Steps and pipelines the tests run: module-level, so worker processes, Ray tasks and the
agent import them as a user's module would be imported."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

import keel
from keel.pipelines import AwaitingApproval


@keel.step
def load(month: int) -> pd.DataFrame:
    print(f"loading month {month}")
    return pd.DataFrame(
        {"x": [float(i) for i in range(20 + month)], "y": [i % 2 for i in range(20 + month)]}
    )


@keel.step
def train(data: pd.DataFrame, c: float = 1.0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c).fit(data[["x"]], data["y"])


@keel.step
def score(model, data: pd.DataFrame) -> dict:
    return {"accuracy": float(model.score(data[["x"]], data["y"])), "rows": len(data)}


@keel.pipeline(name="retrain", triggers=[{"kind": "schedule", "cron": "0 3 * * *"}])
def retrain(month: int = 6, c: float = 1.0):
    data = load(month)
    model = train(data, c)
    return score(model, data)


@keel.step
def numbers(n: int) -> list:
    return list(range(n))


@keel.step
def pid_of(values: list, tag: str) -> dict:
    return {"pid": os.getpid(), "tag": tag, "total": sum(values)}


@keel.step
def join(a: dict, b: dict) -> dict:
    return {"pids": [a["pid"], b["pid"]], "total": a["total"] + b["total"]}


@keel.pipeline
def branches(n: int = 5):
    values = numbers(n)
    return join(pid_of(values, "a"), pid_of(values, "b"))


@keel.step(retries=2, retry_backoff=0.01)
def flaky(counter: str, failures: int) -> int:
    """Fails ``failures`` times (counted in a file), then returns the attempt number."""
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    if seen < failures:
        raise RuntimeError(f"planned failure {seen + 1}")
    return seen + 1


@keel.step
def double(value: int) -> int:
    return value * 2


@keel.pipeline
def unreliable(counter: str = "counter.txt", failures: int = 1):
    return double(flaky(counter, failures))


@keel.step
def gate(value: int, flag: str) -> int:
    """Waits (as an approval would) until the file ``flag`` exists."""
    if not Path(flag).exists():
        raise AwaitingApproval("approval-1", "promote")
    return value + 1


@keel.pipeline
def approved(flag: str = "flag", n: int = 3):
    return gate(double(n), flag)


@keel.step
def cancel_me(pause: float) -> int:
    """Cancels its own run (as someone would from the CLI), then keeps working a while."""
    import time

    from keel._context import active_step

    step = active_step()
    step.client.pipelines.cancel(step.pipeline_run_id)
    time.sleep(pause)
    return 1


@keel.pipeline
def cancelled(pause: float = 0.5):
    return double(cancel_me(pause))


@keel.step
def newest_rows(data_ref: str) -> dict:
    return {"ref": data_ref, "rows": len(keel.load_dataset(data_ref))}


@keel.pipeline(name="on-new-data", triggers=[keel.on_dataset("applications", param="data_ref")])
def on_new_data(data_ref: str = ""):
    return newest_rows(data_ref)


@keel.step
def promote_after_approval(value: int) -> dict:
    decision = keel.approval("promote credit", timeout="1h")
    return {"value": value, "approved_by": decision.decided_by}


@keel.pipeline(name="approve-then-promote")
def approve_then_promote(n: int = 3):
    return promote_after_approval(double(n))


@keel.step(retries=1, retry_backoff=0.01)
def tracked(counter: str) -> str:
    """Starts a tracking run on each attempt; the first attempt fails inside its run."""
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    with keel.start_run("tracked-steps") as run:
        keel.log_metric("attempt", attempt)
        if attempt == 1:
            raise RuntimeError("the first attempt fails")
        with keel.start_run("tracked-steps", name="nested"):  # a child: not the step's run
            pass
        return run.id


@keel.step
def untracked(run_id: str) -> str:
    return run_id


@keel.pipeline
def tracking(counter: str = "tracked.txt"):
    return untracked(tracked(counter))
