"""``@keel.step`` and ``@keel.pipeline``: functions become steps, and steps a DAG.

A pipeline is built by calling its function once with placeholders for its params: each
step called inside returns a handle to its output (several for a step declaring
``outputs=``); an argument that is a handle is an edge, anything else is the step's param.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidInput

from ._params import check_params, params_of

if TYPE_CHECKING:
    from ._result import PipelineRun

FILE_MODULE_PREFIX = "keel_pipeline_"
"""Name prefix of a module keel imported from a pipeline file (``keel pipeline run f.py:p``)."""
_STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")

__all__ = ["Graph", "Handle", "Node", "ParamRef", "Pipeline", "Step", "pipeline", "step"]


class ParamRef:
    """A pipeline param while the DAG is built: passed to steps, resolved when a run starts."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ParamRef({self.name!r})"

    def __bool__(self) -> bool:
        raise InvalidInput(
            f"The pipeline param {self.name!r} has no value while the DAG is built: pass it "
            "to a step, and branch on it inside the step, not in the pipeline function."
        )


@dataclass(frozen=True)
class Handle:
    """An output of a step call inside a pipeline: pass it to another step as an input."""

    node: str
    output: str = "return"
    graph_id: int = 0

    def __repr__(self) -> str:
        return f"<output {self.output!r} of step {self.node!r}>"

    def __iter__(self):
        raise InvalidInput(
            f"Step {self.node!r} has one output: to unpack several, declare them with "
            "@keel.step(outputs=('a', 'b')) and return a tuple or a dict."
        )


@dataclass
class Node:
    """One call of a step in a pipeline: its inputs (handles) and params (values or refs)."""

    name: str
    step: Step
    inputs: dict[str, Handle] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def upstream(self) -> list[str]:
        return sorted({h.node for h in self.inputs.values()})

    def resolved_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: values[v.name] if isinstance(v, ParamRef) else v for k, v in self.params.items()}

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "function": self.step.entry,
            "inputs": {k: f"{h.node}.{h.output}" for k, h in self.inputs.items()},
            "params": {
                k: {"$param": v.name} if isinstance(v, ParamRef) else v
                for k, v in self.params.items()
            },
            "outputs": list(self.step.outputs),
            "cache": self.step.cache,
            "retries": self.step.retries,
            "resources": dict(self.step.resources),
        }


@dataclass
class Graph:
    """The DAG of a pipeline: nodes in the order they were called (a topological order)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    result: Any = None  # a handle, a tuple or dict of handles, or None

    def order(self) -> list[str]:
        """Node names in an order where each comes after its inputs.

        Raises:
            InvalidInput: the graph has a cycle or an input from no node.
        """
        done: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = " -> ".join([*path[path.index(name) :], name])
                raise InvalidInput(f"The pipeline's steps form a cycle: {cycle}. Remove one edge.")
            if name not in self.nodes:
                raise InvalidInput(
                    f"Step {path[-1]!r} takes an input from {name!r}, which is not a step of this "
                    "pipeline. Call that step inside the pipeline function first."
                )
            state[name] = 1
            for up in self.nodes[name].upstream():
                visit(up, [*path, name])
            state[name] = 2
            done.append(name)

        for name in self.nodes:
            visit(name, [])
        return done


_building: contextvars.ContextVar[tuple[Graph, int] | None] = contextvars.ContextVar(
    "keel_pipeline_building", default=None
)


class Step:
    """A function made a pipeline step by :func:`step`; called outside a pipeline it is the
    plain function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        cache: bool = True,
        retries: int = 0,
        retry_backoff: float = 0.5,
        resources: Mapping[str, Any] | None = None,
        outputs: tuple[str, ...] | list[str] | None = None,
        dataset: str | None = None,
        model: str | None = None,
        materializer: Any = None,
    ) -> None:
        if not callable(fn):
            raise InvalidInput(f"@keel.step decorates a function. Got {type(fn).__name__}.")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidInput(f"retries must be a whole number >= 0. Got {retries!r}.")
        if isinstance(retry_backoff, bool) or not isinstance(retry_backoff, (int, float)):
            raise InvalidInput(f"retry_backoff must be seconds (a number). Got {retry_backoff!r}.")
        if retry_backoff < 0:
            raise InvalidInput(f"retry_backoff must be >= 0 seconds. Got {retry_backoff!r}.")
        if materializer is not None and not (
            callable(getattr(materializer, "save", None))
            and callable(getattr(materializer, "load", None))
        ):
            raise InvalidInput(
                f"materializer= of step {fn.__name__!r} must have save(value, ctx) -> dict and "
                f"load(ref, ctx) -> value methods. Got {type(materializer).__name__}."
            )
        self.fn = fn
        self.name = name or fn.__name__
        if not isinstance(self.name, str) or not _STEP_NAME.match(self.name):
            raise InvalidInput(
                f"Step name {self.name!r} is not valid: use 1 to 100 letters, digits, '_' or "
                "'-' (it names the step's datasets and models). Give one with "
                "@keel.step(name=...)."
            )
        self.cache = bool(cache)
        self.retries = retries
        self.retry_backoff = float(retry_backoff)
        self.resources = _check_resources(self.name, resources or {})
        self.outputs = tuple(outputs) if outputs else ("return",)
        if len(set(self.outputs)) != len(self.outputs) or not all(
            isinstance(o, str) and o for o in self.outputs
        ):
            raise InvalidInput(f"outputs= of step {self.name!r} must be distinct names.")
        self.dataset = dataset
        self.model = model
        self.materializer = materializer
        self.signature = inspect.signature(fn)
        self.entry = f"{fn.__module__}:{fn.__qualname__}"
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<keel step {self.name!r} ({self.entry})>"

    @property
    def code_hash(self) -> str:
        from ._hashing import code_hash

        return code_hash(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        building = _building.get()
        if building is None:
            return self.fn(*args, **kwargs)
        return self._add(building[0], building[1], args, kwargs)

    def _add(self, graph: Graph, graph_id: int, args: tuple, kwargs: dict) -> Any:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(
                f"Step {self.name!r} is called with the wrong arguments in the pipeline: {exc}. "
                f"Its signature is {self.name}{self.signature}."
            ) from None
        bound.apply_defaults()
        name = self.name
        n = 2
        while name in graph.nodes:
            name, n = f"{self.name}_{n}", n + 1
        node = Node(name, self)
        for arg, value in bound.arguments.items():
            kind = self.signature.parameters[arg].kind
            if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise InvalidInput(
                    f"Step {self.name!r} takes *{arg}: steps take named arguments only."
                )
            if isinstance(value, Handle):
                if value.graph_id != graph_id:
                    raise InvalidInput(
                        f"Step {self.name!r} gets {value!r}, from another pipeline: pass outputs "
                        "of steps called in this pipeline function."
                    )
                node.inputs[arg] = value
            elif isinstance(value, ParamRef):
                node.params[arg] = value
            else:
                node.params[arg] = _constant(self.name, arg, value)
        graph.nodes[name] = node
        if self.outputs == ("return",):
            return Handle(name, "return", graph_id)
        return tuple(Handle(name, out, graph_id) for out in self.outputs)


def _constant(step: str, arg: str, value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)) and _has_handle(value):
        raise InvalidInput(
            f"Step {step!r} gets step outputs inside a {type(value).__name__} for {arg!r}: pass "
            "each output as its own argument."
        )
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"Step {step!r} gets {type(value).__name__} for {arg!r}, which is neither a step's "
            "output nor a JSON value (a step's params are recorded and hashed): pass a number, "
            "text, bool, list or dict, or make it an output of a step."
        ) from None
    return value


def _has_handle(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(isinstance(v, (Handle, ParamRef)) for v in items)


def _check_resources(name: str, resources: Mapping[str, Any]) -> dict[str, Any]:
    known = {"num_cpus", "num_gpus", "memory"}
    for key, value in resources.items():
        if key not in known and not key.startswith("resources."):
            raise InvalidInput(
                f"Step {name!r} declares resource {key!r}: use num_cpus, num_gpus or memory "
                "(bytes)."
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidInput(f"Step {name!r}: resource {key} must be a number >= 0.")
    return dict(resources)


def step(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    retry_backoff: float = 0.5,
    resources: Mapping[str, Any] | None = None,
    outputs: tuple[str, ...] | list[str] | None = None,
    dataset: str | None = None,
    model: str | None = None,
    materializer: Any = None,
) -> Any:
    """Make ``fn`` a pipeline step (``@keel.step`` or ``@keel.step(cache=False, ...)``).

    Args:
        name: the step's name (the function's by default).
        cache: reuse an earlier identical run's outputs (same code, params and inputs).
        retries: attempts after the first when the step raises, ``retry_backoff`` seconds
            apart, doubling each time.
        resources: what a Ray task of the step reserves: ``num_cpus``, ``num_gpus``,
            ``memory`` (bytes).
        outputs: names of several outputs; the step returns a tuple (in this order) or a
            dict with these keys, and calling it in a pipeline gives one handle per name.
        dataset: name of the dataset a table output is versioned as
            (``<pipeline>.<step>`` by default).
        model: name of the model a model output is registered as (``<pipeline>.<step>``).
        materializer: an object with ``save(value, ctx) -> dict`` and
            ``load(ref, ctx) -> value`` for outputs keel cannot store itself.
    """
    options = {
        "name": name,
        "cache": cache,
        "retries": retries,
        "retry_backoff": retry_backoff,
        "resources": resources,
        "outputs": outputs,
        "dataset": dataset,
        "model": model,
        "materializer": materializer,
    }
    if fn is None:
        return lambda f: Step(f, **options)
    return Step(fn, **options)


class Pipeline:
    """A function made a pipeline by :func:`pipeline`: ``.run(params)`` executes it."""

    def __init__(
        self, fn: Callable[..., Any], *, name: str | None = None, triggers: Any = None
    ) -> None:
        if not callable(fn):
            raise InvalidInput(f"@keel.pipeline decorates a function. Got {type(fn).__name__}.")
        self.fn = fn
        self.name = name or fn.__name__
        if not _NAME.match(self.name):
            raise InvalidInput(
                f"Pipeline name {self.name!r} is not valid: use 1 to 200 letters, digits, '_', "
                "'-' or '.', starting with a letter or digit."
            )
        self.params = params_of(fn)
        self.triggers = _trigger_dicts(self.name, triggers)
        for trigger in self.triggers:  # what a trigger hands over must be a param
            if trigger.get("param") and trigger["param"] not in self.params:
                raise InvalidInput(
                    f"Pipeline {self.name!r}: its {trigger['kind']} trigger passes param "
                    f"{trigger['param']!r}, which the pipeline does not take. Params: "
                    f"{', '.join(self.params) or 'none'}; add {trigger['param']} to the "
                    "function's arguments."
                )
        self.entry = _entrypoint(fn)
        self._graph: Graph | None = None
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<keel pipeline {self.name!r} ({self.entry})>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    @property
    def graph(self) -> Graph:
        """The DAG, built once by calling the function with placeholders.

        Raises:
            InvalidInput: a step called with missing or wrong arguments, a cycle, an output
                that is not a step's, a param that is not a JSON value.
        """
        if self._graph is None:
            graph = Graph()
            token = _building.set((graph, id(graph)))
            try:
                result = self.fn(**{name: ParamRef(name) for name in self.params})
            except (TypeError, AttributeError, ValueError, KeyError, IndexError) as exc:
                raise InvalidInput(
                    f"Pipeline {self.name!r} failed while its DAG was built: {exc}. The "
                    "pipeline function runs once with placeholders for its params: pass the "
                    "params to steps as they are, and compute with them inside a step."
                ) from exc
            finally:
                _building.reset(token)
            graph.result = _check_result(self.name, result)
            graph.order()
            if not graph.nodes:
                raise InvalidInput(
                    f"Pipeline {self.name!r} calls no step: call @keel.step functions in it."
                )
            self._graph = graph
        return self._graph

    def spec(self) -> dict[str, Any]:
        """What is recorded for the pipeline: entrypoint, steps, params, triggers."""
        graph = self.graph
        return {
            "entrypoint": self.entry,
            "steps": [graph.nodes[n].to_spec() for n in graph.order()],
            "params": self.params,
            "triggers": self.triggers,
            "output": _result_spec(graph.result),
        }

    def check_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """``params`` checked against the pipeline's, defaults filled in."""
        return check_params(self.name, self.params, params)

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str = "local",
        cache: bool = True,
        client: Any = None,
        max_workers: int | None = None,
        progress: Any = None,
    ) -> PipelineRun:
        """Run the pipeline now, in this process (steps in worker processes or on Ray).

        Args:
            params: values of the pipeline's params (text is parsed: ``{"month": "7"}``).
            executor: ``local`` (in-process; independent branches in a process pool) or
                ``ray``.
            cache: reuse earlier identical step runs' outputs (False: run every step).
            client: the :class:`keel.Client` to record to (the default client otherwise).
            max_workers: processes for independent branches (the CPU count by default).
            progress: called with each step's record as it changes (the CLI's live view).

        Raises:
            InvalidInput: bad params, an unknown executor, a broken DAG (before anything runs).
        """
        from ._runner import run_pipeline

        return run_pipeline(
            self,
            params,
            executor=executor,
            cache=cache,
            client=client,
            max_workers=max_workers,
            progress=progress,
        )

    def resume(self, run_id: str, *, client: Any = None, progress: Any = None) -> PipelineRun:
        """Run a failed, waiting or cancelled run of this pipeline again, in this process,
        from its unfinished steps (what ``client.pipelines.resume`` does, without importing
        the pipeline: for pipelines defined in a notebook or ``python -c``).

        Raises:
            NotFound: no such run.
            InvalidInput: the run is of another pipeline, or is running or succeeded.
        """
        from ._result import PipelineRun
        from ._runner import output_of

        if client is None:
            from keel.client import default_client

            client = default_client()
        record = client.pipelines.resume(run_id, progress=progress, pipeline=self)
        output = None if client.remote else output_of(client, self, record)
        return PipelineRun(
            record["id"],
            self.name,
            record["status"],
            record.get("params") or {},
            record.get("steps") or [],
            output,
            record.get("error"),
        )


def _entrypoint(fn: Callable[..., Any]) -> str:
    """``module:qualname``; a script's pipeline is ``/path/to/script.py:qualname`` so an
    agent can import it."""
    import sys

    if fn.__module__ == "__main__" or fn.__module__.startswith(FILE_MODULE_PREFIX):
        path = getattr(sys.modules.get(fn.__module__), "__file__", None)
        if path:
            import os

            return f"{os.path.abspath(path)}:{fn.__qualname__}"
    return f"{fn.__module__}:{fn.__qualname__}"


def _trigger_dicts(name: str, triggers: Any) -> list[dict[str, Any]]:
    from .triggers import parse_triggers

    try:
        return [t.to_dict() for t in parse_triggers(triggers)]
    except InvalidInput as exc:
        raise InvalidInput(f"Pipeline {name!r}: {exc.message}") from None


def _check_result(name: str, result: Any) -> Any:
    if result is None or isinstance(result, Handle):
        return result
    if isinstance(result, (tuple, list)) and all(isinstance(r, Handle) for r in result):
        return tuple(result)
    if isinstance(result, Mapping) and all(isinstance(r, Handle) for r in result.values()):
        return dict(result)
    raise InvalidInput(
        f"Pipeline {name!r} returns {type(result).__name__}: return a step's output, a tuple "
        "or dict of them, or nothing."
    )


def _result_spec(result: Any) -> Any:
    if result is None:
        return None
    if isinstance(result, Handle):
        return f"{result.node}.{result.output}"
    if isinstance(result, tuple):
        return [f"{h.node}.{h.output}" for h in result]
    return {k: f"{h.node}.{h.output}" for k, h in result.items()}


def pipeline(
    fn: Callable[..., Any] | None = None, *, name: str | None = None, triggers: Any = None
) -> Any:
    """Make ``fn`` a pipeline (``@keel.pipeline`` or ``@keel.pipeline(name=..., triggers=[...])``).

    Its params are the function's (typed by hints or defaults); steps called in it form the
    DAG. ``triggers`` are recorded with the pipeline for the agent (dicts or objects with
    ``to_dict()``).
    """
    if fn is None:
        return lambda f: Pipeline(f, name=name, triggers=triggers)
    return Pipeline(fn, name=name, triggers=triggers)
