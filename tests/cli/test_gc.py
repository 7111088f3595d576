"""ProcessGc: the collector paused for imports, then frozen, only for a process that ends
with its command."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from keel.cli._gc import ProcessGc


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()  # back to the oldest generation: collectable again
    if enabled:
        gc.enable()


def test_an_inactive_process_gc_changes_nothing() -> None:
    gc.unfreeze()
    collector = ProcessGc(active=False)
    collector.pause()
    assert gc.isenabled()
    collector.settle()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_pause_then_resume_freezes_what_is_alive_and_collects_again() -> None:
    gc.unfreeze()
    collector = ProcessGc(active=True)
    collector.pause()
    assert not gc.isenabled()
    held = [[] for _ in range(1_000)]  # made while paused: frozen by resume
    collector.resume()
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    assert frozen >= len(held)
    collector.resume()  # once only: a second call neither freezes nor toggles
    assert gc.get_freeze_count() == frozen
    later = [[] for _ in range(1_000)]
    collector.settle()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen + len(later)


def test_resume_keeps_a_collector_that_was_off_off() -> None:
    gc.disable()
    collector = ProcessGc(active=True)
    collector.pause()
    collector.settle()
    assert not gc.isenabled()


def test_cycles_made_while_paused_are_not_lost_for_good_in_a_test_process() -> None:
    # an inactive collector (a CliRunner inside pytest) leaves garbage collectable
    gc.collect()
    collector = ProcessGc(active=False)
    collector.pause()
    cycle: list = []
    cycle.append(cycle)
    del cycle
    collector.settle()
    assert gc.collect() >= 1
