"""Pipelines: steps, DAGs, caching, materialisation, executors (local, ray) and sweeps."""

from __future__ import annotations

from ._dsl import Pipeline, Step, pipeline, step
from ._materialise import MaterialiseContext
from ._result import PipelineRun
from ._runner import execute_run, import_pipeline, output_of
from ._service import PipelineService
from ._signals import AwaitingApproval
from ._sweep import SweepResult, Trial, random_space, sweep

__all__ = [
    "AwaitingApproval",
    "MaterialiseContext",
    "Pipeline",
    "PipelineRun",
    "PipelineService",
    "Step",
    "SweepResult",
    "Trial",
    "execute_run",
    "import_pipeline",
    "output_of",
    "pipeline",
    "random_space",
    "step",
    "sweep",
]
