"""Deployments: specs kept in git, plan/apply, rollouts and rollback, manifests for clusters."""

from __future__ import annotations

from ._health_retention import expire_health
from ._records import Change, Plan, Rollout, RolloutStep
from ._service import DeploymentService
from .spec import (
    Batching,
    Canary,
    DeploymentSpec,
    Limits,
    LoggingPolicy,
    Route,
    parse_duration,
    parse_spec,
    parse_spec_text,
    qualify,
)

__all__ = [
    "Batching",
    "Canary",
    "Change",
    "DeploymentService",
    "DeploymentSpec",
    "Limits",
    "LoggingPolicy",
    "Plan",
    "Rollout",
    "RolloutStep",
    "Route",
    "expire_health",
    "parse_duration",
    "parse_spec",
    "parse_spec_text",
    "qualify",
]
