"""The quickstart's validation step: infer a schema from the first version, check the data
with it before training, and turn away a planted bad batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._data import make_credit_data

__all__ = ["Validation", "bad_batch", "validate_data"]


@dataclass(frozen=True)
class Validation:
    schema_path: Path
    checks: int
    passed: bool
    report_id: str | None
    rejected_errors: list[str]


def bad_batch(n_rows: int = 2_000) -> pd.DataFrame:
    """A new batch of applications with the faults real feeds have: impossible ages, an
    unknown region, missing salaries and a repeated applicant id."""
    batch = make_credit_data(n_rows, seed=99)
    batch["region"] = batch["region"].astype(str)
    batch.loc[[3, 40], "age"] = [7, 130]
    batch.loc[[5, 6, 7], "region"] = "central"
    batch.loc[[11, 12], "salary"] = np.nan
    batch.loc[20, "applicant_id"] = batch.loc[21, "applicant_id"]
    return batch


def validate_data(store: Any, version: Any, directory: Path) -> Validation:
    """Infer ``schemas/credit.yaml`` from ``version``, validate ``version`` with it (the
    report is recorded with the version), and validate a bad batch (rejected)."""
    from keel.validation import Schema, infer_schema, validate

    schema = infer_schema(version, name="credit", store=store)
    path = schema.save(directory / "schemas" / "credit.yaml")
    schema = Schema.load(path)  # what a team keeps in git is what runs
    report = validate(version, schema, store=store)
    rejected = validate(bad_batch(version.row_count), schema, record=False, store=store)
    return Validation(
        schema_path=path,
        checks=len(report.results),
        passed=report.passed,
        report_id=report.id,
        rejected_errors=[r.name for r in rejected.errors],
    )
