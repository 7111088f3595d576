"""keel.tracking.resolve_run: a run by its id or an unambiguous prefix, on every backend
(SQLite and PostgreSQL, directly and over HTTP), and what an ambiguous prefix says."""

from __future__ import annotations

import pytest

from keel.errors import InvalidInput, NotFound
from keel.store import Store
from keel.tracking import SqlTracking, TrackingBackend, resolve_run
from keel.tracking._resolve import MIN_PREFIX


def _runs(backend: TrackingBackend, n: int) -> list[str]:
    return [backend.create_run("credit", name=f"run-{i}").id for i in range(n)]


def _shared(ids: list[str]) -> str:
    """The prefix the ids share: they start with the time they were made, in ms."""
    shared = ids[0]
    while not all(i.startswith(shared) for i in ids):
        shared = shared[:-1]
    assert len(shared) >= MIN_PREFIX, ids  # made within seconds: the top 16 bits agree
    return shared


def test_a_whole_id_or_a_unique_prefix_names_the_run(backend: TrackingBackend) -> None:
    first, second = _runs(backend, 2)
    backend.put_artifact(second, "notes.txt", "file", b"hello")
    assert resolve_run(backend, second).id == second
    by_prefix = resolve_run(backend, second[:30])  # past the shared time, into the random bits
    assert by_prefix.id == second
    assert [a.name for a in by_prefix.artifacts] == ["notes.txt"]  # the whole record
    assert resolve_run(backend, first[:30].upper()).id == first  # case does not matter


def test_an_ambiguous_prefix_says_so_and_lists_the_runs(backend: TrackingBackend) -> None:
    ids = _runs(backend, 3)
    prefix = _shared(ids)
    with pytest.raises(InvalidInput, match=f"The id prefix '{prefix}' is ambiguous") as info:
        resolve_run(backend, prefix)
    message = info.value.message
    for i, run_id in enumerate(ids):
        assert f"{run_id[:12]} (credit/run-{i})" in message
    assert "Give more characters" in message
    assert "No run" not in message  # ambiguous, not missing
    assert "and more" not in message


def test_past_five_candidates_the_message_says_there_are_more(backend: TrackingBackend) -> None:
    ids = _runs(backend, 7)
    with pytest.raises(InvalidInput, match="is ambiguous") as info:
        resolve_run(backend, _shared(ids))
    assert info.value.message.count("(credit/run-") == 5
    assert "and more" in info.value.message


def test_missing_ids_and_prefixes_say_not_found(backend: TrackingBackend) -> None:
    (run_id,) = _runs(backend, 1)
    unknown = "f" * 12 if not run_id.startswith("f") else "0" * 12
    with pytest.raises(NotFound, match=f"No run with id or id prefix '{unknown}'"):
        resolve_run(backend, unknown)
    with pytest.raises(NotFound, match=f"at least {MIN_PREFIX} characters"):
        resolve_run(backend, run_id[: MIN_PREFIX - 1])
    with pytest.raises(NotFound, match="No run with id 'baseline'"):
        resolve_run(backend, "baseline")  # not hex: never taken as a prefix
    with pytest.raises(NotFound, match="No run with id"):
        resolve_run(backend, run_id + "0")  # longer than an id


def test_a_prefix_only_matches_runs_of_the_backends_project(store: Store) -> None:
    store.create_project("credit")
    store.create_project("fraud")
    mine = SqlTracking(store, project="credit")
    theirs = SqlTracking(store, project="fraud")
    ours = mine.create_run("credit").id
    other = theirs.create_run("fraud").id
    assert resolve_run(mine, _shared([ours, other])).id == ours
    assert resolve_run(theirs, _shared([ours, other])).id == other
    with pytest.raises(NotFound):
        resolve_run(mine, other)


@pytest.mark.parametrize("suffix", ["%", "_", "' OR '1'='1", "\\"])
def test_filter_syntax_in_a_prefix_is_not_a_pattern(backend: TrackingBackend, suffix: str) -> None:
    shared = _shared(_runs(backend, 2))
    with pytest.raises(NotFound, match="No run with id"):  # not "ambiguous": matched nothing
        resolve_run(backend, shared + suffix)
