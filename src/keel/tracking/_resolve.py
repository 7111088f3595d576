"""A run from what a person types: its whole id or the start of it, as git takes commits."""

from __future__ import annotations

from keel.errors import InvalidInput, NotFound

from ._backend import TrackingBackend
from ._records import RunQuery, RunRecord

__all__ = ["MIN_PREFIX", "resolve_run"]

MIN_PREFIX = 4
"""Fewest characters of an id that are looked up as a prefix (as git asks of a commit)."""

_SHOWN = 5
"""Candidates named in the message of an ambiguous prefix."""

_HEX = frozenset("0123456789abcdef")


def resolve_run(backend: TrackingBackend, id_or_prefix: str) -> RunRecord:
    """The run whose id is ``id_or_prefix``, or the only run whose id starts with it.

    Ids are 32 hexadecimal characters and ``keel runs ls`` shows their first 12; any
    :data:`MIN_PREFIX` or more of them name a run as long as no other run shares them.

    Args:
        backend: where to look (a store or a keel server).
        id_or_prefix: a whole run id, or its start (case does not matter).

    Raises:
        NotFound: no run has this id or an id starting with it.
        InvalidInput: several runs start with this prefix; the message lists some of them.
    """
    try:
        return backend.get_run(id_or_prefix)
    except NotFound:
        prefix = str(id_or_prefix).strip().lower()
        if not prefix or len(prefix) >= 32 or not set(prefix) <= _HEX:
            raise  # not a prefix of any id: the backend's own message says so
        if len(prefix) < MIN_PREFIX:
            raise NotFound(
                f"No run with id {prefix!r}, and an id prefix needs at least {MIN_PREFIX} "
                "characters. Copy more of the id from 'keel runs ls'."
            ) from None
    # Hex only, so the prefix cannot carry a quote or a LIKE wildcard into the filter.
    matches = backend.search_runs(
        RunQuery(
            filter=f"attributes.run_id LIKE '{prefix}%'",
            max_results=_SHOWN + 1,
            include_details=False,
            include_deleted=True,  # a person typed its id: a deleted run is found too
        )
    )
    if len(matches) == 1:
        return backend.get_run(matches[0].id)
    if not matches:
        raise NotFound(
            f"No run with id or id prefix {prefix!r}. List runs with 'keel runs ls' "
            "(the id column) or keel.search_runs()."
        )
    shown = ", ".join(f"{m.id[:12]} ({m.experiment}/{m.name})" for m in matches[:_SHOWN])
    more = " and more" if len(matches) > _SHOWN else ""
    raise InvalidInput(
        f"The id prefix {prefix!r} is ambiguous: it starts the ids of {shown}{more}. "
        "Give more characters of the id."
    )
