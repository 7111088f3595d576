"""The data SDK: ``keel.log_dataset``, ``keel.load_dataset`` and friends on the default store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._service import DatasetService
from ._versions import DatasetVersion

__all__ = ["dataset_service", "load_dataset", "log_dataset"]


def dataset_service() -> DatasetService:
    """The default client's dataset service (:func:`keel.client.default_client`)."""
    from keel.client import default_client

    return default_client().datasets


def log_dataset(
    obj: Any,
    name: str,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    parents: Iterable[DatasetVersion | str] | None = None,
) -> DatasetVersion:
    """Version a DataFrame, Arrow table, table file or folder as the next ``name:vN``.

    Inside an active run, the run is recorded as the version's producer (lineage).

    Example::

        version = keel.log_dataset(df, "credit", description="applications 2024-Q1")
        version.ref   # 'credit:v3'
    """
    from keel._context import active_run

    run = active_run()
    return dataset_service().log(
        obj,
        name,
        description=description,
        tags=tags or (),
        parents=parents or (),
        producer=("run", run.id) if run is not None else None,
    )


def load_dataset(ref: str | DatasetVersion, format: str = "pandas") -> Any:
    """Read a table version: ``pandas`` (default), ``arrow`` or a ``duckdb`` relation.

    Inside an active run, the version is recorded as the run's input (lineage).
    """
    from keel._context import active_run

    service = dataset_service()
    version = service.resolve(ref)
    run = active_run()
    if run is not None:
        run.log_input(version)
    return service.load(version, format=format)
