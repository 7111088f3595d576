"""The scheduler: one for every executor. It walks the DAG, skips steps the cache answers,
hands ready steps to the executor (a step alone in-process when the executor allows), and
records each step's start and end with one write each.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from keel._plural import count
from keel.errors import InvalidInput, NotFound

from . import _records, _step_records
from ._dsl import FILE_MODULE_PREFIX, Graph, Handle, Pipeline
from ._executors import check_executor, make_executor
from ._hashing import cache_key
from ._materialise import MaterialiseContext, load_output, materialiser_id
from ._result import PipelineRun
from ._worker import StepResult, StepTask, execute_step

__all__ = ["execute_run", "import_pipeline", "new_holder", "run_pipeline"]

LEASE_MS = 60_000


def new_holder() -> str:
    """A lease holder name unique to this process and call."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _options(executor: str, cache: bool, max_workers: int | None) -> dict[str, Any]:
    check_executor(executor)
    if not isinstance(cache, bool):
        raise InvalidInput(f"cache must be True or False. Got {cache!r}.")
    options: dict[str, Any] = {"executor": executor, "cache": cache}
    if max_workers is not None:
        options["max_workers"] = max_workers
    return options


def run_pipeline(
    pipeline: Pipeline,
    params: Any = None,
    *,
    executor: str = "local",
    cache: bool = True,
    client: Any = None,
    max_workers: int | None = None,
    progress: Any = None,
    trigger: dict[str, Any] | None = None,
) -> PipelineRun:
    """Check, record and run ``pipeline`` in this process (see :meth:`Pipeline.run`)."""
    values = pipeline.check_params(params)
    options = _options(executor, cache, max_workers)
    spec = pipeline.spec()  # builds and checks the DAG before anything is recorded
    if client is None:
        from keel.client import default_client

        client = default_client()
    if client.remote:
        service = client.pipelines
        service.record(pipeline.name, spec)
        run_id = service.submit(pipeline.name, values, trigger=trigger, options=options)
        return PipelineRun(run_id, pipeline.name, "queued", values)
    store = client.store
    project = client.config.project
    pipeline_id = _records.record_pipeline(store, project, pipeline.name, spec)
    holder = new_holder()
    run_id = _step_records.insert_run(
        store,
        pipeline_id,
        holder=holder,
        lease_ms=LEASE_MS,
        params=values,
        options=options,
        trigger=trigger,
    )
    return _drive(client, pipeline, run_id, values, options, holder, progress)


def _drive(
    client: Any,
    pipeline: Pipeline,
    run_id: str,
    values: dict[str, Any],
    options: dict[str, Any],
    holder: str,
    progress: Any,
    lease_ms: int = LEASE_MS,
) -> PipelineRun:
    store = client.store
    keeper = _LeaseKeeper(store, run_id, holder, lease_ms)
    keeper.start()
    try:
        scheduler = _Scheduler(client, pipeline, run_id, values, options, keeper.lost, progress)
        try:
            result = scheduler.run()
        except BaseException as exc:
            _records.release_run(store, run_id, holder, "failed", error=f"{exc!r}"[:2000])
            raise
    finally:
        keeper.stop()
    _records.release_run(store, run_id, holder, result.status, error=result.error)
    if keeper.lost.is_set():
        result.status = _status_of(store, run_id)
    return result


def _status_of(store: Any, run_id: str) -> str:
    import sqlalchemy as sa

    from keel.store import schema as t

    with store.read() as conn:
        return conn.execute(
            sa.select(t.pipeline_runs.c.status).where(t.pipeline_runs.c.id == run_id)
        ).scalar_one()


class _LeaseKeeper(threading.Thread):
    """Renews the run's lease while it runs; sets ``lost`` when the run was taken away
    (cancelled, or expired by someone else)."""

    def __init__(self, store: Any, run_id: str, holder: str, lease_ms: int) -> None:
        super().__init__(name=f"keel-lease-{run_id[:8]}", daemon=True)
        self.store, self.run_id, self.holder, self.lease_ms = store, run_id, holder, lease_ms
        self.lost = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.lease_ms / 4000):  # renewed 4 times a lease
            try:
                if not _records.renew_lease(self.store, self.run_id, self.holder, self.lease_ms):
                    self.lost.set()
                    return
            except Exception:  # a database blip: try again at the next tick
                continue

    def stop(self) -> None:
        self._stop.set()


class _Done:
    """A finished step: its step run, output refs and (in-process) live values."""

    __slots__ = ("id", "outputs", "values")

    def __init__(self, id: str, outputs: dict[str, Any], values: dict[str, Any] | None) -> None:
        self.id, self.outputs, self.values = id, outputs, values


class _Scheduler:
    def __init__(
        self,
        client: Any,
        pipeline: Pipeline,
        run_id: str,
        values: dict[str, Any],
        options: dict[str, Any],
        stop: threading.Event,
        progress: Any,
    ) -> None:
        self.client = client
        self.store = client.store
        self.project = client.config.project
        self.pipeline = pipeline
        self.graph: Graph = pipeline.graph
        self.run_id = run_id
        self.values = values
        self.cache = bool(options.get("cache", True))
        self.executor_name = options.get("executor", "local")
        self.max_workers = options.get("max_workers")
        self.stop = stop
        self.progress = progress
        self.done: dict[str, _Done] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.failed: tuple[str, StepResult] | None = None
        self.waiting: tuple[str, StepResult] | None = None
        self._project_id: str | None = None

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> PipelineRun:
        order = self.graph.order()
        for step, row in _step_records.finished_steps(self.store, self.run_id).items():
            if step in self.graph.nodes:  # a resumed run keeps what finished
                self.done[step] = _Done(row["id"], row["outputs"], None)
        upstream = {n: self.graph.nodes[n].upstream() for n in order}
        downstream: dict[str, list[str]] = {n: [] for n in order}
        for n in order:
            for u in upstream[n]:
                downstream[u].append(n)
        blocked = {
            n: sum(u not in self.done for u in upstream[n]) for n in order if n not in self.done
        }
        ready = [n for n in order if blocked.get(n) == 0]
        self._unblock = (blocked, downstream, ready)
        running: dict[Future, tuple[str, str, dict]] = {}
        executor = None
        try:
            while ready or running:
                starting: list[str] = []
                if not (self.failed or self.waiting or self.stop.is_set()):
                    starting, ready[:] = list(ready), []
                for n in starting:
                    started = self._start(n)
                    if started is None:
                        continue  # answered by the cache
                    step_run_id, task, inputs = started
                    step = self.graph.nodes[n].step
                    if executor is None:
                        executor = make_executor(
                            self.executor_name,
                            max_workers=self.max_workers,
                            ray_address=self.client.config.ray_address,
                        )
                    if executor.inline and len(starting) == 1 and not running:
                        live = self._live_inputs(n)
                        result = execute_step(task, step, self.client, live)
                        self._finish(n, step_run_id, inputs, result)
                    else:
                        import cloudpickle

                        try:
                            payload = cloudpickle.dumps((self.client.config, task, step))
                        except Exception as exc:
                            error = (
                                f"Step {n!r} cannot be sent to a worker process: {exc!r}. Its "
                                "function, params and materializer must be picklable "
                                "(cloudpickle); or run it alone, in-process."
                            )
                            self._finish(n, step_run_id, inputs, StepResult("failed", error=error))
                            continue
                        future = executor.submit(payload, step.resources)
                        running[future] = (n, step_run_id, inputs)
                if running:
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in finished:
                        n, step_run_id, inputs = running.pop(future)
                        try:
                            result = future.result()
                        except Exception as exc:  # the worker itself died
                            result = StepResult(
                                "failed", error=f"the step's worker failed: {exc!r}"
                            )
                        self._finish(n, step_run_id, inputs, result)
                elif not starting:
                    break  # nothing runs and nothing can start: failed, waiting or stopped
        finally:
            if executor is not None:
                executor.close()
        return self._result()

    def _mark_done(self, name: str, done: _Done) -> None:
        self.done[name] = done
        blocked, downstream, ready = self._unblock
        for d in downstream[name]:
            if d in blocked:
                blocked[d] -= 1
                if blocked[d] == 0:
                    ready.append(d)

    # -- one step --------------------------------------------------------------------------

    def _start(self, name: str) -> tuple[str, StepTask, dict] | None:
        node = self.graph.nodes[name]
        step = node.step
        params = node.resolved_params(self.values)
        inputs = {arg: self.done[h.node].outputs[h.output] for arg, h in node.inputs.items()}
        code = step.code_hash
        key = cache_key(
            code,
            params,
            {arg: ref.get("digest") or ref.get("ref") for arg, ref in inputs.items()},
            materialiser_id(step.materializer),
        )
        if self.cache and step.cache:
            hit = _step_records.cache_hit(self.store, self._pid(), key)
            if hit is not None:
                step_run_id = _step_records.start_step(
                    self.store,
                    self.run_id,
                    name,
                    status="succeeded",
                    cache_key=key,
                    code_hash=code,
                    params=params,
                    inputs=inputs,
                    outputs=hit["outputs"],
                    cached_from=hit["id"],
                )
                self._mark_done(name, _Done(step_run_id, hit["outputs"], None))
                self._report(name, "succeeded", cached_from=hit["id"])
                return None
        step_run_id = _step_records.start_step(
            self.store,
            self.run_id,
            name,
            cache_key=key,
            code_hash=code,
            params=params,
            inputs=inputs,
        )
        self._report(name, "running")
        task = StepTask(
            self.project,
            self.pipeline.name,
            self.run_id,
            name,
            step_run_id,
            params,
            inputs,
            {
                arg: self.graph.nodes[h.node].step.materializer
                for arg, h in node.inputs.items()
                if self.graph.nodes[h.node].step.materializer is not None
            },
        )
        return step_run_id, task, inputs

    def _pid(self) -> str:
        if self._project_id is None:
            self._project_id = self.store.project_id(self.project)
        return self._project_id

    def _live_inputs(self, name: str) -> dict[str, Any]:
        live = {}
        for arg, h in self.graph.nodes[name].inputs.items():
            values = self.done[h.node].values
            if values is not None and h.output in values:
                live[arg] = values[h.output]
        return live

    def _finish(self, name: str, step_run_id: str, inputs: dict, result: StepResult) -> None:
        status = result.status
        _step_records.finish_step(
            self.store,
            self.run_id,
            step_run_id,
            status=status,
            inputs=inputs,
            outputs=result.outputs if status == "succeeded" else None,
            error=result.error if status != "succeeded" else None,
            log_digest=result.log_digest,
            attempt=result.attempts,
            run_id=result.run_id,
        )
        if status == "succeeded":
            self._mark_done(name, _Done(step_run_id, result.outputs, result.values))
        elif status == "waiting":
            self.waiting = (name, result)
        else:
            self.failed = (name, result)
        self._report(name, status, attempt=result.attempts, error=result.error)

    def _report(self, name: str, status: str, **details: Any) -> None:
        record = {"step": name, "status": status, **details}
        self.records[name] = record
        if self.progress is not None:
            self.progress(record)

    # -- the end ---------------------------------------------------------------------------

    def _result(self) -> PipelineRun:
        from ._service import PipelineService

        steps = PipelineService(self.store, project=self.project).run(self.run_id)["steps"]
        error = None
        if self.failed:
            name, result = self.failed
            last = (result.error or "").strip().splitlines()[-1:] or ["(no error text)"]
            error = (
                f"Step {name!r} failed after {count(result.attempts, 'attempt')}: {last[0]} "
                f"Its traceback and output: keel pipeline logs {self.run_id} --step {name}. "
                f"Fix it and resume: keel pipeline resume {self.run_id}"
            )
            status = "failed"
        elif self.waiting:
            status = "waiting"
        elif self.stop.is_set() or any(n not in self.done for n in self.graph.nodes):
            status = "cancelled"
        else:
            status = "succeeded"
        output = self._output() if status == "succeeded" else None
        return PipelineRun(
            self.run_id, self.pipeline.name, status, self.values, steps, output, error
        )

    def _output(self) -> Any:
        result = self.graph.result

        def value(h: Handle) -> Any:
            done = self.done[h.node]
            if done.values is not None and h.output in done.values:
                return done.values[h.output]
            node = self.graph.nodes[h.node]
            ctx = MaterialiseContext(
                self.client, self.project, self.pipeline.name, h.node, h.output, done.id
            )
            return load_output(done.outputs[h.output], ctx, node.step.materializer)

        if result is None:
            return None
        if isinstance(result, Handle):
            return value(result)
        if isinstance(result, tuple):
            return tuple(value(h) for h in result)
        return {k: value(h) for k, h in result.items()}


def import_pipeline(entrypoint: str) -> Pipeline:
    """The ``@keel.pipeline`` object at ``module:qualname`` (or a ``file.py:name`` path).

    Raises:
        InvalidInput: it cannot be imported, or is not a pipeline.
    """
    import importlib
    import importlib.util
    import sys

    from blake3 import blake3

    if not isinstance(entrypoint, str) or ":" not in entrypoint:
        raise InvalidInput(
            f"A pipeline entrypoint is module:function or file.py:function. Got {entrypoint!r}."
        )
    module_name, _, qualname = entrypoint.rpartition(":")
    try:
        if module_name.endswith(".py"):
            path = os.path.abspath(module_name)
            if not os.path.isfile(path):
                raise InvalidInput(f"No pipeline file {module_name!r}: check the path.")
            name = f"{FILE_MODULE_PREFIX}{blake3(path.encode()).hexdigest()[:16]}"
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec is not None
                assert spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                folder = os.path.dirname(path)
                if folder not in sys.path:
                    sys.path.insert(0, folder)
                spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
        found: Any = module
        for part in qualname.split("."):
            found = getattr(found, part)
    except InvalidInput:
        raise
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"Cannot import pipeline {entrypoint!r}: {exc}. Run from the folder that holds its "
            "module (or put it on PYTHONPATH), or give the file: path/to/file.py:function."
        ) from exc
    if not isinstance(found, Pipeline):
        raise InvalidInput(
            f"{entrypoint!r} is a {type(found).__name__}, not a pipeline: decorate it with "
            "@keel.pipeline."
        )
    return found


def execute_run(
    client: Any,
    run_id: str,
    *,
    holder: str,
    lease_ms: int = LEASE_MS,
    progress: Any = None,
    pipeline: Pipeline | None = None,
) -> dict[str, Any]:
    """Claim queued (or waiting) run ``run_id``, run or resume it here, release it.

    The agent calls this for each queued run; ``keel pipeline resume`` too. Returns the
    run's record (with ``claimed: False`` when someone else holds it). A run of another
    project than the client's runs with a client of its own project, on the same store.
    ``pipeline`` is the pipeline object when the caller has it (else its recorded
    entrypoint is imported).

    Raises:
        NotFound: no such run in the client's project.
    """
    from ._service import PipelineService

    store = client.store
    project = _step_records.project_of_run(store, run_id)
    if project is not None and project != client.config.project:
        # the agent serves every project: run it with a client of the run's project
        from dataclasses import replace

        from keel.client import Client

        with Client(config=replace(client.config, project=project)) as own:
            return execute_run(
                own,
                run_id,
                holder=holder,
                lease_ms=lease_ms,
                progress=progress,
                pipeline=pipeline,
            )
    service = PipelineService(store, project=client.config.project)
    row = service.run(run_id)
    if not _records.claim_run(store, run_id, holder, lease_ms):
        return {**service.run(run_id), "claimed": False}
    try:
        if pipeline is None:
            spec = _records.find_pipeline(store, client.config.project, row["pipeline"])["spec"]
            pipeline = import_pipeline(spec["entrypoint"])
        elif pipeline.name != row["pipeline"]:
            raise InvalidInput(
                f"Run {run_id} is a run of pipeline {row['pipeline']!r}, not {pipeline.name!r}."
            )
        values = pipeline.check_params(row["params"])
        options = dict(row.get("options") or {})
        check_executor(options.get("executor", "local"))
    except Exception as exc:
        _records.release_run(store, run_id, holder, "failed", error=_message(exc))
        return {**service.run(run_id), "claimed": True}
    _drive(client, pipeline, run_id, values, options, holder, progress, lease_ms)
    return {**service.run(run_id), "claimed": True}


def output_of(client: Any, pipeline: Pipeline, record: dict[str, Any]) -> Any:
    """The value of a finished run's output, loaded from its steps' output refs (None
    unless the run succeeded)."""
    if record["status"] != "succeeded" or pipeline.graph.result is None:
        return None
    latest = {s["step"]: s for s in record["steps"]}

    def value(h: Handle) -> Any:
        step = latest[h.node]
        ctx = MaterialiseContext(
            client, client.config.project, pipeline.name, h.node, h.output, step["id"]
        )
        materializer = pipeline.graph.nodes[h.node].step.materializer
        return load_output(step["outputs"][h.output], ctx, materializer)

    result = pipeline.graph.result
    if isinstance(result, Handle):
        return value(result)
    if isinstance(result, tuple):
        return tuple(value(h) for h in result)
    return {k: value(h) for k, h in result.items()}


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or repr(exc)


def require_run(row: dict[str, Any] | None, run_id: str, project: str) -> dict[str, Any]:
    if row is None:
        raise NotFound(
            f"No pipeline run {run_id[:40]!r} in project {project!r}. "
            "List them with: keel pipeline runs"
        )
    return row
