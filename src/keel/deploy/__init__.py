"""Deployments: specs kept in git, plan/apply, rollouts and rollback, manifests for clusters."""

from __future__ import annotations

from .spec import (
    Batching,
    Canary,
    DeploymentSpec,
    Limits,
    LoggingPolicy,
    Route,
    parse_duration,
    parse_spec,
    qualify,
)

__all__ = [
    "Batching",
    "Canary",
    "DeploymentSpec",
    "Limits",
    "LoggingPolicy",
    "Route",
    "parse_duration",
    "parse_spec",
    "qualify",
]
