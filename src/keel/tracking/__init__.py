"""Experiment tracking: runs, params, metrics, artifacts, reproducibility capture."""

from ._autolog import autolog
from ._backend import TrackingBackend
from ._fluent import (
    active_run,
    end_run,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    set_tag,
    start_run,
)
from ._records import ArtifactRecord, ExperimentRecord, RunQuery, RunRecord, RunStatus
from ._reproduce import Reproduction, ReproductionPlan, plan_reproduction, reproduce
from ._run import Run
from ._seed import seed_everything
from ._tracker import Tracker, default_tracker, reset_default_tracker


def __getattr__(name: str):
    if name == "expire_runs":
        from ._expire import expire_runs

        return expire_runs
    if name == "SqlTracking":  # loads SQLAlchemy; HTTP clients never need it
        from ._sql import SqlTracking

        return SqlTracking
    raise AttributeError(f"module 'keel.tracking' has no attribute {name!r}")


__all__ = [
    "ArtifactRecord",
    "ExperimentRecord",
    "Reproduction",
    "ReproductionPlan",
    "Run",
    "RunQuery",
    "RunRecord",
    "RunStatus",
    "SqlTracking",
    "Tracker",
    "TrackingBackend",
    "active_run",
    "autolog",
    "default_tracker",
    "end_run",
    "expire_runs",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "plan_reproduction",
    "reproduce",
    "reset_default_tracker",
    "search_runs",
    "seed_everything",
    "set_tag",
    "start_run",
]
