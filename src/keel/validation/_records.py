"""Schemas and validation reports on record, linked to what they describe.

A report's summary (verdict and counts) is a row in ``validation_reports``; the full report
(every check, its examples) is a JSON object in the object store. An edge
``<subject> --validated_by--> validation_report`` puts it in the lineage graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from keel.errors import NotFound

from ._report import ValidationReport

if TYPE_CHECKING:
    from keel.store import Store

    from ._data import Subject
    from ._schema import Schema

__all__ = ["ReportRecords", "get_report", "list_reports", "record_report", "record_schema"]

MAX_LISTED = 1000
"""Most reports one listing answers (newest first)."""


def _store(store: Store | None = None) -> Store:
    from ._data import dataset_service

    return store if store is not None else dataset_service().store


def record_schema(
    schema: Schema, *, inferred_from: str | None = None, store: Store | None = None
) -> str:
    """Keep ``schema`` on record (once per name and content); its id."""
    import sqlalchemy as sa

    from keel.store import schema as t
    from keel.store._ids import new_id, now_ms

    store = _store(store)
    project_id = store.project_id()
    spec = schema.to_dict()
    name = schema.name or "unnamed"
    s = t.schemas
    with store.write() as conn:
        rows = conn.execute(
            sa.select(s.c.id, s.c.spec, s.c.inferred_from).where(
                s.c.project_id == project_id, s.c.name == name
            )
        ).all()
        for id_, stored, source in rows:
            if stored == spec and source == inferred_from:
                return id_
        id_ = new_id()
        conn.execute(
            s.insert().values(
                id=id_,
                project_id=project_id,
                name=name,
                spec=spec,
                inferred_from=inferred_from,
                created_at=now_ms(),
            )
        )
    return id_


def record_report(
    report: ValidationReport,
    schema: Schema,
    subject: Subject,
    *,
    store: Store | None = None,
    owner: tuple[str, str] | None = None,
) -> str:
    """Keep ``report`` on record, linked to ``owner`` if given, else to its subject (a
    dataset version) or the active run."""
    from keel.store import schema as t
    from keel.store._ids import new_id, now_ms
    from keel.store.lineage import record_edges

    store = _store(store)
    owner_kind, owner_id = owner if owner is not None else (subject.kind, subject.id)
    if owner is None and owner_kind != "dataset_version":
        from keel._context import active_run

        run = active_run()
        if run is None:
            from keel.errors import InvalidInput

            raise InvalidInput(
                f"A report on {subject.label} has nothing to be recorded against: validate a "
                "dataset version (e.g. 'credit:v3'), or validate inside a run "
                "(keel.start_run()), or pass record=False."
            )
        owner_kind, owner_id = "run", run.id
    schema_id = record_schema(schema, store=store)
    report.id = new_id()
    digest = store.put_object(report.to_json(), media_type="application/json")
    with store.write() as conn:
        conn.execute(
            t.validation_reports.insert().values(
                id=report.id,
                schema_id=schema_id,
                subject_kind=owner_kind,
                subject_id=owner_id,
                passed=report.passed,
                summary=report.summary(),
                report_digest=digest,
                created_at=now_ms(),
            )
        )
        record_edges(
            store,
            [(owner_kind, owner_id, "validated_by", "validation_report", report.id)],
            conn=conn,
        )
    return report.id


def list_reports(
    subject_kind: str, subject_id: str, *, store: Store | None = None
) -> list[dict[str, Any]]:
    """Reports on one subject, newest first: id, verdict, summary, when."""
    import sqlalchemy as sa

    from keel.store import schema as t

    r = t.validation_reports
    with _store(store).read() as conn:
        rows = conn.execute(
            sa.select(r.c.id, r.c.passed, r.c.summary, r.c.created_at)
            .where(r.c.subject_kind == subject_kind, r.c.subject_id == subject_id)
            .order_by(r.c.created_at.desc())
        ).all()
    return [{"id": i, "passed": bool(p), "summary": s, "created_at": c} for i, p, s, c in rows]


def get_report(report_id: str, *, store: Store | None = None) -> ValidationReport:
    """The full report recorded under ``report_id`` (verified on read)."""
    import sqlalchemy as sa

    from keel.store import schema as t

    store = _store(store)
    r = t.validation_reports
    with store.read() as conn:
        digest = conn.execute(sa.select(r.c.report_digest).where(r.c.id == report_id)).scalar()
    if digest is None:
        raise NotFound(f"No validation report {report_id!r}. List them with 'keel data show NAME'.")
    with store.objects.open(digest) as fh:
        report = ValidationReport.from_dict(orjson.loads(fh.read()))
    report.id = report_id
    return report


class ReportRecords:
    """The validation reports recorded in one project, read-only: what ``client.reports()``
    and the server's ``/validation/reports`` routes answer.

    A report belongs to the project of the schema it was checked against (both are
    recorded together by :func:`record_report`); a report id from another project is not
    found here.

    Args:
        store: the store holding the reports.
        project: the project to read (the store's configured one by default).
    """

    def __init__(self, store: Store, project: str | None = None) -> None:
        self.store = store
        self.project = project or store.config.project

    def list(
        self, subject: tuple[str, str] | None = None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Reports newest first (at most ``limit``), on one ``(kind, id)`` subject if given:
        id, passed, summary, created_at, subject_kind, subject_id."""
        import sqlalchemy as sa

        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LISTED:
            from keel.errors import InvalidInput

            raise InvalidInput(
                f"limit must be a whole number from 1 to {MAX_LISTED}. Got {str(limit)[:40]!r}."
            )
        r = self._table()
        project_id = self.store.read_project_id(self.project)
        select = self._in_project(
            sa.select(
                r.c.id, r.c.passed, r.c.summary, r.c.created_at, r.c.subject_kind, r.c.subject_id
            ),
            project_id,
        )
        if subject is not None:
            select = select.where(r.c.subject_kind == subject[0], r.c.subject_id == subject[1])
        with self.store.read() as conn:
            rows = conn.execute(select.order_by(r.c.created_at.desc(), r.c.id).limit(limit))
            return [
                {
                    "id": i,
                    "passed": bool(p),
                    "summary": s,
                    "created_at": c,
                    "subject_kind": k,
                    "subject_id": sid,
                }
                for i, p, s, c, k, sid in rows
            ]

    def get(self, report_id: str) -> ValidationReport:
        """The full report (verified against its digest on read)."""
        digest, _ = self._find(report_id)
        return self._load(digest, report_id)

    def html(self, report_id: str) -> str:
        """The report as one self-contained HTML page (inline CSS and SVG, no scripts).

        The page is drawn from the record alone, so it has no per-column charts of the
        data (``keel validate --html`` draws those while it still holds the table); the
        schema it was checked against still decides which columns are masked as personal.
        """
        from keel.errors import InvalidInput

        from ._html import render_html
        from ._schema import Schema

        digest, spec = self._find(report_id)
        report = self._load(digest, report_id)
        try:
            schema = Schema.from_dict(spec) if spec else None
        except InvalidInput:  # a schema this version cannot read: mask from the report only
            schema = None
        return render_html(report, None, schema)

    def _load(self, digest: str, report_id: str) -> ValidationReport:
        with self.store.objects.open(digest) as fh:
            report = ValidationReport.from_dict(orjson.loads(fh.read()))
        report.id = report_id
        return report

    def _find(self, report_id: str) -> tuple[str, dict[str, Any] | None]:
        import sqlalchemy as sa

        from keel.store import schema as t

        r = self._table()
        project_id = self.store.read_project_id(self.project)
        found = None
        if isinstance(report_id, str) and 0 < len(report_id) <= 200 and "\x00" not in report_id:
            with self.store.read() as conn:
                found = conn.execute(
                    self._in_project(
                        sa.select(r.c.report_digest, t.schemas.c.spec), project_id
                    ).where(r.c.id == report_id)
                ).first()
        if found is None or found[0] is None:
            raise NotFound(
                f"No validation report {str(report_id)[:60]!r} in project {self.project!r}. "
                "List them with client.reports() or GET .../validation/reports."
            )
        return found[0], found[1]

    @staticmethod
    def _table() -> Any:
        from keel.store import schema as t

        return t.validation_reports

    @staticmethod
    def _in_project(select: Any, project_id: str | None) -> Any:
        from keel.store import schema as t

        r, s = t.validation_reports, t.schemas
        return select.join(s, s.c.id == r.c.schema_id).where(s.c.project_id == project_id)
