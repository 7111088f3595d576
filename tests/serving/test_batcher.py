"""Micro-batching on a real event loop: batches form, outputs split back, the queue is bounded."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest

from keel.serving._batcher import Batcher, QueueFull, _concat


def _frame(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"a": np.array(values, dtype="float64"), "b": np.ones(len(values))})


def test_requests_arriving_together_share_one_predict() -> None:
    batches: list[int] = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return frame["a"].to_numpy() * 10

    async def main() -> list:
        batcher = Batcher(
            predict, max_batch_size=64, max_wait_ms=20, on_batch=lambda n, _: batches.append(n)
        )
        answers = await asyncio.gather(*(batcher.submit(_frame(i, i + 0.5)) for i in range(10)))
        await batcher.close()
        return answers

    answers = asyncio.run(main())
    for i, answer in enumerate(answers):
        assert answer.tolist() == [i * 10, (i + 0.5) * 10]  # each request gets its own rows
    assert sum(batches) == 20
    assert max(batches) > 2  # several requests in one batch


def test_a_lone_request_does_not_wait_for_company() -> None:
    async def main() -> float:
        batcher = Batcher(lambda f: f["a"].to_numpy(), max_wait_ms=5_000)
        started = time.perf_counter()
        await batcher.submit(_frame(1.0))
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    assert asyncio.run(main()) < 2.5  # far below the 5 s a waiting batcher would take


def test_a_full_queue_refuses_and_a_failing_model_fails_only_its_batch() -> None:
    def slow(frame: pd.DataFrame) -> np.ndarray:
        time.sleep(0.05)
        if (frame["a"] < 0).any():
            raise ValueError("negative")
        return frame["a"].to_numpy()

    async def main() -> tuple[list, object]:
        batcher = Batcher(slow, max_batch_size=1, max_wait_ms=0, max_queue=2)
        results = await asyncio.gather(
            *(batcher.submit(_frame(i)) for i in range(8)), return_exceptions=True
        )
        failed = await asyncio.gather(batcher.submit(_frame(-1.0)), return_exceptions=True)
        after = await batcher.submit(_frame(3.0))
        await batcher.close()
        return results + failed, after

    results, after = asyncio.run(main())
    assert any(isinstance(r, QueueFull) for r in results)
    assert any(isinstance(r, np.ndarray) for r in results)
    assert isinstance(results[-1], ValueError)
    assert after.tolist() == [3.0]


def test_close_finishes_what_is_queued() -> None:
    async def main() -> list:
        batcher = Batcher(lambda f: f["a"].to_numpy(), max_batch_size=2, max_wait_ms=1)
        tasks = [asyncio.ensure_future(batcher.submit(_frame(i))) for i in range(6)]
        await asyncio.sleep(0)
        await batcher.close()
        return [t.result().tolist() for t in tasks]

    assert asyncio.run(main()) == [[i] for i in range(6)]


def test_concat_stacks_numeric_blocks_and_falls_back_for_mixed_frames() -> None:
    stacked = _concat([_frame(1, 2), _frame(3)])
    assert stacked["a"].tolist() == [1, 2, 3]
    assert list(stacked.columns) == ["a", "b"]
    mixed = _concat([pd.DataFrame({"x": ["p"], "y": [1]}), pd.DataFrame({"x": ["q"], "y": [2]})])
    assert mixed["x"].tolist() == ["p", "q"]
    assert mixed["y"].tolist() == [1, 2]


@pytest.mark.parametrize("rows", [1, 100])
def test_a_dataframe_output_is_split_by_rows(rows: int) -> None:
    async def main() -> list:
        batcher = Batcher(lambda f: pd.DataFrame({"p": f["a"].to_numpy()}), max_wait_ms=10)
        answers = await asyncio.gather(
            batcher.submit(_frame(*range(rows))), batcher.submit(_frame(-1))
        )
        await batcher.close()
        return answers

    first, second = asyncio.run(main())
    assert first["p"].tolist() == list(range(rows))
    assert second["p"].tolist() == [-1]
