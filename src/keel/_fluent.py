"""Module-level shortcuts on the active run, like MLflow's, but safe under threads
and asyncio: the active run is a context variable, not a global."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from keel import _context
from keel._context import pop_run, push_run
from keel.client import default_client
from keel.errors import InvalidInput
from keel.tracking import Run, RunQuery, RunStatus

__all__ = [
    "active_run",
    "end_run",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "start_run",
]


def start_run(
    experiment: str | None = None,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    capture: bool = True,
    inputs: Iterable[Any] | None = None,
    deferred: bool = False,
) -> Run:
    """Start a run (or resume ``run_id``) and make it the active run.

    Started inside another active run, it becomes that run's child. Use it in a
    ``with`` block, or call :func:`end_run`.

    ``inputs`` are the dataset versions the run consumes (versions or references such as
    ``"credit:v3"``): each is linked in lineage as the run's training input, and a model
    registered in the run carries them as its training data. Data loaded with
    :func:`keel.load_dataset` inside the run is linked without being named here. Every
    reference is checked before the run starts.

    ``deferred=True`` (opt-in) writes a short run in one transaction (one request to a
    server), created ended with its params, tags and metrics, at the cost of the run not
    being visible to others, nor recorded at all if the process dies, until it ends or
    about a second has passed; see :meth:`keel.tracking.Tracker.start_run`.

    Example::

        train = keel.log_dataset(df, "credit")
        with keel.start_run(experiment="credit", params={"C": 1.0}, inputs=[train]) as run:
            run.log_metric("auc", 0.91)
    """
    client = default_client()
    datasets = _resolve_inputs(client, inputs)
    parent = active_run()
    run = client.tracker.start_run(
        experiment or (parent.experiment if parent else "default"),
        name=name,
        params=params,
        tags=tags,
        run_id=run_id,
        parent_id=parent.id if parent and run_id is None else None,
        capture=capture,
        deferred=deferred,
    )
    push_run(run)
    run._on_end.append(pop_run)
    for version in datasets:
        run.log_input(version)
    return run


def _resolve_inputs(client: Any, inputs: Iterable[Any] | None) -> list[Any]:
    """The dataset versions ``inputs`` names, all resolved before the run is created."""
    if inputs is None:
        return []
    if isinstance(inputs, str) or not isinstance(inputs, Iterable):
        inputs = [inputs]  # one reference given alone
    versions = []
    for item in inputs:
        if not isinstance(item, str) and not hasattr(item, "ref"):
            raise InvalidInput(
                "start_run(inputs=...) takes dataset versions or references such as "
                f"'credit:v3'. Got {item!r:.80}."
            )
        versions.append(client.datasets.resolve(item))
    return versions


def active_run() -> Run | None:
    """The innermost active run of this context, or None."""
    return _context.active_run()


def _require_active() -> Run:
    run = active_run()
    if run is None:
        raise InvalidInput(
            "No active run. Start one first: 'with keel.start_run(experiment=...) as run:'."
        )
    return run


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run."""
    _require_active().end(status)


def log_param(key: str, value: Any) -> None:
    """Log a param on the active run."""
    _require_active().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _require_active().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log a metric point on the active run (buffered, written in the background)."""
    _require_active().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    _require_active().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    _require_active().set_tag(key, value)


def log_artifact(source: Any, name: str | None = None) -> None:
    _require_active().log_artifact(source, name)


def search_runs(
    experiment: str | list[str] | None = None,
    filter: str | None = None,
    order_by: list[str] | None = None,
    max_results: int = 1000,
):
    """Runs as a pandas DataFrame: one row per run, ``params.*``, ``metrics.*``, ``tags.*``.

    The filter is parsed (never pasted into SQL) and pushed down into SQL, e.g.
    ``"metrics.auc > 0.8 and params.model = 'gbm' and tags.team = 'risk'"``.
    """
    from keel._search_frame import run_frame
    from keel.tracking._columns import RunColumns

    experiments = (experiment,) if isinstance(experiment, str) else tuple(experiment or ())
    query = RunQuery(experiments, filter, tuple(order_by or ()), max_results)
    backend = default_client().tracker.backend
    # a store answers in columns (no object per run); a server, in runs
    search_columns = getattr(backend, "search_columns", None)
    if search_columns is not None:
        return run_frame(search_columns(query))
    return run_frame(RunColumns.from_records(backend.search_runs(query)))
