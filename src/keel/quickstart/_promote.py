"""The quickstart's registry step: register the best model and promote it through a gate."""

from __future__ import annotations

from dataclasses import dataclass

from keel.data import DatasetService
from keel.registry import RegistryService

from ._train import FEATURES, TrainingResult

__all__ = ["Promotion", "register_and_promote"]

GATE = "roc_auc >= baseline.roc_auc + 0.05 and latency_p99_ms <= 1000"


@dataclass(frozen=True)
class Promotion:
    version: str
    holdout: str
    roc_auc: float
    passed: bool
    champion: str | None


def register_and_promote(
    registry: RegistryService, data: DatasetService, trained: TrainingResult
) -> Promotion:
    """Register the best run's model, evaluate it on the versioned holdout, and move
    ``champion`` to it if the gate passes (the model's policy demands a passing gate)."""
    holdout = data.log(
        trained.holdout.reset_index(drop=True), "credit-holdout", description="20% holdout split"
    )
    version = registry.register(
        trained.best_model,
        "credit-default",
        input_example=trained.holdout[FEATURES].head(),
        run=trained.best_run,
        metrics={"holdout_auc": trained.best_auc},
        description=f"best of the quickstart candidates ({trained.best_name})",
    )
    registry.set_policy("credit-default", {"aliases": {"champion": {"approvals": 0, "gate": True}}})
    from keel.registry import evaluate

    result = evaluate(
        registry, version.ref, data=holdout.ref, label="default", gate=GATE, datasets=data
    )
    champion = None
    if result.passed:
        champion = registry.set_alias(version, "champion", reason=f"gate passed: {GATE}").ref
    return Promotion(
        version.ref,
        holdout.ref,
        result.metrics["candidate"]["roc_auc"],
        bool(result.passed),
        champion,
    )
