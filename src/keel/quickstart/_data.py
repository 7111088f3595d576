"""The quickstart's synthetic credit data: applicants, features and a default label."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["make_credit_data"]

REGIONS = np.array(["north", "south", "east", "west"])


def make_credit_data(n_rows: int = 5_000, seed: int = 7) -> pd.DataFrame:
    """A reproducible table of loan applicants with a ``default`` label (about 20% ones)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(21, 75, n_rows)
    income = np.round(rng.lognormal(10.6, 0.45, n_rows), 2)
    debt_ratio = np.clip(rng.beta(2, 5, n_rows), 0, 1).round(4)
    credit_lines = rng.poisson(4, n_rows)
    late_payments = rng.poisson(0.6, n_rows)
    region = rng.choice(REGIONS, n_rows, p=[0.3, 0.25, 0.25, 0.2])
    logit = (
        -2.2
        + 3.1 * debt_ratio
        + 0.55 * late_payments
        - 0.6 * (np.log(income) - 10.6)
        - 0.015 * (age - 45)
        + 0.25 * (region == "south")
    )
    default = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "applicant_id": [f"a-{i:06d}" for i in range(n_rows)],
            "age": age,
            "income": income,
            "debt_ratio": debt_ratio,
            "credit_lines": credit_lines,
            "late_payments": late_payments,
            "region": pd.Categorical(region, categories=REGIONS),
            "default": default.astype("int8"),
        }
    )
