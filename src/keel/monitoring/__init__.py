"""Monitoring: data drift statistics, and monitors that watch a deployment's predictions.

Names load on first use: the drift statistics pull in NumPy, pandas, pyarrow and SciPy
(about 200 MB), which a server answering alerts or a CLI listing monitors never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel._lazy import lazy_names

if TYPE_CHECKING:
    from keel.monitoring._drift import ColumnDrift, DriftReport, drift
    from keel.monitoring._evaluate import evaluate
    from keel.monitoring._reference import Reference
    from keel.monitoring._report import report_html
    from keel.monitoring._results import Finding, MonitorResult
    from keel.monitoring._service import MonitorService
    from keel.monitoring._stattests import METHODS, DriftScore
    from keel.monitoring.spec import MonitorSpec, parse_monitor, parse_monitor_text

_LAZY = {
    "METHODS": "._stattests",
    "ColumnDrift": "._drift",
    "DriftReport": "._drift",
    "DriftScore": "._stattests",
    "Finding": "._results",
    "MonitorResult": "._results",
    "MonitorService": "._service",
    "MonitorSpec": ".spec",
    "Reference": "._reference",
    "drift": "._drift",
    "evaluate": "._evaluate",
    "parse_monitor": ".spec",
    "parse_monitor_text": ".spec",
    "report_html": "._report",
}

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

__getattr__ = lazy_names(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
