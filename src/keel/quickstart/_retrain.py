"""The retraining the monitor's alert asks for, written as the steps of a pipeline.

Each function below is one step: it takes plain values (and ``client``, the default
client when None, as inside a pipeline step), returns a table, a model or a JSON-able
value, and knows nothing of the steps around it. the ``retrain`` pipeline runs
them in this order::

    recent_data(months, rows_per_month)            -> data        (a table)
    split(data)                                    -> train_rows, holdout
    version_data(train_rows, holdout)              -> {"train": ref, "holdout": ref}
    train(train_rows, c, dataset=refs["train"])    -> model       (a tracked run)
    evaluate(model, holdout), evaluate(champion(), holdout)
    register(model, run, metrics)                  -> "credit-default:N"
    backtest(version, refs["holdout"])             -> the gate and months 7-9 one by one
    roll_out(version, directory)                   -> a canary 10 -> 50 -> 100
    promote(version)                               -> champion, once the canary completed

They run as the steps of the ``retrain`` pipeline (:mod:`._retrain_pipeline`), which the
monitor's ``{trigger_pipeline: retrain}`` action queues and the agent executes while live
traffic keeps flowing (the canary is walked on it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput, KeelError

from ._data import FEATURES, make_credit_data
from ._serve import DEPLOYMENT

__all__ = [
    "GATE",
    "Retrained",
    "backtest",
    "champion",
    "evaluate",
    "promote",
    "recent_data",
    "register",
    "roll_out",
    "split",
    "train",
    "version_data",
]

MODEL = "credit-default"
SEED = 7
GATE = "roc_auc >= champion.roc_auc + 0.05 and latency_p99_ms <= 1000"
"""What the retrained model must do on recent data to replace the champion."""
CANARY = """\
name: credit-scoring
model: credit-default
routes:
  - {{version: "{number}", weight: 100}}   # the retrained model, walked in as a canary
canary: {{steps: [10, 50, 100], interval: {interval}, max_error_rate: 0.01, \
min_requests: {min_requests}}}
batching: {{max_batch_size: 64, max_wait_ms: 2}}
logging: {{sample: 1.0}}
probabilities: true
"""


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from keel.client import default_client

    return default_client()


def applications(rows_per_month: int, seed: int = SEED) -> pd.DataFrame:
    """Every application of the twelve months (the lender's own records), labelled."""
    return make_credit_data(rows_per_month * 12, seed, months=tuple(range(1, 13)))


def recent_data(
    months: list[int], rows_per_month: int, *, seed: int = SEED, client: Any = None
) -> pd.DataFrame:
    """The applications of ``months`` whose labels came back: each served application
    joined with the label sent to the deployment's ``/feedback`` (the lake's feedback
    table), by request id (the applicant id). Unlabelled applications are left out.

    Raises:
        InvalidInput: ``months`` is not a list of months 1-12.
        KeelError: fewer than 100 labelled applications are in the lake.
    """
    if not months or any(isinstance(m, bool) or not isinstance(m, int) for m in months):
        raise InvalidInput(f"months must be a list of month numbers 1-12. Got {months!r}.")
    client = _client(client)
    source = applications(rows_per_month, seed)
    rows = source[source["month"].isin(months)]
    feedback = client.predictions.read("feedback", deployment=DEPLOYMENT).to_pandas()
    if feedback.empty:
        labels = pd.Series(dtype=float)
    else:
        latest = feedback.sort_values("at").drop_duplicates("request_id", keep="last")
        labels = latest.set_index("request_id")["label"]
    label = rows["applicant_id"].map(labels)
    labelled = rows.loc[label.notna()].drop(columns="default")
    labelled = labelled.assign(default=label[label.notna()].astype("int8"))
    if len(labelled) < 100:
        raise KeelError(
            f"Only {len(labelled)} applications of months {months} have their labels back in "
            f"the lake (deployment {DEPLOYMENT!r}); retraining needs at least 100."
        )
    return labelled.reset_index(drop=True)


def split(
    data: pd.DataFrame, *, holdout: float = 0.3, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows to train on and a holdout, stratified by month and label."""
    from sklearn.model_selection import train_test_split

    strata = data["month"].astype(int) * 2 + data["default"].astype(int)
    train_rows, held = train_test_split(data, test_size=holdout, random_state=seed, stratify=strata)
    return train_rows.reset_index(drop=True), held.reset_index(drop=True)


def version_data(
    train_rows: pd.DataFrame, holdout: pd.DataFrame, *, client: Any = None
) -> dict[str, str]:
    """Version both tables: ``credit-recent`` (what the new model learns from) and
    ``credit-recent-holdout`` (what it is judged on); their references."""
    client = _client(client)
    trained = client.datasets.log(
        train_rows, "credit-recent", description="labelled applications of recent months"
    )
    held = client.datasets.log(
        holdout, "credit-recent-holdout", description="30% of them, held out for the gate"
    )
    return {"train": trained.ref, "holdout": held.ref}


def train(
    data: pd.DataFrame,
    c: float = 1.0,
    *,
    dataset: str | None = None,
    alert: str | None = None,
    client: Any = None,
) -> tuple[Any, str]:
    """Fit a logistic regression (inverse regularisation ``c``) on ``data`` as a tracked
    run of experiment ``credit-default`` that consumed ``dataset``; the model and the run id."""
    import skops.io
    from sklearn import metrics

    from ._train import _pipeline

    client = _client(client)
    tags = {"keel.quickstart.alert": alert} if alert else None
    params = {"model": "logistic_regression", "C": c, "rows": len(data)}
    with client.tracker.start_run(MODEL, name="retrain", params=params, tags=tags) as run:
        if dataset is not None:
            run.log_input(client.datasets.resolve(dataset))
        model = _pipeline("logistic_regression", {"C": c}).fit(data[FEATURES], data["default"])
        scores = model.predict_proba(data[FEATURES])[:, 1]
        run.log_metrics({"train_auc": metrics.roc_auc_score(data["default"], scores)}, step=0)
        run.log_artifact(skops.io.dumps(model), "model.skops", kind="model")
    client.tracker.flusher.flush()
    return model, run.id


def champion(*, client: Any = None) -> Any:
    """The scikit-learn model that is ``credit-default@champion`` now."""
    return _client(client).models.load(f"{MODEL}@champion").native


def evaluate(model: Any, data: pd.DataFrame) -> dict[str, Any]:
    """ROC AUC of ``model`` on ``data``, overall and for each month."""
    from sklearn.metrics import roc_auc_score

    scores = model.predict_proba(data[FEATURES])[:, 1]
    months = data["month"].astype(int).to_numpy()
    by_month = {
        int(m): float(roc_auc_score(data["default"][months == m], scores[months == m]))
        for m in np.unique(months)
    }
    return {"roc_auc": float(roc_auc_score(data["default"], scores)), "by_month": by_month}


def register(
    model: Any, run: str, metrics: dict[str, float], *, example: Any = None, client: Any = None
) -> str:
    """Register ``model`` as the next version of ``credit-default`` (not champion yet)."""
    version = _client(client).models.register(
        model,
        MODEL,
        input_example=example,
        run=run,
        metrics=metrics,
        description="retrained on recent months after the monitor's alert",
    )
    return version.ref


def backtest(version: str, holdout: str, *, client: Any = None) -> dict[str, Any]:
    """Evaluate ``version`` against the champion on ``holdout`` with the registry's
    evaluation: the gate on all rows, and a back-test month by month (recorded with the
    version, where the champion alias's policy looks for a passing gate).

    Raises:
        KeelError: the gate failed, or the champion did as well in some month.
    """
    from keel.registry import evaluate as registry_evaluate

    client = _client(client)
    result = registry_evaluate(
        client.models,
        version,
        data=holdout,
        label="default",
        against=f"{MODEL}@champion",
        gate=GATE,
        backtest="applied_at",
        freq="month",
        datasets=client.datasets,
    )
    months = [
        {
            "window": w["window"],
            "rows": w["rows"],
            "candidate": w["candidate"]["roc_auc"],
            "champion": w["against"]["roc_auc"],
        }
        for w in result.backtest or []
    ]
    if not result.passed:
        raise KeelError(
            f"{version} failed its gate against {result.against}: "
            f"{'; '.join(result.gate_detail)}. The champion stays."
        )
    worse = [m["window"] for m in months if not m["candidate"] > m["champion"]]
    if not months or worse:
        raise KeelError(
            f"{version} did not beat {result.against} in every month of the back-test "
            f"(not better in {', '.join(worse) or 'any: no windows'}). The champion stays."
        )
    return {
        "candidate": result.candidate,
        "champion": result.against,
        "roc_auc": result.metrics["candidate"]["roc_auc"],
        "champion_roc_auc": result.metrics["against"]["roc_auc"],
        "gate": GATE,
        "passed": bool(result.passed),
        "months": months,
    }


def roll_out(
    version: str,
    directory: str | Path,
    *,
    interval: str = "1s",
    min_requests: int = 10,
    client: Any = None,
) -> Any:
    """Write the deployment file routing to ``version`` with a canary policy (10 -> 50 ->
    100 percent, one step per ``interval`` once ``min_requests`` reached it) and apply it:
    the model servers following the deployment walk it on live traffic. The rollout."""
    from keel.deploy import parse_spec

    client = _client(client)
    number = version.rpartition(":")[2]
    path = Path(directory) / "deploy" / f"{DEPLOYMENT}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CANARY.format(number=number, interval=interval, min_requests=min_requests))
    return client.deployments.apply(parse_spec(path))


def promote(version: str, *, timeout: float = 60.0, client: Any = None) -> dict[str, Any]:
    """Wait for the canary of ``version`` to complete, then make ``version`` the champion.

    Returns:
        ``{"champion_before", "champion_after", "rollout", "steps"}``; each step
        ``{"step", "percent", "status", "requests"}``.

    Raises:
        KeelError: the canary was rolled back, or did not finish within ``timeout``
            seconds (no traffic reaches the deployment).
    """
    client = _client(client)
    deadline = time.monotonic() + timeout
    current = client.deployments.current(DEPLOYMENT)
    if current is None:
        raise KeelError(
            f"Deployment {DEPLOYMENT!r} was never applied, so {version} has no canary to "
            "wait for: run roll_out first."
        )
    while current.status == "canary":
        if time.monotonic() > deadline:
            raise KeelError(
                f"The canary of {version} on {DEPLOYMENT!r} did not finish in {timeout:g} s "
                f"(steps so far: {[(s.weight, s.status) for s in current.steps]}); is traffic "
                "reaching a model server that follows the deployment?"
            )
        time.sleep(0.05)
        current = client.deployments.current(DEPLOYMENT) or current
    history = client.deployments.history(DEPLOYMENT)
    canary = next((r for r in history if r.spec.canary is not None), None)
    if canary is None or canary.status != "promoted":
        why = [s.metrics.get("reason") for s in canary.steps] if canary else []
        raise KeelError(
            f"The canary of {version} was not promoted ({canary.status if canary else 'none'}"
            f"{': ' + str(why[-1]) if why and why[-1] else ''}). The champion stays."
        )
    walked = [(s.weight, s.status) for s in canary.steps]
    policy = canary.spec.canary.steps
    if walked != [(w, "passed") for w in policy[:-1]] + [(policy[-1], "promoted")]:
        raise KeelError(
            f"The canary of {version} was promoted without walking its steps {list(policy)}: "
            f"recorded {walked}. The champion stays."
        )
    before = client.models.get(f"{MODEL}@champion").ref
    after = client.models.set_alias(
        version, "champion", reason="canary 10 -> 50 -> 100 completed; gate passed"
    ).ref
    steps = [
        {
            "step": s.step,
            "percent": s.weight,
            "status": s.status,
            "requests": s.metrics.get("requests"),
        }
        for s in canary.steps
    ]
    return {
        "champion_before": before,
        "champion_after": after,
        "rollout": canary.revision,
        "steps": steps,
    }


@dataclass
class Retrained:
    """What the ``retrain`` pipeline's run did, step by step (see ._retrain_pipeline)."""

    alert: str
    rows: int
    datasets: dict[str, str]
    run: str
    version: str
    recent: dict[str, dict[str, Any]]  # "champion" and "new": evaluate() of each
    backtest: dict[str, Any]
    rollout: dict[str, Any] = field(default_factory=dict)
    pipeline_run: str | None = None  # the run of pipeline 'retrain' that did it
