"""The registry SDK: ``keel.register_model`` and ``keel.load_model`` on the default store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._records import ModelVersion
from ._service import RegistryService

__all__ = ["load_model", "register_model", "registry"]


def registry() -> RegistryService:
    """The default client's model registry (:func:`keel.client.default_client`)."""
    from keel.client import default_client

    return default_client().models


def register_model(
    model: Any,
    name: str,
    input_example: Any = None,
    run: str | None = None,
    metrics: Mapping[str, float] | None = None,
    description: str | None = None,
    flavor: str | None = None,
) -> ModelVersion:
    """Package ``model`` and register it as the next version of ``name`` (``credit:4``).

    The signature is inferred from ``input_example``. Inside an active run, the run is the
    version's source (lineage) unless ``run`` is given.
    """
    from keel._context import active_run

    if run is None and (active := active_run()) is not None:
        run = active.id
    return registry().register(
        model,
        name,
        input_example=input_example,
        run=run,
        metrics=metrics,
        description=description,
        flavor=flavor,
    )


def load_model(ref: str, trust: bool = False):
    """Load ``credit@champion`` or ``credit:4``; ``predict(df)`` enforces its signature.

    ``trust=True`` is needed for pyfunc packages, which unpickle arbitrary code.
    """
    return registry().load(ref, trust=trust)
