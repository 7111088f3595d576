"""A page of a run search as columns: what :func:`keel.search_runs` makes its DataFrame of.

A store answers a search as rows (the runs) and (run, key, value) triples (their params,
latest metrics and tags); :class:`RunColumns` keeps them so, with no object per run, and
:meth:`RunColumns.from_records` makes the same from :class:`RunRecord` s (a search over
HTTP), so that both transports give one frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ._records import RunRecord

__all__ = ["Details", "RunColumns"]

Details = list[tuple[int, str, object]]
"""(index of the run in the page, key, value), a run's triples in the order it has them."""


@dataclass
class RunColumns:
    """The runs of a page, one list per attribute (in the page's order), and their
    params, latest metrics (floats, NaN for a missing value) and tags as triples."""

    ids: Sequence[str] = ()
    experiments: Sequence[str] = ()
    names: Sequence[str] = ()
    statuses: Sequence[str] = ()
    parent_ids: Sequence[str | None] = ()
    created_at: Sequence[int] = ()
    ended_at: Sequence[int | None] = ()
    params: Details = field(default_factory=list)
    metrics: Details = field(default_factory=list)
    tags: Details = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

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
        for index, r in enumerate(records):
            found.params.extend((index, k, v) for k, v in r.params.items())
            found.metrics.extend((index, k, v) for k, v in r.metrics.items())
            found.tags.extend((index, k, v) for k, v in r.tags.items())
        return found
