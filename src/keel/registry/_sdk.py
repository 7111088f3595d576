"""The registry SDK: ``keel.register_model`` and ``keel.load_model`` on the default store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._records import ModelVersion
from ._service import RegistryService

__all__ = ["load_model", "register_model", "registry"]


def registry() -> RegistryService:
    """The registry of the current configuration's store."""
    from keel.config import current
    from keel.errors import ConfigError
    from keel.store import default_store

    config = current()
    if config.is_remote:
        raise ConfigError(
            "The model registry is used against a store, not yet through a keel server: point "
            "KEEL_URI at the database (and KEEL_OBJECTS at the object store)."
        )
    return RegistryService(default_store(), project=config.project)


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
    from keel.tracking import active_run

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
