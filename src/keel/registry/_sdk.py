"""The registry SDK: ``keel.register_model``, ``keel.load_model`` and the registry's verbs
(``keel.set_alias``, ``keel.approve``, ``keel.reject``, ``keel.evaluate``), named as the
CLI names them, on the default client (a store or a keel server alike)."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidInput

from ._records import ModelVersion

if TYPE_CHECKING:
    from keel.client import Client

    from ._evaluate import Evaluation
    from ._http import HttpRegistry
    from ._service import RegistryService

__all__ = [
    "MissingLineageWarning",
    "approve",
    "evaluate",
    "load_model",
    "register_model",
    "registry",
    "reject",
    "set_alias",
]

log = logging.getLogger("keel.registry")


class MissingLineageWarning(UserWarning):
    """A model was registered from a run that recorded no input dataset: its training data
    is unknown to lineage, monitors and model cards."""


def registry() -> RegistryService | HttpRegistry:
    """The default client's model registry (:func:`keel.client.default_client`)."""
    from keel.client import default_client

    return default_client().models


def register_model(
    model: Any,
    name: str,
    input_example: Any = None,
    run: Any = None,
    metrics: Mapping[str, float] | None = None,
    description: str | None = None,
    flavor: str | None = None,
    training_data: Iterable[Any] | None = None,
) -> ModelVersion:
    """Package ``model`` and register it as the next version of ``name`` (``credit:4``).

    The signature is inferred from ``input_example``. Inside an active run, the run is the
    version's source (lineage) unless ``run`` is given (a run id or a run). A version from a
    run carries, unless told otherwise:

    - ``metrics``: the run's latest metrics (``metrics={...}`` gives others, ``{}`` none);
    - ``training_data``: the dataset versions the run recorded as inputs (through
      ``keel.load_dataset`` or ``keel.start_run(inputs=[...])``); give references such as
      ``["credit:v3"]`` to name others, ``[]`` for none.

    A run that recorded no input gets a :class:`MissingLineageWarning` (and a log line):
    its model's training data would be unknown.

    Example::

        with keel.start_run(experiment="credit", inputs=["credit:v3"]) as run:
            run.log_metric("auc", 0.91)
            version = keel.register_model(model, "credit", input_example=X.head())
        version.metrics   # {'auc': 0.91}
    """
    from keel._context import active_run
    from keel.client import default_client

    client = default_client()
    if run is None and (active := active_run()) is not None:
        run = active
    run_id = _run_id(run)
    if run_id is not None:
        from keel.tracking import Run

        # a live run's info flushes its buffered metrics first
        record = run.info if isinstance(run, Run) else client.runs.get_run(run_id)
        if metrics is None:
            metrics = {
                k: v
                for k, v in record.metrics.items()
                if not k.startswith("system/") and math.isfinite(v)
            }
        if training_data is None:
            training_data = run_inputs(client, run_id, tags=record.tags)
            if not training_data:
                _warn_no_inputs(name, run_id)
    training = [_dataset_ref(client, ref) for ref in _refs(training_data)]
    return client.models.register(
        model,
        name,
        input_example=input_example,
        run=run_id,
        metrics=metrics,
        description=description,
        flavor=flavor,
        training_data=training,
    )


def run_inputs(client: Client, run_id: str, *, tags: Mapping[str, str] | None = None) -> list[str]:
    """The dataset versions a run recorded as inputs (``credit:v3``, ...), sorted: its
    lineage edges, and the references ``run.log_input("credit:v3")`` kept as
    ``keel.input.<role>`` tags (those that name a version of the project)."""
    from keel.errors import KeelError

    graph = client.lineage(f"run:{run_id}", direction="up", depth=1)
    found = {
        graph.nodes[e.src].label
        for e in graph.edges
        if e.dst == ("run", run_id) and e.src[0] == "dataset_version" and e.relation == "input_to"
    }
    for key, ref in (tags or {}).items():
        if key.startswith("keel.input.") and ref:
            try:
                found.add(client.datasets.resolve(ref).ref)
            except KeelError:
                continue  # a tag is free text: one naming no version is no input
    return sorted(found)


def _warn_no_inputs(name: str, run_id: str) -> None:
    message = (
        f"Registering {name!r} from run {run_id[:12]}, which recorded no input dataset: the "
        "model's training data will be unknown to lineage and monitors. Load the data inside "
        "the run with keel.load_dataset, pass keel.start_run(inputs=[...]) or "
        "run.log_input(...), or say which data it was with training_data=[...]."
    )
    log.warning(message)
    warnings.warn(message, MissingLineageWarning, stacklevel=3)


def _run_id(run: Any) -> str | None:
    if run is None:
        return None
    value = getattr(run, "id", run)
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"run= takes a run id or a run (keel.start_run, keel.get_run). Got {run!r:.80}."
        )
    return value


def _refs(training_data: Iterable[Any] | None) -> list[Any]:
    if training_data is None:
        return []
    if isinstance(training_data, str) or not isinstance(training_data, Iterable):
        training_data = [training_data]  # one reference: a list of one, not of characters
    return list(training_data)


def _dataset_ref(client: Client, ref: Any) -> str:
    """A dataset version's canonical reference (``credit:v3``); NotFound if there is none."""
    if not isinstance(ref, str) and not hasattr(ref, "ref"):
        raise InvalidInput(
            "training_data= takes dataset versions or references such as 'credit:v3'. "
            f"Got {ref!r:.80}."
        )
    return client.datasets.resolve(ref).ref


def load_model(ref: str, trust: bool = False, native: bool = True):
    """Load ``credit@champion`` or ``credit:4``; ``predict(df)`` enforces its signature.

    ``trust=True`` is needed for pyfunc packages, which unpickle arbitrary code.

    A scikit-learn model made of linear models and scalers predicts with NumPy alone
    (its native scorer: no scikit-learn, SciPy, skops or pandas imported to load it);
    ``loaded.native`` loads the estimator on first access. ``native=False`` loads the
    estimator at once and predicts with it.
    """
    return registry().load(ref, trust=trust, native=native)


def set_alias(ref: str | ModelVersion, alias: str, reason: str | None = None) -> ModelVersion:
    """Point ``alias`` at a version (``keel models alias``), if the model's policy allows.

    Example::

        keel.set_alias("credit:4", "champion", reason="beats credit:3 on holdout:v2")
    """
    return registry().set_alias(ref, alias, reason=reason)


def approve(ref: str | ModelVersion, comment: str | None = None) -> ModelVersion:
    """Record your approval of a version (``keel models approve``); returns the version."""
    models = registry()
    version = models.get(ref)
    models.approve(version, comment)
    return version


def reject(ref: str | ModelVersion, comment: str | None = None) -> ModelVersion:
    """Record your rejection of a version (``keel models reject``): a policy then blocks
    its promotion until you approve it again. Returns the version."""
    models = registry()
    version = models.get(ref)
    models.reject(version, comment)
    return version


def evaluate(
    ref: str | ModelVersion,
    data: str,
    label: str,
    against: str | None = None,
    by: str | None = None,
    gate: str | None = None,
    backtest: str | None = None,
    freq: str = "month",
) -> Evaluation:
    """Evaluate a version on a dataset, against another, with a gate (``keel models
    evaluate``); the result is recorded where promotion policies look.

    Example::

        result = keel.evaluate("credit:4", data="holdout:v1", label="default",
                               against="credit@champion", gate="roc_auc >= champion.roc_auc")
        result.passed
    """
    from keel.client import default_client

    # both transports evaluate: the store's service here, the server (under the token's name)
    return default_client().models.evaluate(  # type: ignore[union-attr]
        ref.ref if isinstance(ref, ModelVersion) else ref,
        data=data,
        label=label,
        against=against,
        by=by,
        gate=gate,
        backtest=backtest,
        freq=freq,
    )
