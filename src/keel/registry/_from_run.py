"""Register the model a run logged (a skops artifact, as autolog and the quickstart write it)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from typing import TYPE_CHECKING

from keel.errors import InvalidInput

from ._records import ModelVersion

if TYPE_CHECKING:
    from keel.data import DatasetService
    from keel.tracking import TrackingBackend

    from ._service import RegistryService

__all__ = ["EXAMPLE_ROWS", "register_from_run"]

EXAMPLE_ROWS = 5
"""Rows of the example dataset kept as the version's input example."""


def register_from_run(
    registry: RegistryService,
    run_id: str,
    name: str,
    *,
    runs: TrackingBackend,
    datasets: DatasetService | None = None,
    artifact: str = "model.skops",
    example: str | None = None,
    drop: Iterable[str] = (),
) -> ModelVersion:
    """Register the scikit-learn model in run ``run_id``'s ``artifact`` as the next version
    of ``name``, with the run's metrics (not its ``system/*`` ones) and the run as its source.

    The artifact loads under the same type allow-list as a registered package: a file
    naming a type outside it is refused, never loaded.

    Args:
        registry: where to register.
        run_id: the run's id, or an unambiguous prefix of it.
        name: the model's name.
        runs: where the run is recorded.
        datasets: where ``example`` is; the registry's store by default.
        artifact: the run's skops artifact.
        example: a dataset reference (``credit:v3``) whose first rows become the input
            example, from which the signature is inferred.
        drop: columns of ``example`` that are not model inputs (the label, ids); names
            the dataset does not have are ignored.

    Raises:
        NotFound: no such run or artifact, or no such dataset.
        InvalidInput: the prefix is ambiguous, or the artifact is not a skops file.
        PermissionDenied: the artifact names a type outside the allow-list.
    """
    from keel.tracking import resolve_run

    from .flavors._sklearn import loads_checked

    record = resolve_run(runs, run_id)
    with runs.open_artifact(record.id, artifact) as fh:
        raw = fh.read()
    source = f"Artifact {artifact!r} of run {record.id}"
    try:
        model = loads_checked(raw, trust=False, source=source)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        # what skops raises on bytes that are not one of its files (the checks above it
        # raise KeelErrors, which pass through)
        raise InvalidInput(
            f"{source} is not a skops file ({str(exc)[:200]}). Give the artifact that holds "
            "the model with --artifact (log it with run.log_artifact(skops.io.dumps(model), "
            "'model.skops')), or register the model object with keel.register_model()."
        ) from exc
    input_example = None
    if example:
        if datasets is None:
            from keel.data import DatasetService

            datasets = DatasetService(registry.store, project=registry.project)
        frame = datasets.load(example)
        input_example = frame.drop(columns=list(drop), errors="ignore").head(EXAMPLE_ROWS)
    metrics = {k: v for k, v in record.metrics.items() if not k.startswith("system/")}
    return registry.register(
        model, name, input_example=input_example, run=record.id, metrics=metrics
    )
