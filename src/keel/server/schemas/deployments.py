"""Deployments, rollouts, canary steps and plans, as the deployment routes answer them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Deployment",
    "DeploymentPlan",
    "DeploymentStats",
    "HealthPoint",
    "PlanChange",
    "Rollout",
    "RolloutStep",
    "Route",
]


class Route(BaseModel):
    """A model version and its share of the traffic."""

    ref: str = Field(examples=["credit:4"])
    weight: float = Field(description="Percent of requests.", examples=[90])


class Deployment(BaseModel):
    """A deployment as it runs now."""

    name: str = Field(examples=["credit-scoring"])
    revision: int
    status: str = Field(examples=["active", "canary", "promoted"])
    model: str = Field(examples=["credit"])
    routes: list[Route]
    actor: str = Field(description="Who applied the current revision.")
    updated_at: int = Field(description="Milliseconds since the epoch.")


class RolloutStep(BaseModel):
    """One step the canary controller took."""

    step: int
    weight: float = Field(description="The new rollout's traffic share (%).")
    status: str = Field(examples=["running", "passed", "promoted", "rolled_back"])
    metrics: dict[str, Any]
    created_at: int = Field(description="Milliseconds since the epoch.")


class Rollout(BaseModel):
    """One applied change of a deployment: its spec, status and canary steps."""

    id: str
    deployment: str = Field(examples=["credit-scoring"])
    revision: int
    spec: dict[str, Any] = Field(description="The deployment spec, as its YAML mapping.")
    status: str = Field(examples=["active", "canary", "promoted", "superseded", "rolled_back"])
    actor: str
    created_at: int = Field(description="Milliseconds since the epoch.")
    previous_revision: int | None = Field(description="What a rollback of it returns to.")
    restores: int | None = Field(description="The revision a rollback brought back.")
    kind: str = Field(examples=["apply", "rollback"])
    steps: list[RolloutStep]


class PlanChange(BaseModel):
    """One field that would differ: ``+`` added, ``-`` removed, ``~`` changed."""

    path: str = Field(examples=["routes.1.weight"])
    action: str = Field(examples=["+", "-", "~"])
    before: Any = None
    after: Any = None


class DeploymentPlan(BaseModel):
    """What applying a spec would change."""

    deployment: str
    current_revision: int | None = Field(description="Null when applying creates it.")
    create: bool
    empty: bool = Field(description="Applying would change nothing.")
    changes: list[PlanChange]


class HealthPoint(BaseModel):
    """A deployment's service health at one time; what its source does not measure is null."""

    at: int = Field(
        description="The interval's or window's end, or the canary step's judgement (epoch ms)."
    )
    start: int | None = Field(description="The interval's or window's start (epoch ms).")
    source: str = Field(examples=["server", "monitor credit-drift", "canary r3 step 2 (25%)"])
    requests: float | None
    throughput_rps: float | None = Field(description="Requests per second.")
    p50_ms: float | None = Field(
        None, description="Median latency (server: the workers' request-weighted mean)."
    )
    p99_ms: float | None = Field(
        description="99th percentile latency (server: the workers' highest)."
    )
    errors: float | None = Field(
        description="Failed requests (5xx): the model server's own counts (server, canary steps)."
    )
    client_errors: float | None = Field(None, description="Refused requests (4xx), server points.")
    error_rate: float | None = Field(description="errors / requests, 0 to 1.")
    workers: float | None = Field(
        None, description="Model server processes whose counts a server point sums."
    )


_EXAMPLE_POINT = {
    "at": 1796659260000,
    "start": 1796659200000,
    "source": "server",
    "requests": 1200,
    "throughput_rps": 20.0,
    "p50_ms": 2.1,
    "p99_ms": 9.8,
    "errors": 3,
    "client_errors": 7,
    "error_rate": 0.0025,
    "workers": 2,
}


class DeploymentStats(BaseModel):
    """A deployment's service health over time, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"deployment": "credit-scoring", "points": [_EXAMPLE_POINT]}]
        }
    )

    deployment: str
    points: list[HealthPoint]
