"""BLAS threads are limited while a batch job scores, and restored after."""

from __future__ import annotations

import os

from threadpoolctl import threadpool_info

from keel.serving._batch_blas import blas_threads_for_scoring


def blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_all_cores_but_one_inside_and_the_old_count_after() -> None:
    before = blas_threads()
    assert before, "NumPy's BLAS should be listed by threadpoolctl"
    with blas_threads_for_scoring():
        assert set(blas_threads()) == {max(1, (os.cpu_count() or 1) - 1)}
    assert blas_threads() == before


def test_numpys_openblas_is_found_without_threadpoolctl() -> None:
    from keel.serving._batch_blas import openblas_libraries

    listed = {
        i["filepath"] for i in threadpool_info() if i["internal_api"] == "openblas"
    }  # what threadpoolctl finds, the long way
    found = openblas_libraries()
    assert len(found) == len(listed) >= 1
    for get, _ in found:
        assert get() >= 1
