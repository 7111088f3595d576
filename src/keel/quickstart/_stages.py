"""The quickstart's stages: each timed, with what it made, shown live while the loop runs
(a rich Live table, only when there is a console to draw on)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Stage", "Stages"]


@dataclass
class Stage:
    """One stage of the loop: its title, what it did, the objects it made and its time."""

    key: str
    title: str
    status: str = "pending"  # pending, running, done, failed
    note: str = ""
    result: str = ""
    refs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    started: float | None = None

    def doing(self, note: str) -> None:
        """Say what the stage is doing now (shown in the live view)."""
        self.note = note

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.key,
            "title": self.title,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "result": self.result,
            "refs": list(self.refs),
        }


class Stages:
    """The loop's stages in order; ``with stages.run(key):`` times one and shows it.

    Example::

        stages = Stages([("data", "ingest and validate")], console)
        with stages.live(), stages.run("data") as stage:
            stage.doing("validating...")
            stage.result, stage.refs = "33 checks pass", ["credit:v1"]
    """

    def __init__(self, plan: list[tuple[str, str]], console: Any = None) -> None:
        self.stages = {key: Stage(key, title) for key, title in plan}
        self.console = console
        self.started = time.perf_counter()

    def __getitem__(self, key: str) -> Stage:
        return self.stages[key]

    def __iter__(self) -> Iterator[Stage]:
        return iter(self.stages.values())

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    @contextlib.contextmanager
    def run(self, key: str) -> Iterator[Stage]:
        stage = self.stages[key]
        stage.status, stage.started = "running", time.perf_counter()
        try:
            yield stage
        except BaseException:
            stage.status = "failed"
            raise
        else:
            stage.status = "done"
        finally:
            stage.seconds = time.perf_counter() - stage.started

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        """Draw the stages live on the console (nothing without one)."""
        if self.console is None:
            yield
            return
        from rich.live import Live

        with Live(self, console=self.console, refresh_per_second=8, transient=True):
            yield

    def __rich__(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 1))
        table.add_column(width=2)
        table.add_column()
        table.add_column(justify="right")
        table.add_column(style="dim")
        now = time.perf_counter()
        for i, stage in enumerate(self, 1):
            if stage.status == "running":
                mark: Any = Spinner("dots", style="cyan")
                took = now - (stage.started or now)
                note = stage.note
            else:
                mark = Text({"done": "✓", "failed": "✗"}.get(stage.status, "·"), style="green")
                if stage.status == "failed":
                    mark.stylize("red")
                took = stage.seconds
                note = stage.result if stage.status == "done" else ""
            timing = f"{took:.1f}s" if stage.status != "pending" else ""
            table.add_row(mark, Text(f"{i}. {stage.title}"), timing, Text(note[:70]))
        return table
