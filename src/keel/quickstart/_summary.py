"""What the quickstart did, as facts for scripts (``to_dict``) and tables for people."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["Summary"]


@dataclass
class Summary:
    """What the quickstart did: the project, one line per step, the stages with their
    times and objects, and the facts tests and ``keel quickstart --json`` read."""

    directory: Path
    steps: list[tuple[str, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "steps": [{"step": s, "result": r} for s, r in self.steps],
            "stages": [dict(s) for s in self.stages],
            **self.facts,
        }

    def print(self, console: Console) -> None:
        from rich.console import Group
        from rich.markup import escape
        from rich.panel import Panel

        # Text, not markup: a folder or a dataset value may hold '[...]' or ':x:'
        parts: list[Any] = [self._stage_table()]
        drift = self._drift_table()
        if drift is not None:
            parts.append(drift)
        metrics = self._metrics_table()
        if metrics is not None:
            parts.append(metrics)
        total = self.facts.get("seconds")
        title = "keel quickstart: the closed loop"
        if total is not None:
            title += f" in {total:.1f} s"
        console.print(Panel(Group(*parts), title=title, subtitle=escape(str(self.directory))))
        self._next_steps(console)

    def _stage_table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(show_header=True, header_style="bold", expand=False)
        table.add_column("stage")
        table.add_column("time", justify="right")
        table.add_column("what it did, and the objects it made")
        for i, stage in enumerate(self.stages, 1):
            done = Text(stage["result"])
            if stage["refs"]:
                done.append("\n" + ", ".join(stage["refs"]), style="cyan")
            table.add_row(
                Text.assemble(("✓", "green"), f" {i}. {stage['title']}"),
                f"{stage['seconds']:.1f}s",
                done,
            )
        return table

    def _drift_table(self) -> Any:
        from rich.table import Table

        drift = self.facts.get("drift_scores") or {}
        if not drift:
            return None
        drifted = set(self.facts.get("drifted_features") or ())
        table = Table(title="drift of months 7-9", title_justify="left")
        table.add_column("input")
        table.add_column("PSI", justify="right")
        table.add_column("drifted")
        for name, score in list(drift.items())[:4]:
            table.add_row(name, f"{score:.3f}", "yes" if name in drifted else "no")
        return table

    def _metrics_table(self) -> Any:
        from rich.table import Table

        months = self.facts.get("backtest") or []
        if not months:
            return None
        before = self.facts.get("champion_before", "champion")
        after = self.facts.get("champion", "retrained")
        table = Table(title="ROC AUC before and after retraining", title_justify="left")
        table.add_column("data")
        table.add_column(f"{before} (before)", justify="right")
        table.add_column(f"{after} (after)", justify="right")
        served = self.facts.get("monitor_roc_auc")
        if served is not None:
            table.add_row("months 7-9 as served (monitor)", f"{served:.3f}", "")
        recent = self.facts.get("recent_auc") or {}
        if recent:
            table.add_row(
                "recent holdout (gate)", f"{recent['champion']:.3f}", f"{recent['new']:.3f}"
            )
        for m in months:
            table.add_row(
                f"back-test {m['window']} ({m['rows']} rows)",
                f"{m['champion']:.3f}",
                f"{m['candidate']:.3f}",
            )
        return table

    def _next_steps(self, console: Console) -> None:
        from rich.text import Text

        keel = _keel_command()
        request = self.facts.get("request_id")
        console.print(Text(f"Open the dashboard: cd {self.directory} && {keel} ui"), soft_wrap=True)
        lines = [
            f"Explore it: cd {self.directory}, then",
            f"  {keel} runs ls  # the tracked training runs",
            f"  {keel} models show credit-default@champion  # the promoted model",
            f"  {keel} deploy history credit-scoring  # the rollouts, with the canary's steps",
            f"  {keel} alerts ls --status all  # the alert the monitor opened",
            *(
                [f"  {keel} pipeline show {retrain}  # the retraining the alert queued"]
                if (retrain := self.facts.get("retrain_pipeline_run"))
                else []
            ),
            f"  {keel} lake query 'SELECT model_version, count(*) AS n "
            "FROM predictions GROUP BY 1'",
        ]
        if request:
            lines.append(f"  {keel} lineage request:{request}  # one prediction, traced back")
        lines.append(
            f"  {keel} serve deploy/credit-scoring.yaml  # serve it yourself; Ctrl-C stops it"
        )
        console.print(Text("\n".join(lines)), soft_wrap=True)  # copyable: never wrapped


def _keel_command() -> str:
    """How to type ``keel`` here: the bare name when it is on PATH, else the full path of
    the one running (``make demo`` runs .venv/bin/keel without activating the venv)."""
    if shutil.which("keel"):
        return "keel"
    beside = Path(sys.executable).parent / "keel"
    return str(beside) if beside.exists() else f"{sys.executable} -m keel"
