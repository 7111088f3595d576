"""Tracking over the metadata store: the service the SDK and the server both use."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

import orjson
import sqlalchemy as sa

from keel.errors import AlreadyExists, InvalidInput, NotFound, did_you_mean
from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.objects import Source
from keel.store.rows import dialect_insert, named_id

from . import _compiled, _delete, _statements
from ._arrays import array_points
from ._columns import GROUPS, RunColumns
from ._delete import check_experiment_live
from ._expire import as_reported, expire_runs, stale_before, stale_runs
from ._names import random_run_name
from ._points import checked_points, history, latest_values, write_points
from ._records import (
    ArtifactRecord,
    ExperimentRecord,
    MetricPoint,
    RunQuery,
    RunRecord,
    RunStatus,
    check_include,
    decode_value,
)
from ._validate import (
    MAX_NAME,
    check_artifact_name,
    check_key,
    check_run_id,
    check_started_at,
    check_text,
    check_text_limit,
    json_field,
    text_values,
)

if TYPE_CHECKING:
    from ._filter import Node, OrderKey

__all__ = ["SqlTracking"]

_EXTRA_COLUMNS = ("code", "environment")
"""Columns of runs that a search reads only when asked (``RunQuery.include``)."""
_DETAILS_OF = ("run_params_of", "run_latest_metrics_of", "run_tags_of")
"""The statements reading a page's params, latest metrics and tags (as ``GROUPS``)."""
MAX_KIND = 50  # width of run_artifacts.kind


class SqlTracking:
    """Runs, params, tags, metrics and artifacts in a :class:`~keel.store.Store`.

    Example::

        >>> import tempfile
        >>> from keel.store import init_project
        >>> tracking = SqlTracking(init_project(tempfile.mkdtemp()))
        >>> run = tracking.create_run("credit", params={"C": "1.0"})
        >>> tracking.log_batch(run.id, metrics=[("auc", 0.91, 0, 0)])
        >>> tracking.get_run(run.id).metrics
        {'auc': 0.91}
    """

    def __init__(self, store: Store, project: str | None = None) -> None:
        self.store = store
        self.project = project or store.config.project
        # Runs this service created or found in its project: a run never changes project,
        # so later updates skip the project check (one lookup less per batch and status).
        self._own_runs: dict[str, None] = {}
        self._json_fields = _CheckedJson()

    # -- runs ---------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        code: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricPoint] = (),
        run_id: str | None = None,
        started_at: int | None = None,
        status: str = RunStatus.RUNNING,
        error: str | None = None,
    ) -> RunRecord:
        """Create a run with its params, tags and first metric points in one write
        transaction, and return it as written (nothing is read back).

        The run is RUNNING unless ``status`` ends it (FINISHED, FAILED, KILLED, with
        ``error``): a run known whole when it is first written (see ``deferred`` in
        :meth:`keel.tracking.Tracker.start_run`) is then created ended, in that one
        transaction. ``run_id`` (an id from :func:`keel.store.new_id`, which the caller
        made) and ``started_at`` (ms) are for such a run, whose id and start came before
        its write; an id already taken is refused.
        """
        check_key("experiment", experiment, MAX_NAME)
        if name is not None:
            check_key("run", name, MAX_NAME)
        if parent_id is not None:
            check_text("parent run id", parent_id)
        now = now_ms()
        chosen = run_id is not None
        run_id = check_run_id(run_id) if chosen else new_id()
        started_at = now if started_at is None else check_started_at(started_at, now)
        ended_at = self._checked_end(status, error, now)
        params, tags = text_values("param", params), text_values("tag", tags)
        limit = self._max_field_bytes
        code = self._json_fields.checked("code", code, limit)
        environment = self._json_fields.checked("environment", environment, limit)
        project_id = self.store.project_id(self.project)
        points = checked_points(metrics)
        record = RunRecord(
            id=run_id,
            experiment=experiment,
            experiment_id="",
            name=name or random_run_name(),
            status=status,
            created_at=now,
            started_at=started_at,
            ended_at=ended_at,
            error=error,
            parent_id=parent_id,
            params=dict(params),
            tags=dict(tags),
            metrics=latest_values(points),
            code=code,
            environment=environment,
        )
        with self.store.write() as conn:
            record.experiment_id = self._live_experiment_id(conn, project_id, experiment)
            if parent_id is not None:
                self._require_run(conn, parent_id, project_id)
            self._insert_run(
                conn,
                chosen,
                (
                    run_id,
                    record.experiment_id,
                    parent_id,
                    record.name,
                    status,
                    now,
                    started_at,
                    ended_at,
                    error,
                    now,
                    _json_text(code),
                    _json_text(environment),
                ),
            )
            if params:
                _statements.run(conn, "insert_param", [(run_id, *kv) for kv in params.items()])
            if tags:
                _statements.run(conn, "insert_tag", [(run_id, *kv) for kv in tags.items()])
            write_points(conn, run_id, points)
        self._remember(run_id)
        return record  # what was written, as get_run would read it back

    def _insert_run(self, conn: sa.Connection, chosen: bool, row: tuple[Any, ...]) -> None:
        """Insert a run's row; an id the caller chose that is taken is AlreadyExists (its
        experiment and parent were found in this transaction: the id is what clashes)."""
        try:
            _statements.run(conn, "insert_run", row)
        except sa.exc.IntegrityError as exc:
            if not chosen:
                raise
            raise AlreadyExists(
                f"A run with id {row[0]} already exists; nothing was written. A deferred "
                "run's id is new_id()'s: create it once."
            ) from exc

    def _live_experiment_id(self, conn: sa.Connection, project_id: str, name: str) -> str:
        """The id of experiment ``name`` (created if new); a deleted one is refused."""
        found = _statements.first(conn, "experiment", (project_id, name))
        if found is None:
            return self._experiment_id(conn, project_id, name, create=True)
        if found[1] is not None:
            check_experiment_live(conn, found[0], name)
        return found[0]

    def get_run(self, run_id: str) -> RunRecord:
        project_id = self._read_project_id()
        with self.store.read() as conn:
            row = self._require_run(conn, run_id, project_id)
            record = _run_from_row(row, self._stale())
            _attach_details(conn, {run_id: record}, artifacts=True)
        return record

    def set_status(self, run_id: str, status: str, *, error: str | None = None) -> RunRecord:
        if status not in RunStatus.ALL:
            raise InvalidInput(
                f"Run status {status!r} is not one of {', '.join(RunStatus.ALL)}."
                f"{did_you_mean(str(status).upper(), RunStatus.ALL)}"
            )
        if error is not None:
            if not isinstance(error, str):
                raise InvalidInput(f"A run's error must be text. Got {type(error).__name__}.")
            check_text_limit("run's error text", error, self._max_field_bytes)
        now = now_ms()
        values: dict[str, Any] = {"status": status}
        if status == RunStatus.RUNNING:
            values.update(ended_at=None, error=None, heartbeat_at=now)
        else:
            values.update(ended_at=now, error=error)
        project_id = self._read_project_id()
        with self.store.write() as conn:
            self._update_run(conn, run_id, project_id, values)
        return self.get_run(run_id)

    def end_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        metrics: Sequence[MetricPoint] = (),
    ) -> None:
        """End a run (FINISHED, FAILED or KILLED) and record its last metric points, in one
        write transaction; unlike :meth:`set_status`, nothing is read back."""
        if status not in RunStatus.ENDED:
            raise InvalidInput(
                f"A run ends as one of {', '.join(RunStatus.ENDED)}; got {status!r}."
                f"{did_you_mean(str(status).upper(), RunStatus.ENDED)} To resume a run, set "
                "its status to RUNNING."
            )
        now = now_ms()
        self._checked_end(status, error, now)
        points = checked_points(metrics)
        project_id = self._read_project_id()
        with self.store.write() as conn:
            self._update(conn, run_id, project_id, "end", (status, now, error))
            write_points(conn, str(run_id), points)

    def _checked_end(self, status: str, error: str | None, now: int) -> int | None:
        """When a run written as ``status`` ended (None while RUNNING), after checking
        ``status`` and ``error``; a RUNNING run has no error."""
        if status not in RunStatus.ALL:
            raise InvalidInput(
                f"Run status {status!r} is not one of {', '.join(RunStatus.ALL)}."
                f"{did_you_mean(str(status).upper(), RunStatus.ALL)}"
            )
        if error is not None:
            if not isinstance(error, str):
                raise InvalidInput(f"A run's error must be text. Got {type(error).__name__}.")
            if status == RunStatus.RUNNING:
                raise InvalidInput("A RUNNING run has no error; give it with the run's end.")
            check_text_limit("run's error text", error, self._max_field_bytes)
        return None if status == RunStatus.RUNNING else now

    # -- logging ------------------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        params, tags = text_values("param", params), text_values("tag", tags)
        points = checked_points(metrics)
        project_id = self._read_project_id()
        with self.store.write() as conn:
            # any batch, even an empty one, is the heartbeat of a live run's process
            self._update(conn, run_id, project_id, "beat", (now_ms(),))
            if params:
                self._log_params(conn, run_id, params)
            if tags:
                _upsert_pairs(conn, t.run_tags, run_id, tags)
            write_points(conn, str(run_id), points)

    def log_metric_array(
        self,
        run_id: str,
        key: str,
        values: Any,
        steps: Any,
        timestamps: Any = None,
    ) -> None:
        """Record a curve of metric ``key`` (see :func:`keel.tracking._arrays.array_points`;
        ``steps`` are required here: the service does not count a client's steps)."""
        if steps is None:
            raise InvalidInput(
                f"Give the steps of the {key!r} values (one integer per value, from 0)."
            )
        self.log_batch(run_id, metrics=array_points(key, values, steps, timestamps))

    def _log_params(self, conn: sa.Connection, run_id: str, params: dict[str, str]) -> None:
        existing = dict(
            conn.execute(
                sa.select(t.run_params.c.key, t.run_params.c.value).where(
                    t.run_params.c.run_id == run_id, t.run_params.c.key.in_(list(params))
                )
            ).all()
        )
        changed = {
            k: (existing[k], v) for k, v in params.items() if k in existing and existing[k] != v
        }
        if changed:
            key, (old, new) = next(iter(changed.items()))
            raise InvalidInput(
                f"Param {key!r} of run {run_id} is already {old!r}; it cannot become {new!r}. "
                "Params are immutable: log the new value under another name, or start a new run."
            )
        _insert_pairs(
            conn, t.run_params, run_id, {k: v for k, v in params.items() if k not in existing}
        )

    def log_input(self, run_id: str, kind: str, object_id: str) -> None:
        from keel.store.lineage import record_edges, require_record

        check_key("input kind", kind)
        check_key("input id", object_id)
        project_id = self._read_project_id()
        with self.store.write() as conn:
            self._require_run(conn, run_id, project_id)
            require_record(conn, kind, object_id, project_id=project_id, project=self.project)
            record_edges(self.store, [(kind, object_id, "input_to", "run", run_id)], conn=conn)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        m, latest = t.run_metrics, t.run_latest_metrics
        project_id = self._read_project_id()
        with self.store.read() as conn:
            self._require_run(conn, run_id, project_id)
            if _problem_text(key):
                return []
            series = sa.select(latest.c.id).where(latest.c.run_id == run_id, latest.c.key == key)
            chunks = conn.execute(
                sa.select(m.c.points, m.c.steps, m.c.timestamps, m.c.metric_values)
                .where(m.c.series_id == series.scalar_subquery())
                .order_by(m.c.id)
            ).all()
        return history(key, chunks)

    # -- artifacts ----------------------------------------------------------------------

    def put_artifact(self, run_id: str, name: str, kind: str, source: Source) -> ArtifactRecord:
        check_artifact_name(name)
        check_key("artifact kind", kind, MAX_KIND)
        project_id = self._read_project_id()
        with self.store.read() as conn:
            self._require_run(conn, run_id, project_id)
        digest = self.store.objects.put(source)  # bytes first, outside the write lock
        size = self.store.objects.size(digest)
        a = t.run_artifacts
        with self.store.write() as conn:
            existing = conn.execute(
                sa.select(a.c.digest).where(a.c.run_id == run_id, a.c.name == name)
            ).scalar()
            if existing is not None and existing != digest:
                raise AlreadyExists(
                    f"Run {run_id} already has an artifact named {name!r} with other content. "
                    "Artifacts are immutable: log this one under another name."
                )
            self.store.record_object(digest, conn=conn)
            now = now_ms()
            if existing is None:
                conn.execute(
                    a.insert().values(
                        run_id=run_id,
                        name=name,
                        kind=kind,
                        digest=digest,
                        size=size,
                        created_at=now,
                    )
                )
        return ArtifactRecord(name, kind, digest, size, now)

    def open_artifact(self, run_id: str, name: str) -> BinaryIO:
        a = t.run_artifacts
        project_id = self._read_project_id()
        with self.store.read() as conn:
            self._require_run(conn, run_id, project_id)
            digest = (
                None
                if _problem_text(name)
                else conn.execute(
                    sa.select(a.c.digest).where(a.c.run_id == run_id, a.c.name == name)
                ).scalar()
            )
            if digest is None:
                names = list(
                    conn.execute(sa.select(a.c.name).where(a.c.run_id == run_id)).scalars()
                )
                raise NotFound(
                    f"Run {run_id} has no artifact named {name!r}.{did_you_mean(name, names)} "
                    f"It has: {', '.join(names) or 'none'}."
                )
        return self.store.objects.open(digest)

    # -- queries ------------------------------------------------------------------------

    def search_runs(self, query: RunQuery) -> list[RunRecord]:
        include = check_include(query.include)
        # the JSON columns only when asked: decoding a run's package list costs more than
        # the rest of its row
        columns = [c for c in t.runs.c if c.name not in _EXTRA_COLUMNS or c.name in include]
        with self._search_page(query, columns) as page:
            if page is None:
                return []
            conn, experiments, found = page
            stale = self._stale()
            records = {}
            names = [c.name for c in columns]
            for values in found:
                row = dict(zip(names, values, strict=True))
                _, row["experiment"], deleted = experiments[row["experiment_id"]]
                row["deleted_since"] = row["deleted_at"] or deleted
                records[row["id"]] = _run_from_row(row, stale, include)
            if query.include_details and records:
                _attach_details(conn, records, artifacts="artifacts" in include)
        return list(records.values())

    def search_columns(self, query: RunQuery) -> RunColumns:
        """What :meth:`search_runs` finds, as the columns of :func:`keel.search_runs`'s
        frame: only those are read, and no object is made per run."""
        check_include(query.include)
        r = t.runs
        columns = [r.c.id, r.c.experiment_id, r.c.parent_id, r.c.name, r.c.status]
        columns += [r.c.created_at, r.c.ended_at, r.c.started_at, r.c.heartbeat_at]
        with self._search_page(query, columns) as page:
            if page is None or not page[2]:
                return RunColumns()
            conn, experiments, found = page
            cutoff, timeout_s = self._stale()
            ids, experiment_ids, parents, names, statuses, created, ended, started, seen = (
                list(c) for c in zip(*found, strict=True)
            )
            for index, status in enumerate(statuses):
                if status == RunStatus.RUNNING:  # a dead process's run reads as KILLED
                    row = {"status": status, "heartbeat_at": seen[index]}
                    row.update(started_at=started[index], created_at=created[index])
                    dead = as_reported(row, cutoff, timeout_s)
                    if dead is not None:
                        statuses[index], ended[index] = dead["status"], dead["ended_at"]
            page_columns = RunColumns(
                ids=ids,
                experiments=[experiments[e][1] for e in experiment_ids],
                names=names,
                statuses=statuses,
                parent_ids=parents,
                created_at=created,
                ended_at=[e or None for e in ended],
            )
            if query.include_details:
                position = {run_id: index for index, run_id in enumerate(ids)}
                listed = _statements.id_list(conn, ids)
                for group, statement in zip(GROUPS, _DETAILS_OF, strict=True):
                    found = _statements.rows(conn, statement, (listed,))
                    page_columns.add(group, found, position)
        return page_columns

    @contextmanager
    def _search_page(
        self, query: RunQuery, columns: Sequence[sa.Column[Any]]
    ) -> Iterator[tuple[sa.Connection, dict[str, tuple[str, str, int | None]], list[Any]] | None]:
        """The rows (``columns`` of runs) of a search's page, with the read transaction
        they came in (for their details) and the experiments searched by id; None for an
        empty project or no live experiment."""
        node, order = _checked_search(query, self.store.config)
        include = check_include(query.include)
        for name in query.experiments:
            check_key("experiment", name, MAX_NAME)
        project_id = self._read_project_id()
        if project_id is None:  # an unknown project reads as an empty one
            if query.experiments:
                raise NotFound(
                    f"No experiment named {query.experiments[0]!r} in project "
                    f"{self.project!r}: the project has nothing recorded yet."
                )
            yield None
            return
        # Runs whose process died are recorded KILLED first, so a status filter sees
        # them; the check for them is the page's read transaction's first query (no
        # transaction of its own, the common case being that there are none).
        with self.store.read() as conn:
            if not stale_runs(conn, stale_before(self.store), project_id):
                yield self._page_rows(conn, project_id, query, columns, (node, order, include))
                return
        expire_runs(self.store, project_id=project_id)
        with self.store.read() as conn:
            yield self._page_rows(conn, project_id, query, columns, (node, order, include))

    def _page_rows(
        self,
        conn: sa.Connection,
        project_id: str,
        query: RunQuery,
        columns: Sequence[sa.Column[Any]],
        checked: tuple[Node | None, list[OrderKey], tuple[str, ...]],
    ) -> tuple[sa.Connection, dict[str, tuple[str, str, int | None]], list[Any]] | None:
        """What :meth:`_search_page` yields, read in ``conn``; ``checked``: the query's
        parsed filter, order and extras."""
        from ._filter import filter_and_order

        node, order, include = checked

        # The experiments first, in a query of their own, and runs by experiment id: no
        # join for PostgreSQL's planner to misjudge on a small experiments table that
        # autovacuum never analyses (it chose a scan of every run over the index walk,
        # 2 s instead of 0.04 s at 100,000 runs).
        experiments = self._searched_experiments(conn, project_id, query)
        if not experiments:
            return None
        ids = tuple(experiments)

        def build() -> sa.Select[Any]:
            select = sa.select(*columns).where(t.runs.c.experiment_id.in_(ids))
            if not query.include_deleted:
                select = select.where(t.runs.c.deleted_at.is_(None))
            ordered = filter_and_order(select, node, order)
            return ordered.limit(query.max_results).offset(query.offset)

        # the statement is built and compiled once for the same search (the same columns,
        # filter, order, page and experiments): a dashboard's or a script's repeats
        key = ("search", tuple(c.name for c in columns), node, tuple(order), include)
        key += (query.include_deleted, ids, query.max_results, query.offset)
        return conn, experiments, _compiled.rows(conn, key, build)

    def _searched_experiments(
        self, conn: sa.Connection, project_id: str, query: RunQuery
    ) -> dict[str, tuple[str, str, int | None]]:
        """(id, name, deleted_at) by id of the experiments a search reads: those it names
        (each must exist, deleted or not), else all of the project's; deleted ones only
        with ``include_deleted``."""
        e = t.experiments
        named = tuple(query.experiments)

        def build() -> sa.Select[Any]:
            listed = sa.select(e.c.id, e.c.name, e.c.deleted_at)
            listed = listed.where(e.c.project_id == sa.bindparam("project_id", ""))
            return listed.where(e.c.name.in_(named)) if named else listed

        found = _compiled.rows(
            conn, ("search_experiments", named), build, {"project_id": project_id}
        )
        present = {row[1] for row in found}
        for name in named:  # one missing raises NotFound, naming the experiments that exist
            if name not in present:
                self._experiment_id(conn, project_id, name, create=False)
        return {
            row[0]: tuple(row)  # type: ignore[misc]
            for row in found
            if query.include_deleted or row[2] is None
        }

    def count_runs(self, query: RunQuery) -> int:
        """How many runs match ``query``'s experiments and filter (its order, size and
        offset aside): the total a paged listing shows."""
        from ._filter import compile_filter
        from ._search_limits import SearchLimits, check_search

        node, _ = check_search(query, SearchLimits.from_config(self.store.config))
        where = compile_filter(node)
        project_id = self._read_project_id()
        if project_id is None:
            return 0
        expire_runs(self.store, project_id=project_id)  # counted as search_runs reports them
        e = t.experiments
        select = (
            sa.select(sa.func.count())
            .select_from(t.runs.join(e, e.c.id == t.runs.c.experiment_id))
            .where(e.c.project_id == project_id, where)
        )
        if not query.include_deleted:  # counted as search_runs lists them
            select = select.where(t.runs.c.deleted_at.is_(None), e.c.deleted_at.is_(None))
        with self.store.read() as conn:
            for name in query.experiments:
                check_key("experiment", name, MAX_NAME)
                self._experiment_id(conn, project_id, name, create=False)
            if query.experiments:
                select = select.where(e.c.name.in_(query.experiments))
            return int(conn.execute(select).scalar_one())

    def list_experiments(self, *, include_deleted: bool = False) -> list[ExperimentRecord]:
        e, r = t.experiments, t.runs
        count = sa.select(sa.func.count()).where(r.c.experiment_id == e.c.id).scalar_subquery()
        project_id = self._read_project_id()
        if project_id is None:
            return []
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(e.c.id, e.c.name, e.c.created_at, count, e.c.deleted_at)
                .where(e.c.project_id == project_id)
                .where(sa.true() if include_deleted else e.c.deleted_at.is_(None))
                .order_by(e.c.name)
            ).all()
        return [ExperimentRecord(*row) for row in rows]

    # -- soft delete (see keel.tracking._delete) ----------------------------------------

    def delete_run(self, run_id: str, *, actor: Actor | None = None) -> dict[str, Any]:
        """Mark a run deleted: hidden from listings, restorable until gc purges it."""
        return _delete.delete_run(self.store, self.project, run_id, actor=actor)

    def restore_run(self, run_id: str, *, actor: Actor | None = None) -> dict[str, Any]:
        """Bring back a deleted run."""
        return _delete.restore_run(self.store, self.project, run_id, actor=actor)

    def delete_experiment(self, name: str, *, actor: Actor | None = None) -> dict[str, Any]:
        """Mark an experiment deleted: it and its runs vanish from listings until restored."""
        return _delete.delete_experiment(self.store, self.project, name, actor=actor)

    def restore_experiment(self, name: str, *, actor: Actor | None = None) -> dict[str, Any]:
        """Bring back a deleted experiment and its runs."""
        return _delete.restore_experiment(self.store, self.project, name, actor=actor)

    # -- helpers ------------------------------------------------------------------------

    def _stale(self) -> tuple[int, int]:
        """(cutoff in ms, timeout in s): a RUNNING run last seen before the cutoff is dead."""
        return stale_before(self.store), self.store.config.run_heartbeat_timeout

    def _experiment_id(
        self, conn: sa.Connection, project_id: str, name: str, *, create: bool
    ) -> str:
        return named_id(
            conn,
            t.experiments,
            project_id,
            name,
            kind="experiment",
            project=self.project,
            create=create,
        )

    @property
    def _max_field_bytes(self) -> int:
        return self.store.config.max_field_kb * 1024

    def _read_project_id(self) -> str | None:
        """This service's project id (None for a ``default`` project not yet written to);
        never creates it; an unknown project is NotFound."""
        return self.store.read_project_id(self.project)

    def _require_run(
        self, conn: sa.Connection, run_id: str, project_id: str | None
    ) -> sa.RowMapping:
        """The run, if it is in this service's project; a run elsewhere is not found."""
        run_id = str(run_id)
        if project_id is None or _problem_text(run_id):
            self._missing_run(run_id)
        e = t.experiments
        row = (
            conn.execute(
                sa.select(
                    t.runs, e.c.name.label("experiment"), _deleted_at(e).label("deleted_since")
                )
                .join(e, e.c.id == t.runs.c.experiment_id)
                .where(t.runs.c.id == run_id, e.c.project_id == project_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            self._missing_run(run_id)
        return row

    def _update_run(
        self, conn: sa.Connection, run_id: str, project_id: str | None, values: dict[str, Any]
    ) -> None:
        """Update the run if it is in this service's project (one statement, which is also
        the existence check); a run elsewhere is not found."""
        run_id = str(run_id)
        where = [t.runs.c.id == run_id]
        if run_id not in self._own_runs:
            if project_id is None or _problem_text(run_id):
                self._missing_run(run_id)
            in_project = sa.select(t.experiments.c.id).where(
                t.experiments.c.project_id == project_id
            )
            where.append(t.runs.c.experiment_id.in_(in_project))
        if not conn.execute(t.runs.update().where(*where).values(**values)).rowcount:
            self._missing_run(run_id)
        self._remember(run_id)

    def _update(
        self,
        conn: sa.Connection,
        run_id: str,
        project_id: str | None,
        statement: str,
        values: tuple[Any, ...],
    ) -> None:
        """:meth:`_update_run` through a fixed statement of :mod:`._statements`."""
        run_id = str(run_id)
        if run_id in self._own_runs:
            done = _statements.run(conn, statement, (*values, run_id))
        else:
            if project_id is None or _problem_text(run_id):
                self._missing_run(run_id)
            done = _statements.run(conn, statement + "_in_project", (*values, run_id, project_id))
        if not done:
            self._missing_run(run_id)
        self._remember(run_id)

    def _remember(self, run_id: str) -> None:
        if len(self._own_runs) >= 4096:  # bounded: a long-lived SDK process makes many runs
            self._own_runs.clear()
        self._own_runs[run_id] = None

    def _missing_run(self, run_id: str) -> NoReturn:
        raise NotFound(
            f"No run with id {run_id[:60]!r} in project {self.project!r}. "
            "List runs with 'keel runs ls' or keel.search_runs()."
        )


def _checked_search(query: RunQuery, config: Any) -> tuple[Node | None, list[OrderKey]]:
    """The parsed filter and order of ``query``, within the store's limits and checked
    (a hand-built node is refused before anything is read); the same search is parsed
    once (a dashboard's or a script's repeats)."""
    from ._search_limits import SearchLimits

    limits = SearchLimits.from_config(config)
    try:
        node, order = _parsed_search(query, limits)
    except TypeError:  # unhashable parts (a list of experiments): parsed every time
        node, order = _parsed_search.__wrapped__(query, limits)
    return node, list(order)


@functools.lru_cache(maxsize=_compiled.CACHE_SIZE)
def _parsed_search(query: RunQuery, limits: Any) -> tuple[Node | None, tuple[OrderKey, ...]]:
    from ._search_limits import check_search

    node, order = check_search(query, limits)
    _checked_filter(node)
    return node, tuple(order)


@functools.lru_cache(maxsize=_compiled.CACHE_SIZE)
def _checked_filter(node: Node | None) -> None:
    """Refuse a filter that breaks the parser's rules (a node built by hand); a filter
    once accepted is not checked again (an error is not remembered)."""
    from ._filter import compile_filter

    compile_filter(node)


def _deleted_at(e: sa.Table) -> sa.ColumnElement:
    """When a run was deleted: its own mark, else its experiment's (soft delete)."""
    return sa.func.coalesce(t.runs.c.deleted_at, e.c.deleted_at)


def _problem_text(text: str) -> bool:
    """Whether ``text`` could not have been stored (so a lookup by it finds nothing)."""
    try:
        check_text("name", text)
    except InvalidInput:
        return True
    return False


def _run_from_row(
    row: Mapping[str, Any],
    stale: tuple[int, int] | None = None,
    extras: Sequence[str] = _EXTRA_COLUMNS,
) -> RunRecord:
    """A run as read; a RUNNING run whose process stopped reporting reads as KILLED.
    ``extras``: which of the JSON columns the row has (a search may leave them out)."""
    dead = as_reported(row, *stale) if stale is not None else None
    if dead is not None:
        row = {**row, **dead}
    return RunRecord(
        id=row["id"],
        experiment=row["experiment"],
        experiment_id=row["experiment_id"],
        name=row["name"],
        status=row["status"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        parent_id=row["parent_id"],
        error=row["error"],
        code=row["code"] if "code" in extras else None,
        environment=row["environment"] if "environment" in extras else None,
        deleted_at=row.get("deleted_since"),
    )


def _attach_details(conn: sa.Connection, records: dict[str, RunRecord], *, artifacts: bool) -> None:
    """Fill in the params, tags and latest metrics of ``records`` (and their artifacts)."""
    ids = list(records)
    listed = _statements.id_list(conn, ids)  # one parameter: no statement built per size
    for table, attr in (("run_params", "params"), ("run_tags", "tags")):
        for run_id, key, value in _statements.rows(conn, f"{table}_of", (listed,)):
            getattr(records[run_id], attr)[key] = value
    for run_id, key, value in _statements.rows(conn, "run_latest_metrics_of", (listed,)):
        records[run_id].metrics[key] = decode_value(value)
    if not artifacts:
        return
    a = t.run_artifacts
    found: dict[str, list[ArtifactRecord]] = {}
    for row in conn.execute(
        sa.select(a.c.run_id, a.c.name, a.c.kind, a.c.digest, a.c.size, a.c.created_at)
        .where(a.c.run_id.in_(ids))
        .order_by(a.c.run_id, a.c.name)
    ):
        found.setdefault(row[0], []).append(ArtifactRecord(*row[1:]))
    for run_id, artifacts in found.items():  # a listing says which artifacts a run has
        records[run_id].artifacts = artifacts


def _insert_pairs(conn: sa.Connection, table: sa.Table, run_id: str, pairs: dict[str, str]) -> None:
    if pairs:
        conn.execute(
            table.insert(), [{"run_id": run_id, "key": k, "value": v} for k, v in pairs.items()]
        )


def _upsert_pairs(conn: sa.Connection, table: sa.Table, run_id: str, pairs: dict[str, str]) -> None:
    stmt = dialect_insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.run_id, table.c.key], set_={"value": stmt.excluded.value}
    )
    conn.execute(stmt, [{"run_id": run_id, "key": k, "value": v} for k, v in pairs.items()])


class _CheckedJson:
    """:func:`json_field`, remembering its last answer per field: a process sends the same
    captured code and environment with every run it starts, and checking them again (a
    scan for long numbers, a Python walk) cost about a tenth of creating a run (busy
    machine). The same serialised bytes under the same size limit pass again unchecked;
    each answer is a fresh parse of them (no caller shares a mutable record with another).
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[bytes, int]] = {}

    def checked(
        self, what: str, value: Mapping[str, Any] | None, max_bytes: int
    ) -> dict[str, Any] | None:
        """``json_field(what, value, max_bytes)``, not checked again for the same bytes."""
        if not value or type(value) is not dict:
            return json_field(what, value, max_bytes)
        try:
            data = orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            return json_field(what, value, max_bytes)  # raises, naming the problem
        last = self._last.get(what)
        if last is not None and last[0] == data and last[1] == max_bytes:
            return orjson.loads(data)
        checked = json_field(what, value, max_bytes)
        self._last[what] = (data, max_bytes)
        return checked


def _json_text(value: dict[str, Any] | None) -> str | None:
    """A JSON column's text (SQL NULL for None), as SQLAlchemy's JSON type would read it."""
    return None if value is None else orjson.dumps(value).decode()
