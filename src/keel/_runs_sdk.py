"""Runs read back: ``keel.get_run`` and ``keel.download_artifacts`` on the default client
(:func:`keel.client.default_client`), through a store or a keel server alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from keel.client import default_client
from keel.errors import InvalidInput
from keel.tracking import RunRecord, resolve_run

__all__ = ["download_artifacts", "get_run"]


def get_run(run_id: str) -> RunRecord:
    """Everything recorded about a run: params, latest metrics, tags, artifacts, code,
    environment. ``run_id`` is a whole id or an unambiguous prefix of one.

    Example::

        run = keel.get_run("3f2a9c")
        run.metrics["auc"], [a.name for a in run.artifacts]

    Raises:
        NotFound: no run of the project has this id (or id prefix).
        InvalidInput: several runs start with the prefix.
    """
    return resolve_run(default_client().runs, _run_id(run_id))


def download_artifacts(
    run: str | Any, name: str | None = None, to: str | os.PathLike[str] = "."
) -> list[Path]:
    """Write a run's artifacts under folder ``to`` and return the paths written.

    Args:
        run: a run id (or prefix), a record from :func:`get_run`, or a :class:`keel.Run`.
        name: one artifact (``model.skops``), a folder of them (``plots``), or None for all.
        to: the folder to write into (created if missing); existing files are never
            replaced.

    Example::

        keel.download_artifacts(run.id, "model.skops", to="restored")
    """
    from keel.tracking import download_artifacts as download

    backend = default_client().runs
    if isinstance(run, RunRecord):
        record = backend.get_run(run.id)  # fresh: artifacts logged since it was read
    else:
        record = resolve_run(backend, _run_id(getattr(run, "id", run)))
    return download(backend, record, name, to)


def _run_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            f"A run is named by its id (or an id prefix) as 'keel runs ls' shows it. "
            f"Got {value!r:.80}."
        )
    return value.strip()
