"""The data SDK: ``keel.log_dataset``, ``keel.load_dataset`` and ``keel.ingest`` on the
default client (:func:`keel.client.default_client`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keel.client import default_client
from keel.data import DatasetService, DatasetVersion, IngestResult

__all__ = ["dataset_service", "ingest", "load_dataset", "log_dataset"]


def dataset_service() -> DatasetService:
    """The default client's dataset service (:func:`keel.client.default_client`)."""
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
    """Read a table version: ``pandas`` (default), ``arrow``, ``polars`` or a ``duckdb``
    relation (polars is optional: ``pip install polars``).

    Inside an active run, the version is recorded as the run's input (lineage).
    """
    from keel._context import active_run

    service = dataset_service()
    version = service.resolve(ref)
    table = service.load(version, format=format)  # a bad format records no input
    run = active_run()
    if run is not None:
        run.log_input(version)
    return table


def ingest(source: str, name: str, **options: Any) -> IngestResult:
    """Read ``source`` where it lives and version it as the next version of ``name``
    (see :func:`keel.data.ingest` for the sources and options)."""
    from keel.data import ingest as ingest_into

    return ingest_into(source, name, service=dataset_service, **options)
