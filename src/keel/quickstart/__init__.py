"""The closed-loop example project that ``keel quickstart`` runs.

Twelve months of synthetic loan applications (:mod:`._data`); from month 7 salaries rise
and their relation to default shifts. The loop, each stage real and checked:

1. ingest months 1-6, infer a schema, validate (a planted bad batch is rejected), version;
2. train three candidates as tracked runs (a small sweep), register the best, pass its
   gate and make it ``champion``;
3. deploy it and serve it with a real model server on a free loopback port, stream
   months 7-9 to it as live requests, and send the labels back late;
4. a monitor (YAML in the project) sees the salary drift and the ROC AUC decay and opens
   an alert whose actions ask for the ``retrain`` pipeline;
5. the retraining (:mod:`._retrain`, written as pipeline steps) trains on recent labelled
   data; the new model beats the champion on recent data and month by month, rolls out
   as a canary 10 -> 50 -> 100 on the running server's live traffic, and becomes
   ``champion``;
6. a summary: each stage's time and objects, drift scores and metrics before and after.

A stage that does not do its job raises :class:`keel.errors.KeelError` saying which and
why: the loop is keel's end-to-end test (the test suite runs it with ``fast=True``).
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from ._summary import Summary

__all__ = ["Summary", "run"]

STAGES = [
    ("data", "ingest, validate, version"),
    ("train", "train, register, promote"),
    ("serve", "deploy, serve, stream"),
    ("monitor", "monitor, alert"),
    ("retrain", "retrain, canary, champion"),
]
RECENT = [7, 8, 9]


@dataclass(frozen=True)
class Sizes:
    """How big the loop runs: applications per month and how the canary is judged."""

    rows_per_month: int
    stream_workers: int = 8
    canary_interval: str = "1s"
    canary_min_requests: int = 10


FULL = Sizes(rows_per_month=300)
FAST = Sizes(rows_per_month=150, canary_interval="0.5s", canary_min_requests=5)


def run(
    directory: Path | None = None, console: Console | None = None, *, fast: bool = False
) -> Summary:
    """Run the closed loop in ``directory`` (a new temporary folder by default) and return
    its :class:`Summary`; with a ``console``, show the stages live while they run.

    Args:
        directory: where the project is made (and left, for ``keel ui``).
        console: a rich console for the live view; None runs quietly.
        fast: fewer applications and a quicker canary (the test suite's mode).

    Raises:
        KeelError: a stage did not do its job (the message says which and why).
    """
    from keel.store import init_project

    from ._stages import Stages

    sizes = FAST if fast else FULL
    directory = Path(directory or tempfile.mkdtemp(prefix="keel-quickstart-")).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    summary = Summary(directory)
    stages = Stages(STAGES, console)
    created = init_project(directory)
    created.close()
    # The retrain stage's agent lives in keel.server, whose FastAPI routes are built on
    # import under warnings.catch_warnings(), which is not thread-safe: imported while the
    # model server's threads run, a route's pydantic warning escapes (an error under
    # pytest). Import it before any thread starts.
    import keel.server.agent  # noqa: F401
    from keel.client import Client

    # one client for every stage; the model server writes its log every quarter second
    client = Client(config=replace(created.config, predictions_flush_seconds=0.25))
    try:
        with stages.live():
            _loop(client, directory, sizes, stages, summary)
    finally:
        client.close()
    summary.stages = [s.to_dict() for s in stages]
    summary.facts["seconds"] = round(stages.seconds, 3)
    return summary


def _loop(client: Any, directory: Path, sizes: Sizes, stages: Any, summary: Summary) -> None:
    from ._retrain import applications

    say = summary.steps.append
    facts = summary.facts
    say(("create project", f"{directory / '.keel'}"))
    source = applications(sizes.rows_per_month)
    first = source[source["month"] <= 6].reset_index(drop=True)
    recent = source[source["month"].isin(RECENT)].reset_index(drop=True)
    later = source[source["month"] > max(RECENT)].reset_index(drop=True)

    with stages.run("data") as stage:
        version = _stage_data(client, directory, first, stage, say, facts)
    with stages.run("train") as stage:
        trained, promotion = _stage_train(client, first, version, stage, say, facts)

    from ._serve import serve, wait_logged

    with contextlib.ExitStack() as running:
        with stages.run("serve") as stage:
            stage.doing("starting a model server on a free loopback port...")
            server = running.enter_context(serve(client, directory))
            stage.doing(f"streaming {len(recent):,} applications of months 7-9...")
            streamed = server.stream(recent, workers=sizes.stream_workers)
            stage.doing("waiting for the prediction log to reach the lake...")
            wait_logged(client, predictions=streamed.requests, feedback=streamed.labels)
            _stage_served(server, streamed, promotion, stage, say, facts)
        with stages.run("monitor") as stage:
            watched = _stage_monitor(client, directory, streamed.requests, sizes, stage, say, facts)
        with stages.run("retrain") as stage:
            retrained = _stage_retrain(
                client, directory, server, later, watched, sizes, stage, say, facts
            )
    # the server stopped: its log is flushed
    logged = client.predictions.read("predictions", deployment="credit-scoring")
    feedback = client.predictions.read("feedback", deployment="credit-scoring")
    answered = sum(server.answered.values())
    say(
        (
            "log predictions",
            f"{logged.num_rows} predictions and {feedback.num_rows} labels in the lake "
            f"(see: keel lineage request:{facts['request_id']})",
        )
    )
    graph = client.lineage(version.ref, direction="down")
    say(
        (
            "record lineage",
            f"{version.ref} -> {sum(1 for key in graph.nodes if key[0] == 'run')} runs -> "
            f"{sum(1 for key in graph.nodes if key[0] == 'model_version')} model version "
            f"(see: keel lineage {version.ref})",
        )
    )
    facts.update(
        deployment="credit-scoring",
        served_requests=answered,
        served_by={k: int(v) for k, v in sorted(server.answered.items())},
        streamed_requests=streamed.requests,
        logged_predictions=logged.num_rows,
        feedback_labels=feedback.num_rows,
        runs=trained.runs + 1,
        retrain_run=retrained.run,
        retrain_pipeline_run=retrained.pipeline_run,
    )


def _stage_served(
    server: Any, streamed: Any, promotion: Any, stage: Any, say: Any, facts: dict
) -> None:
    from keel.errors import KeelError

    if set(streamed.versions) != {promotion.version}:
        raise KeelError(
            f"Months 7-9 were answered by {dict(streamed.versions)}, not only by the champion "
            f"{promotion.version}."
        )
    revision = server.rollout.revision
    stage.result = (
        f"{streamed.requests:,} applications of months 7-9 scored live on {server.url} "
        f"(p50 {streamed.p50_ms:.1f} ms); {streamed.labels:,} labels sent back a chunk later"
    )
    stage.refs += [f"deploy/credit-scoring.yaml (revision {revision})"]
    say(
        (
            "deploy and serve",
            f"deploy/credit-scoring.yaml applied (revision {revision}); {streamed.requests} "
            f"requests answered by {promotion.version} (p50 {streamed.p50_ms:.1f} ms, "
            f"{server.url})",
        )
    )
    facts["request_id"] = streamed.request_ids[0]


def _stage_data(client: Any, directory: Path, frame: Any, stage: Any, say: Any, facts: dict) -> Any:
    from keel.errors import IntegrityError

    from ._validate import validate_data

    data = client.datasets
    stage.doing("versioning months 1-6...")
    version = data.log(frame, "credit", description="loan applications of months 1-6")
    say(
        (
            "version dataset",
            f"{version.ref}: {version.row_count:,} rows x {len(version.schema)} columns, "
            f"{version.size / 1024:,.0f} KiB, manifest {version.manifest_digest[:12]}",
        )
    )
    manifest = data.manifest(version)
    intact = all(client.store.objects.verify(entry.digest) for entry in manifest.entries)
    same = intact and data.load(version).equals(frame)
    if not same:
        raise IntegrityError(f"The quickstart dataset {version.ref} did not read back intact.")
    say(("verify dataset", "every blake3 digest matches and the table reads back identical"))
    stage.doing("inferring a schema and validating...")
    checked = validate_data(client.store, version, directory)
    if not checked.passed:
        raise IntegrityError(f"The quickstart dataset {version.ref} failed its own schema.")
    if not checked.rejected_errors:
        raise IntegrityError("The planted bad batch passed validation; it must be rejected.")
    schema = checked.schema_path.relative_to(directory)
    say(
        (
            "validate data",
            f"schema inferred from {version.ref} -> {schema}; "
            f"{version.ref} passes {checked.checks} checks (report {checked.report_id[:12]})",
        )
    )
    say(
        (
            "reject a bad batch",
            f"{len(checked.rejected_errors)} failed checks: "
            f"{', '.join(checked.rejected_errors)}; not used for training",
        )
    )
    stage.result = (
        f"{version.row_count:,} applications of months 1-6 pass {checked.checks} checks; a bad "
        f"batch fails {len(checked.rejected_errors)} ({', '.join(checked.rejected_errors)})"
    )
    stage.refs += [version.ref, str(schema), f"report {checked.report_id[:12]}"]
    facts.update(
        dataset=version.ref,
        digest=version.manifest_digest,
        rows=len(frame),
        verified=same,
        schema=str(checked.schema_path),
        validation_passed=checked.passed,
        rejected_batch_errors=checked.rejected_errors,
    )
    return version


def _stage_train(client: Any, frame: Any, version: Any, stage: Any, say: Any, facts: dict) -> Any:
    from keel.errors import KeelError

    from ._promote import register_and_promote
    from ._train import train_candidates

    stage.doing("training three candidates as tracked runs...")
    trained = train_candidates(client.tracker, frame, version)
    client.tracker.flusher.flush()
    say(
        (
            "train and track models",
            f"{trained.runs} runs in experiment credit-default; best {trained.best_name} "
            f"(holdout AUC {trained.best_auc:.3f}), run {trained.best_run[:12]}",
        )
    )
    stage.doing("registering the best and passing its gate...")
    promotion = register_and_promote(client.models, client.datasets, trained)
    if not promotion.champion:
        raise KeelError(
            f"{promotion.version} failed its gate (ROC AUC {promotion.roc_auc:.3f}): no "
            "champion to deploy."
        )
    say(
        (
            "register and promote",
            f"{promotion.version} (ROC AUC {promotion.roc_auc:.3f} on {promotion.holdout}); "
            f"credit-default@champion -> {promotion.version}",
        )
    )
    stage.result = (
        f"a sweep of {trained.runs} tracked runs; best {trained.best_name} (holdout AUC "
        f"{trained.best_auc:.3f}) passes its gate and is champion"
    )
    stage.refs += [
        f"{promotion.version} @champion",
        promotion.holdout,
        f"run {trained.best_run[:12]}",
    ]
    facts.update(
        best_run=trained.best_run,
        best_holdout_auc=trained.best_auc,
        model=promotion.version,
        champion=promotion.champion,
        first_champion=promotion.version,
        gate_passed=promotion.passed,
    )
    return trained, promotion


def _stage_monitor(
    client: Any, directory: Path, window: int, sizes: Sizes, stage: Any, say: Any, facts: dict
) -> Any:
    from ._monitor import AUC_MIN, watch
    from ._retrain_pipeline import retrain

    # the pipeline the monitor's alert will queue, recorded with the project
    client.pipelines.record(retrain.name, retrain.spec())
    params = {
        "months": list(RECENT),
        "rows_per_month": sizes.rows_per_month,
        "directory": str(directory),
        "canary_interval": sizes.canary_interval,
        "canary_min_requests": sizes.canary_min_requests,
    }
    stage.doing("evaluating the monitor on the served predictions and their labels...")
    watched = watch(client, directory, window=window, retrain=params)
    top = ", ".join(f"{k} {v:.2f}" for k, v in list(watched.drift.items())[:3])
    actions = ", ".join(
        "logged at WARNING on keel.alerts"
        if (kind, status) == ("log", "ok")
        else f"{kind} {status}"
        for kind, status in watched.actions
    )
    say(
        (
            "monitor drift and performance",
            f"drifted: {', '.join(watched.drifted)} (scores {top}); ROC AUC "
            f"{watched.roc_auc:.3f} < {AUC_MIN} on {watched.labels} labels",
        )
    )
    say(("open an alert", f"{watched.alert.severity} alert {watched.alert.id[:12]}: {actions}"))
    for line in watched.logged:
        say(("log the alert", line))
    stage.result = (
        f"drift on {', '.join(watched.drifted)} ({top}); ROC AUC {watched.roc_auc:.3f} < "
        f"{AUC_MIN} on {watched.labels:,} labels; {watched.alert.severity} alert opened "
        f"({actions})"
    )
    stage.refs += [
        str(watched.path.relative_to(directory)),
        f"result {watched.result.id[:12]}",
        f"alert {watched.alert.id[:12]}",
    ]
    facts.update(
        monitor="credit-monitor",
        drift_scores=watched.drift,
        drifted_features=watched.drifted,
        monitor_roc_auc=watched.roc_auc,
        monitor_labels=watched.labels,
        monitor_passed=watched.result.passed,
        alert=watched.alert.id,
        alert_keys=list(watched.alert.keys),
        alert_actions=[{"type": k, "status": s} for k, s in watched.actions],
        alert_log=watched.logged,
    )
    return watched


def _run_retrain(client: Any, run_id: str) -> Any:
    """Let an agent execute the queued ``retrain`` run (as ``keel server`` or ``keel agent``
    would), and read what its steps made."""
    from keel.errors import KeelError
    from keel.pipelines import output_of
    from keel.server.agent import Agent

    from ._retrain import Retrained
    from ._retrain_pipeline import retrain

    agent = Agent(client, tick_seconds=1, max_runs=1)
    try:
        agent.run_once()
        if not agent.wait_for_runs(300):
            raise KeelError(f"The retraining run {run_id} did not finish in 300 s.")
    finally:
        agent.release()
    run = client.pipelines.run(run_id)
    if run["status"] != "succeeded":
        raise KeelError(
            f"The retraining run {run_id} {run['status']}: {run.get('error') or 'no error'}. "
            f"See: keel pipeline show {run_id}"
        )
    done = output_of(client, retrain, run)  # what the pipeline returned, read back
    data, fitted = done["data"], done["fitted"]
    return Retrained(
        alert=(run.get("trigger") or {}).get("alert", ""),
        rows=data["rows"],
        datasets={"train": data["train"], "holdout": data["holdout"]},
        run=fitted["run"],
        version=fitted["version"],
        recent=fitted["recent"],
        backtest=done["checked"],
        rollout=done["rollout"],
        pipeline_run=run_id,
    )


def _stage_retrain(
    client: Any,
    directory: Path,
    server: Any,
    later: Any,
    watched: Any,
    sizes: Sizes,
    stage: Any,
    say: Any,
    facts: dict,
) -> Any:
    from keel.errors import KeelError

    from ._serve import Traffic

    queued = [
        a.get("run")
        for a in watched.alert.actions
        if a["type"] == "trigger_pipeline" and a["status"] == "ok"
    ]
    if not queued or not queued[0]:
        raise KeelError(
            f"The alert {watched.alert.id} queued no retraining run (its actions: "
            f"{[(a['type'], a['status'], a.get('detail')) for a in watched.alert.actions]})."
        )
    stage.doing(
        f"the agent runs pipeline 'retrain' (run {queued[0][:12]}) on months 7-9; months "
        "10-12 keep arriving as live traffic..."
    )
    with Traffic(server, later) as traffic:
        retrained = _run_retrain(client, queued[0])
    steps = retrained.rollout["steps"]
    walked = " -> ".join(f"{s['percent']:g}% {s['status']}" for s in steps)
    recent = {k: v["roc_auc"] for k, v in retrained.recent.items()}
    checked = retrained.backtest
    say(
        (
            "retrain on recent data",
            f"{retrained.version} from {retrained.rows} labelled applications of months 7-9 "
            f"({retrained.datasets['train']}), run {retrained.run[:12]}, by pipeline "
            f"'retrain' (run {str(retrained.pipeline_run)[:12]}: queued by the alert, run by "
            "the agent)",
        )
    )
    say(
        (
            "back-test",
            f"ROC AUC {checked['roc_auc']:.3f} vs champion {checked['champion_roc_auc']:.3f} "
            f"on {retrained.datasets['holdout']}; better in "
            + ", ".join(m["window"] for m in checked["months"]),
        )
    )
    say(("canary rollout", f"revision {retrained.rollout['rollout']}: {walked}"))
    say(("promote", f"credit-default@champion -> {retrained.rollout['champion_after']}"))
    stage.result = (
        f"{retrained.version} beats the champion on recent data (ROC AUC "
        f"{checked['roc_auc']:.3f} vs {checked['champion_roc_auc']:.3f}) and in every month; "
        f"canary {walked} under {traffic.requests:,} live requests; now champion"
    )
    stage.refs += [
        retrained.datasets["train"],
        f"run {retrained.run[:12]}",
        f"{retrained.version} @champion",
        f"deploy/credit-scoring.yaml (revision {retrained.rollout['rollout']})",
    ]
    facts.update(
        model=retrained.version,
        champion=retrained.rollout["champion_after"],
        champion_before=retrained.rollout["champion_before"],
        retrained_version=retrained.version,
        recent_dataset=retrained.datasets["train"],
        recent_auc=recent,
        backtest=checked["months"],
        retrain_gate=checked["gate"],
        retrain_gate_passed=checked["passed"],
        canary_steps=steps,
        canary_revision=retrained.rollout["rollout"],
        traffic_requests=traffic.requests,
        traffic_errors=len(traffic.errors),
    )
    return retrained
