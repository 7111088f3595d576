"""A page of a run search as columns: what :func:`keel.search_runs` makes its DataFrame of.

A store answers a search as rows (the runs) and (run, key, value) triples (their params,
latest metrics and tags); :class:`RunColumns` gathers them into one list per attribute
and one per param, metric and tag, with no object per run. :meth:`RunColumns.from_records`
makes the same of :class:`RunRecord` s (a search over HTTP), so both transports give one
frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._records import RunRecord

__all__ = ["GROUPS", "RunColumns"]

GROUPS = ("params.", "metrics.", "tags.")
"""The prefixes of the detail columns, in the order a run's details are listed."""


@dataclass
class RunColumns:
    """The runs of a page, one list per attribute (in the page's order), and one list
    per param, metric and tag (``"params.lr"``, ...) with NaN where a run has none."""

    ids: Sequence[str] = ()
    experiments: Sequence[str] = ()
    names: Sequence[str] = ()
    statuses: Sequence[str] = ()
    parent_ids: Sequence[str | None] = ()
    created_at: Sequence[int] = ()
    ended_at: Sequence[int | None] = ()
    details: dict[str, list[Any]] = field(default_factory=dict)
    _first: dict[str, tuple[int, int, int]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self, group: str, triples: Iterable[tuple[Any, str, Any]], position: Any = None
    ) -> None:
        """Add the details of one group (``"params."``, ``"metrics."``, ``"tags."``):
        ``(run, key, value)`` triples, a run's triples in the order the run lists them
        (the runs in any order); ``position[run]`` is the run's row (``run`` itself
        when ``position`` is None). A metric's value None (a NaN) stays NaN."""
        n, details, first = len(self.ids), self.details, self._first
        rank, nan = GROUPS.index(group), math.nan
        for seq, (run, key, value) in enumerate(triples):
            row = run if position is None else position[run]
            name = group + key
            column = details.get(name)
            if column is None:
                details[name] = column = [nan] * n
                first[name] = (row, rank, seq)
            elif row < first[name][0]:
                first[name] = (row, rank, seq)
            if value is not None:
                column[row] = value

    def ordered_details(self) -> list[tuple[str, list[Any]]]:
        """The detail columns in order of first appearance: run by run and, in a run,
        params, then metrics, then tags, each as the run lists them."""
        first = self._first
        return [(name, self.details[name]) for name in sorted(self.details, key=first.get)]

    @classmethod
    def from_records(cls, records: Sequence[RunRecord]) -> RunColumns:
        """The columns of runs read as records (a run with no end time: None)."""
        found = cls(
            ids=[r.id for r in records],
            experiments=[r.experiment for r in records],
            names=[r.name for r in records],
            statuses=[r.status for r in records],
            parent_ids=[r.parent_id for r in records],
            created_at=[r.created_at for r in records],
            ended_at=[r.ended_at or None for r in records],
        )
        for group, attr in zip(GROUPS, ("params", "metrics", "tags"), strict=True):
            found.add(
                group,
                (
                    (index, key, value)
                    for index, r in enumerate(records)
                    for key, value in getattr(r, attr).items()
                ),
            )
        return found
