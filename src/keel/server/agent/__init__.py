"""The agent: runs schedules, triggers, monitors and pipeline runs, one leader per store."""

from __future__ import annotations

from ._agent import LEASE, Agent
from ._pass import AgentPass

__all__ = ["LEASE", "Agent", "AgentPass"]
