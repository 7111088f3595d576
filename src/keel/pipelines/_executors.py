"""Executors: where steps run. One scheduler (:mod:`._runner`) decides what runs when; an
executor only supplies ``submit(payload, resources) -> Future`` for a packed step.

- ``local``: a step alone runs in the orchestrating process (no pickling, no process start);
  independent ready branches run in a process pool (``forkserver`` processes, so a worker
  never inherits the parent's database connections or threads).
- ``ray``: each step is a Ray task reserving the step's resources, on the cluster at
  ``KEEL_RAY_ADDRESS`` or a local Ray (``num_cpus=2``) started on first use.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import Any, Protocol

from keel.errors import InvalidInput, did_you_mean

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]


class Executor(Protocol):
    """Where packed steps run."""

    name: str
    inline: bool
    """Whether a step that is alone in being ready runs in the orchestrating process."""

    def submit(self, payload: bytes, resources: dict[str, Any], fn: Any = None) -> Future:
        """Run ``fn`` (:func:`keel.pipelines._worker.run_packed` by default) on ``payload``
        somewhere."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


class LocalExecutor:
    """In-process, with a process pool for independent branches."""

    name = "local"
    inline = True

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (
            isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
        ):
            raise InvalidInput(f"max_workers must be a whole number >= 1. Got {max_workers!r}.")
        self.max_workers = max_workers or os.cpu_count() or 1
        self._pool: Any = None

    def submit(self, payload: bytes, resources: dict[str, Any], fn: Any = None) -> Future:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                self.max_workers, mp_context=multiprocessing.get_context("forkserver")
            )
        from ._worker import run_packed

        return self._pool.submit(fn or run_packed, payload)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Each step a Ray task with its declared resources."""

    name = "ray"
    inline = False

    def __init__(self, max_workers: int | None = None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise InvalidInput(
                "The ray executor needs Ray: pip install 'keelml[ray]'. Or run with "
                "executor='local'."
            ) from None
        self._ray = ray
        if not ray.is_initialized():
            if address:
                ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
            else:
                import sys

                path = os.pathsep.join(p for p in sys.path if p)
                ray.init(
                    num_cpus=2,
                    ignore_reinit_error=True,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env={"env_vars": {"PYTHONPATH": path}},
                )
        self._remotes: dict[Any, Any] = {}

    def submit(self, payload: bytes, resources: dict[str, Any], fn: Any = None) -> Future:
        from ._worker import run_packed

        fn = fn or run_packed
        remote = self._remotes.get(fn)
        if remote is None:
            remote = self._remotes[fn] = self._ray.remote(fn)
        options = {k: v for k, v in resources.items() if k in ("num_cpus", "num_gpus", "memory")}
        options.setdefault("num_cpus", 1)
        return remote.options(**options).remote(payload).future()

    def close(self) -> None:
        pass  # the Ray runtime stays up for the next run of this process


EXECUTORS = {"local": LocalExecutor, "ray": RayExecutor}


def check_executor(name: object) -> str:
    """``name`` if it names an executor.

    Raises:
        InvalidInput: it does not (with the names and a did-you-mean).
    """
    if name not in EXECUTORS:
        raise InvalidInput(
            f"Unknown executor {str(name)[:40]!r}.{did_you_mean(str(name), list(EXECUTORS))} "
            f"The executors are: {', '.join(EXECUTORS)}."
        )
    return str(name)


def make_executor(name: str, *, max_workers: int | None = None, ray_address: str | None = None):
    """The executor called ``name``."""
    check_executor(name)
    if name == "ray":
        return RayExecutor(max_workers, address=ray_address)
    return LocalExecutor(max_workers)
