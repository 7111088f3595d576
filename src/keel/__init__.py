"""keel: one MLOps platform for the whole model lifecycle.

The names here are the SDK a data scientist types; everything else lives in its
concept's folder. Importing keel reads no configuration, touches no files and loads
the heavy parts only when a name is first used.

Example::

    import keel

    keel.seed_everything(7)
    with keel.start_run(experiment="credit", params={"C": 1.0}) as run:
        run.log_metric("auc", 0.91)
    keel.search_runs("credit", filter="metrics.auc > 0.9")
"""

from __future__ import annotations

from keel._version import __version__
from keel.errors import KeelError

_LAZY = {
    "Client": "keel.client",
    "start_run": "keel._fluent",
    "end_run": "keel._fluent",
    "active_run": "keel._fluent",
    "log_param": "keel._fluent",
    "log_params": "keel._fluent",
    "log_metric": "keel._fluent",
    "log_metrics": "keel._fluent",
    "set_tag": "keel._fluent",
    "log_artifact": "keel._fluent",
    "search_runs": "keel._fluent",
    "seed_everything": "keel.tracking",
    "autolog": "keel._autolog",
    "Run": "keel.tracking",
    "log_dataset": "keel._data_sdk",
    "load_dataset": "keel._data_sdk",
    "ingest": "keel._data_sdk",
    "lineage": "keel._lineage_sdk",
    "register_model": "keel.registry",
    "load_model": "keel.registry",
    "predict_dataset": "keel.serving.batch",
    "validate": "keel.validation",
    "infer_schema": "keel.validation",
    "Schema": "keel.validation",
    "approval": "keel.pipelines.approvals",
    "cron": "keel.pipelines.triggers",
    "on_dataset": "keel.pipelines.triggers",
    "on_files": "keel.pipelines.triggers",
    "on_alert": "keel.pipelines.triggers",
    "step": "keel.pipelines",
    "pipeline": "keel.pipelines",
    "sweep": "keel.pipelines",
    "random_space": "keel.pipelines",
    "get_run": "keel._runs_sdk",
    "download_artifacts": "keel._runs_sdk",
    "set_alias": "keel.registry._sdk",
    "approve": "keel.registry._sdk",
    "reject": "keel.registry._sdk",
    "evaluate": "keel.registry._sdk",
}

__all__ = [
    "Client",
    "KeelError",
    "Run",
    "Schema",
    "__version__",
    "active_run",
    "approval",
    "approve",
    "autolog",
    "cron",
    "download_artifacts",
    "end_run",
    "evaluate",
    "get_run",
    "infer_schema",
    "ingest",
    "lake",
    "lineage",
    "load_dataset",
    "load_model",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "on_alert",
    "on_dataset",
    "on_files",
    "pipeline",
    "predict_dataset",
    "random_space",
    "register_model",
    "reject",
    "search_runs",
    "seed_everything",
    "set_alias",
    "set_tag",
    "start_run",
    "step",
    "sweep",
    "validate",
]

TYPE_CHECKING = False  # importing typing would cost every command, the quick ones too
if TYPE_CHECKING:
    from typing import Any

    from keel._autolog import autolog
    from keel._data_sdk import ingest, load_dataset, log_dataset
    from keel._fluent import (
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
    from keel._lineage_sdk import lineage
    from keel._runs_sdk import download_artifacts, get_run
    from keel.client import Client
    from keel.pipelines import pipeline, random_space, step, sweep
    from keel.pipelines.approvals import approval
    from keel.pipelines.triggers import cron, on_alert, on_dataset, on_files
    from keel.registry import load_model, register_model
    from keel.registry._sdk import approve, evaluate, reject, set_alias
    from keel.serving.batch import predict_dataset
    from keel.tracking import Run, seed_everything
    from keel.validation import Schema, infer_schema, validate


def __getattr__(name: str) -> Any:
    from importlib import import_module

    if name == "lake":
        return import_module("keel.lake")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
