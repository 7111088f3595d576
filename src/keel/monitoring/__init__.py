"""Monitoring: data drift statistics, and monitors that watch a deployment's predictions."""

from __future__ import annotations

from keel.monitoring._drift import ColumnDrift, DriftReport, drift
from keel.monitoring._evaluate import evaluate
from keel.monitoring._reference import Reference
from keel.monitoring._report import report_html
from keel.monitoring._results import Finding, MonitorResult
from keel.monitoring._service import MonitorService
from keel.monitoring._stattests import METHODS, DriftScore
from keel.monitoring.spec import MonitorSpec, parse_monitor, parse_monitor_text

__all__ = [
    "METHODS",
    "ColumnDrift",
    "DriftReport",
    "DriftScore",
    "Finding",
    "MonitorResult",
    "MonitorService",
    "MonitorSpec",
    "Reference",
    "drift",
    "evaluate",
    "parse_monitor",
    "parse_monitor_text",
    "report_html",
]
