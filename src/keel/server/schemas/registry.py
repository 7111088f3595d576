"""Models, versions, evaluations, history and policies, as the registry routes answer them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, RootModel

__all__ = ["AliasRule", "Approvals", "Evaluation", "Model", "ModelEvent", "ModelVersion", "Policy"]


class ModelVersion(BaseModel):
    """One registered version of a model, such as ``credit:4``."""

    id: str
    model: str = Field(examples=["credit"])
    version: int = Field(examples=[4])
    ref: str = Field(examples=["credit:4"])
    flavor: str = Field(examples=["sklearn"])
    package_digest: str = Field(description="blake3 of the package's keel-model.json.")
    created_at: int = Field(description="Milliseconds since the epoch.")
    signature: dict[str, Any] | None = Field(description="Inputs and outputs it accepts.")
    run_id: str | None = Field(description="The run that trained it.")
    metrics: dict[str, float | None] = Field(examples=[{"auc": 0.91}])
    description: str | None
    aliases: list[str] = Field(examples=[["champion"]])


class AliasRule(BaseModel):
    """What moving one alias requires."""

    approvals: int = Field(description="Approvals from approvers the version needs.")
    gate: bool = Field(description="A passing evaluation gate must be recorded.")
    four_eyes: bool = Field(
        description="The approvals must come from someone other than the registrant."
    )


class Policy(BaseModel):
    """A model's promotion policy: a rule per alias; other aliases move freely."""

    aliases: dict[str, AliasRule] = Field(examples=[{"champion": {"approvals": 1, "gate": True}}])


class Model(BaseModel):
    """A model with its newest version, where each alias points and its policy."""

    name: str = Field(examples=["credit"])
    versions: int = Field(description="How many versions it has.")
    latest: ModelVersion | None
    aliases: dict[str, str] = Field(
        description="Alias -> version reference.", examples=[{"champion": "credit:4"}]
    )
    policy: dict[str, Any] | None = Field(description="As set with PUT .../policy.")


class Evaluation(BaseModel):
    """One evaluation of a version on a dataset, against a baseline and a gate."""

    id: str
    version_id: str
    baseline_id: str | None
    data_ref: str = Field(examples=["credit:v3"])
    metrics: dict[str, Any]
    gate: str | None = Field(examples=["auc >= baseline.auc"])
    passed: bool | None
    report_digest: str | None
    created_at: int = Field(description="Milliseconds since the epoch.")


class EvaluationResult(BaseModel):
    """What evaluating a version just measured: metrics per side (``candidate``,
    ``against``, ``baseline``), segments, back-test windows and the gate's verdict."""

    candidate: str = Field(examples=["credit:4"])
    against: str | None = Field(examples=["credit:3"])
    data: str = Field(examples=["holdout:v1"])
    task: str = Field(examples=["classification"])
    label: str
    metrics: dict[str, dict[str, float | None]]
    segments: dict[str, dict[str, dict[str, float | None]]] | None = None
    backtest: list[dict[str, Any]] | None = None
    gate: str | None = None
    passed: bool | None = None
    gate_detail: list[str] = Field(default_factory=list)
    beats_baseline: bool = True
    warnings: list[str] = Field(default_factory=list)


class ModelEvent(BaseModel):
    """One entry of a model's history: who did what, when, and why."""

    at: int = Field(description="Milliseconds since the epoch.")
    actor: str
    action: str = Field(examples=["register", "set_alias", "approve", "reject", "set_policy"])
    target: str = Field(description="The model's name.")
    details: dict[str, Any]


class Approvals(RootModel[dict[str, str]]):
    """Each actor's latest decision on a version: {actor: "approved" | "rejected"}."""

    model_config = {"json_schema_extra": {"examples": [{"alice": "approved"}]}}
