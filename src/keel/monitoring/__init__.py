"""Monitoring: data drift statistics (per column and per dataset) against a reference."""

from __future__ import annotations

from keel.monitoring._drift import ColumnDrift, DriftReport, drift
from keel.monitoring._reference import Reference
from keel.monitoring._stattests import METHODS, DriftScore

__all__ = ["METHODS", "ColumnDrift", "DriftReport", "DriftScore", "Reference", "drift"]
