"""The stat cache's writes: a batch of rows is one SQLite transaction."""

from __future__ import annotations

from pathlib import Path

from keel.store.objects._statcache import StatCache

PAGE_FRAME = 4096 + 24  # a WAL frame: one page and its header


def test_a_batch_of_rows_is_one_transaction(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "stat.db", str(tmp_path / "objects"))
    rows = [(f"data/f{i:05d}.bin", i, i, i, "ab" * 32, i + 1) for i in range(2000)]
    cache.record(rows)
    # one commit per row would append at least one frame per row to the write-ahead log
    # (about 1,000 before each checkpoint); one transaction writes the table's few pages
    assert (tmp_path / "stat.db-wal").stat().st_size < 300 * PAGE_FRAME
    entries = cache.entries("data", folder=True)
    assert len(entries) == 2000
    assert entries["data/f01999.bin"] == (1999, 1999, 1999, "ab" * 32, 2000)
    cache.forget(f"data/f{i:05d}.bin" for i in range(1000))
    assert len(cache.entries("data", folder=True)) == 1000
    cache.close()
