"""The quickstart's synthetic credit data: twelve months of loan applications with a
``default`` label, made with a fixed seed.

Months 1-6 are the world the first model learns. From month 7 on two things change at
once, as they do when a labour market turns: salaries rise (a step of about 40%, so the
monitor sees the ``salary`` input drift), and the relation between salary and default
shifts (a high salary used to mean a safe borrower; now high earners carry the large new
loans, so the effect reverses). A model trained on months 1-6 therefore ranks recent
applicants worse (its ROC AUC drops), while a model trained on recent months learns the
new relation and beats it there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FEATURES", "MONTHS", "SHIFT_MONTH", "make_credit_data", "month_of"]

FEATURES = ["age", "salary", "debt_ratio", "credit_lines", "late_payments", "region"]
"""The model's inputs (``applicant_id``, ``applied_at``, ``month`` and ``default`` are not)."""
REGIONS = np.array(["north", "south", "east", "west"])
MONTHS = 12
SHIFT_MONTH = 7
"""The first month of the new world: salaries up, their relation to default reversed."""
YEAR = 2026
_LOG_SALARY = 10.6  # about 40,000 a year before the shift
_RAISE = 0.35  # log points: salaries about 42% higher from SHIFT_MONTH on
_SPREAD = 0.45


def make_credit_data(
    n_rows: int = 6_000, seed: int = 7, *, months: int | tuple[int, ...] = (1, 2, 3, 4, 5, 6)
) -> pd.DataFrame:
    """A reproducible table of loan applications with a ``default`` label (about 20% ones).

    Args:
        n_rows: rows in all, spread evenly over ``months``.
        seed: the random seed; the same arguments give the same table.
        months: the months (1-12) to make, or one month; the default is the first half
            year, the data the first model is trained on.
    """
    wanted = (months,) if isinstance(months, int) else tuple(months)
    if not wanted or any(
        isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= MONTHS for m in wanted
    ):
        from keel.errors import InvalidInput

        raise InvalidInput(f"months must be whole numbers from 1 to {MONTHS}. Got {months!r}.")
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < len(wanted):
        from keel.errors import InvalidInput

        raise InvalidInput(
            f"n_rows must be a whole number of at least one row per month ({len(wanted)}). "
            f"Got {n_rows!r}."
        )
    rng = np.random.default_rng(seed)
    month = np.sort(np.resize(np.asarray(wanted), n_rows))
    shifted = month >= SHIFT_MONTH
    age = rng.integers(21, 75, n_rows)
    log_salary = rng.normal(_LOG_SALARY + _RAISE * shifted, _SPREAD, n_rows)
    salary = np.round(np.exp(log_salary), 2)
    debt_ratio = np.clip(rng.beta(2, 5, n_rows), 0, 1).round(4)
    credit_lines = rng.poisson(4, n_rows)
    late_payments = rng.poisson(0.6, n_rows)
    region = rng.choice(REGIONS, n_rows, p=[0.3, 0.25, 0.25, 0.2])
    # salary relative to its month's level: protective before the shift, risky after
    relative = (log_salary - _LOG_SALARY - _RAISE * shifted) / _SPREAD
    salary_effect = np.where(shifted, 0.3, -0.9) * relative
    logit = (
        -3.4
        + 4.5 * debt_ratio
        + 0.8 * late_payments
        + salary_effect
        - 0.012 * (age - 45)
        + 0.25 * (region == "south")
    )
    default = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    day = rng.integers(1, 29, n_rows)
    applied_at = pd.to_datetime(
        {"year": np.full(n_rows, YEAR), "month": month, "day": day}
    ) + pd.to_timedelta(rng.integers(0, 86_400, n_rows), unit="s")
    ids = [f"a-{m:02d}-{i:06d}" for i, m in enumerate(month)]
    frame = pd.DataFrame(
        {
            "applicant_id": ids,
            "applied_at": applied_at.to_numpy(),
            "month": month.astype("int8"),
            "age": age,
            "salary": salary,
            "debt_ratio": debt_ratio,
            "credit_lines": credit_lines,
            "late_payments": late_payments,
            "region": pd.Categorical(region, categories=REGIONS),
            "default": default.astype("int8"),
        }
    )
    return frame.sort_values("applied_at", kind="stable").reset_index(drop=True)


def month_of(frame: pd.DataFrame) -> pd.Series:
    """Each row's month (1-12), from its ``month`` column."""
    return frame["month"].astype(int)
