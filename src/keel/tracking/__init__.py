"""Experiment tracking: runs, params, metrics, artifacts, reproducibility capture."""

from ._backend import TrackingBackend
from ._records import ArtifactRecord, ExperimentRecord, RunQuery, RunRecord, RunStatus
from ._reproduce import Reproduction, ReproductionPlan, plan_reproduction, reproduce
from ._resolve import resolve_run
from ._run import Run
from ._seed import seed_everything
from ._tracker import Tracker


def __getattr__(name: str):
    if name in ("download_artifacts", "select_artifacts"):
        from . import _artifacts

        return getattr(_artifacts, name)
    if name == "artifact_owners":
        from ._owners import artifact_owners

        return artifact_owners
    if name == "expire_runs":
        from ._expire import expire_runs

        return expire_runs
    if name == "purge_deleted":
        from ._delete import purge_deleted

        return purge_deleted
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
    "artifact_owners",
    "download_artifacts",
    "expire_runs",
    "plan_reproduction",
    "purge_deleted",
    "reproduce",
    "resolve_run",
    "seed_everything",
    "select_artifacts",
]
