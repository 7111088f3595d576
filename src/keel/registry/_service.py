"""The model registry: versions, aliases under a policy, approvals, and the audit trail."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from keel._plural import count
from keel.errors import InvalidInput, NotFound, PermissionDenied, did_you_mean
from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import audit_events, record_event
from keel.store.deletion import highest_deleted
from keel.store.lineage import record_edges
from keel.store.names import check_name_free
from keel.store.rows import lock_row, named_id

from ._records import (
    HistoryEvent,
    ModelVersion,
    Policy,
    check_alias,
    check_metrics,
    check_model_name,
    parse_model_ref,
)

if TYPE_CHECKING:
    from keel.data import DatasetService
    from keel.tracking import TrackingBackend

    from ._package import PackageManifest

__all__ = ["Actor", "RegistryService"]

_version_packages: weakref.WeakKeyDictionary[Store, dict[tuple[str, str, int], str]] = (
    weakref.WeakKeyDictionary()
)
"""Per store: (project, model, version number) -> package digest. Versions never change."""

# Built once: a statement built per call costs more than running it (SQLAlchemy caches
# the compiled form by the statement's structure).
_LATEST = (
    sa.select(t.model_versions.c.version, t.model_versions.c.package_digest)
    .join(t.models, t.models.c.id == t.model_versions.c.model_id)
    .where(
        t.models.c.project_id == sa.bindparam("project_id"),
        t.models.c.name == sa.bindparam("name"),
    )
    .order_by(t.model_versions.c.version.desc())
    .limit(1)
)
_BY_ALIAS = (
    sa.select(t.model_versions.c.version, t.model_versions.c.package_digest)
    .join(t.model_aliases, t.model_aliases.c.version_id == t.model_versions.c.id)
    .join(t.models, t.models.c.id == t.model_aliases.c.model_id)
    .where(
        t.models.c.project_id == sa.bindparam("project_id"),
        t.models.c.name == sa.bindparam("name"),
        t.model_aliases.c.alias == sa.bindparam("alias"),
    )
)


class RegistryService:
    """Registered models in one project of a store, acted on by ``actor``."""

    def __init__(self, store: Store, *, project: str | None = None, actor: Actor | None = None):
        self.store = store
        self.project = project or store.config.project
        self.actor = actor or Actor.local()

    # -- registering ----------------------------------------------------------------------

    def register(
        self,
        model: Any,
        name: str,
        *,
        input_example: Any = None,
        run: str | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str | None = None,
        flavor: str | None = None,
        training_data: Iterable[str] = (),
    ) -> ModelVersion:
        """Package ``model`` (files, signature, environment) and record it as the next version."""
        self.actor.require("writer", "register a model")
        check_model_name(name)
        metrics = check_metrics(metrics)
        self._check_name_free(name)
        from ._package import build_package

        digest, manifest = build_package(
            model,
            self.store.objects,
            flavor=flavor,
            input_example=input_example,
            source_run=run,
            training_data=list(training_data),
        )
        return self._record(
            name, digest, manifest, run=run, metrics=metrics, description=description
        )

    def record_package(
        self,
        name: str,
        package: str,
        *,
        run: str | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str | None = None,
        flavor: str | None = None,
        signature: Mapping[str, Any] | None = None,
        runs: TrackingBackend | None = None,
    ) -> ModelVersion:
        """Record a package someone else built (a client of a keel server) as the next
        version of ``name``, once its files are all in this store and intact.

        ``flavor`` and ``signature``, if given, must be what the package's manifest holds;
        ``run`` must be a run of this project (in ``runs``, this store's by default).

        Raises:
            InvalidInput: the package is missing, is not a package, a file it declares is
                missing or does not match its digest, or it disagrees with the request.
            RunNotFound: no such run in the project.
        """
        self.actor.require("writer", "register a model")
        check_model_name(name)
        metrics = check_metrics(metrics)
        self._check_name_free(name)
        from ._package import verified_package

        manifest = verified_package(self.store.objects, package, name)
        if flavor is not None and flavor != manifest.flavor:
            raise InvalidInput(
                f"Registering {name!r}: the request says flavor {str(flavor)[:60]!r} but "
                f"package {package} is {manifest.flavor!r}. Send the manifest's flavor."
            )
        if signature is not None and dict(signature) != manifest.signature:
            raise InvalidInput(
                f"Registering {name!r}: the request's signature differs from the one package "
                f"{package} records. Send the manifest's signature (or none)."
            )
        if run is not None:
            if runs is None:
                from keel.tracking import SqlTracking

                runs = SqlTracking(self.store, project=self.project)
            runs.get_run(run)  # RunNotFound unless the run is in this project
        return self._record(
            name, package, manifest, run=run, metrics=metrics, description=description
        )

    def _record(
        self,
        name: str,
        digest: str,
        manifest: PackageManifest,
        *,
        run: str | None,
        metrics: dict[str, float],
        description: str | None,
    ) -> ModelVersion:
        """Record a stored package as the next version of ``name``, with its audit event."""
        project_id = self.store.project_id(self.project)
        version_id = new_id()
        with self.store.write() as conn:
            for file_digest in (*manifest.files.values(), digest):
                self.store.record_object(file_digest, conn=conn)
            model_id = self._model_id(conn, project_id, name, create=True)
            lock_row(conn, t.models, model_id)  # concurrent writers number in turn
            number = 1 + max(
                conn.execute(
                    sa.select(sa.func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.model_id == model_id
                    )
                ).scalar()
                or 0,
                highest_deleted(conn, "model", model_id),  # numbers are never reused
            )
            conn.execute(
                t.model_versions.insert().values(
                    id=version_id,
                    model_id=model_id,
                    version=number,
                    flavor=manifest.flavor,
                    package_digest=digest,
                    signature=manifest.signature,
                    run_id=run,
                    metrics=metrics,
                    description=description,
                    created_at=now_ms(),
                )
            )
            if run is not None:
                record_edges(
                    self.store, [("run", run, "produced", "model_version", version_id)], conn=conn
                )
            self._audit(
                conn,
                project_id,
                "register",
                model_id,
                {"version": number, "flavor": manifest.flavor},
            )
        return self._version(version_id)

    def register_from_run(
        self,
        run_id: str,
        name: str,
        *,
        runs: TrackingBackend | None = None,
        datasets: DatasetService | None = None,
        artifact: str = "model.skops",
        example: str | None = None,
        drop: Iterable[str] = (),
    ) -> ModelVersion:
        """Register the scikit-learn model a run logged as a skops ``artifact``, with the
        run's metrics; ``example`` is a dataset reference whose first rows (less the ``drop``
        columns) give the signature. ``runs`` and ``datasets`` default to this store's.

        See :func:`keel.registry._from_run.register_from_run` for the errors.
        """
        from ._from_run import register_from_run

        if runs is None:
            from keel.tracking import SqlTracking

            runs = SqlTracking(self.store, project=self.project)
        return register_from_run(
            self,
            run_id,
            name,
            runs=runs,
            datasets=datasets,
            artifact=artifact,
            example=example,
            drop=drop,
        )

    # -- reading --------------------------------------------------------------------------

    def get(self, ref: str | ModelVersion) -> ModelVersion:
        """The version a reference names: ``credit``, ``credit:4``, ``credit@champion``."""
        if isinstance(ref, ModelVersion):
            return ref
        parsed = parse_model_ref(ref)
        mv, al = t.model_versions, t.model_aliases
        project_id = self.store.read_project_id(self.project)
        with self.store.read() as conn:
            model_id = self._model_id(conn, project_id, parsed.name, create=False)
            if parsed.alias is not None:
                found = conn.execute(
                    sa.select(al.c.version_id).where(
                        al.c.model_id == model_id, al.c.alias == parsed.alias
                    )
                ).scalar()
                if found is None:
                    aliases = list(
                        conn.execute(
                            sa.select(al.c.alias).where(al.c.model_id == model_id)
                        ).scalars()
                    )
                    raise NotFound(
                        f"Model {parsed.name!r} has no alias {parsed.alias!r}."
                        f"{did_you_mean(parsed.alias, aliases)} "
                        f"Aliases: {', '.join(aliases) or 'none'}."
                    )
            else:
                select = sa.select(mv.c.id).where(mv.c.model_id == model_id)
                if parsed.version is not None:
                    found = conn.execute(select.where(mv.c.version == parsed.version)).scalar()
                    if found is None:
                        raise NotFound(f"Model {parsed.name!r} has no version {parsed.version}.")
                else:
                    found = conn.execute(select.order_by(mv.c.version.desc()).limit(1)).scalar()
        return self._version(found)

    def versions(self, name: str) -> list[ModelVersion]:
        mv = t.model_versions
        project_id = self.store.read_project_id(self.project)
        with self.store.read() as conn:
            model_id = self._model_id(conn, project_id, check_model_name(name), create=False)
            ids = (
                conn.execute(
                    sa.select(mv.c.id).where(mv.c.model_id == model_id).order_by(mv.c.version)
                )
                .scalars()
                .all()
            )
        return [self._version(i) for i in ids]

    def list(self) -> list[dict[str, Any]]:
        """Every model with its latest version, aliases and policy."""
        m = t.models
        project_id = self.store.read_project_id(self.project)
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(m.c.name, m.c.policy)
                .where(m.c.project_id == project_id)
                .order_by(m.c.name)
            ).all()
        out = []
        for name, policy in rows:
            versions = self.versions(name)
            aliases = {a: v.ref for v in versions for a in v.aliases}
            out.append(
                {
                    "name": name,
                    "versions": len(versions),
                    "latest": versions[-1].to_dict() if versions else None,
                    "aliases": aliases,
                    "policy": policy,
                }
            )
        return out

    def load(self, ref: str | ModelVersion, *, trust: bool = False, native: bool = True):
        """The version's model, ready to ``predict`` with its signature enforced.

        ``credit:4`` is resolved to its package once per store and process (a version's
        package never changes); ``credit@champion`` and ``credit`` (the latest version)
        are resolved by one query on every call, so a moved alias or a new version is
        seen at once. The package itself is verified and loaded once, then served from
        memory by its digest. ``native=False`` predicts with the model object even when
        the package has a native scorer (see :func:`keel.load_model`).
        """
        from ._loaded import load_package

        digest, name = self._package(ref)
        return load_package(self.store.objects, digest, trust=trust, ref=name, native=native)

    def _package(self, ref: str | ModelVersion) -> tuple[str, str]:
        """The package digest and ``name:N`` of a reference, with as little work as possible."""
        if isinstance(ref, ModelVersion):
            return ref.package_digest, ref.ref
        parsed = parse_model_ref(ref)
        if parsed.version is not None:
            known = _version_packages.setdefault(self.store, {})
            key = (self.project, parsed.name, parsed.version)
            digest = known.get(key)
            if digest is None:
                digest = known[key] = self.get(ref).package_digest
            return digest, f"{parsed.name}:{parsed.version}"
        query = _LATEST if parsed.alias is None else _BY_ALIAS
        params = {
            "project_id": self.store.read_project_id(self.project),
            "name": parsed.name,
            "alias": parsed.alias,
        }
        with self.store.read() as conn:
            found = conn.execute(query, params).first()
        if found is None:
            return self._package(self.get(ref))  # raises NotFound, naming what is missing
        number, digest = found
        return digest, f"{parsed.name}:{number}"

    # -- aliases, policy, approvals -------------------------------------------------------

    def set_policy(self, name: str, policy: Policy | Mapping[str, Any]) -> Policy:
        """Set what moving each alias requires.

        Example: ``{"aliases": {"champion": {"approvals": 1, "gate": True}}}``.
        """
        self.actor.require("admin", "change a promotion policy")
        policy = policy if isinstance(policy, Policy) else Policy.from_dict(dict(policy))
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            model_id = self._model_id(conn, project_id, check_model_name(name), create=False)
            conn.execute(
                t.models.update().where(t.models.c.id == model_id).values(policy=policy.to_dict())
            )
            self._audit(conn, project_id, "set_policy", model_id, policy.to_dict())
        return policy

    def policy(self, name: str) -> Policy:
        project_id = self.store.read_project_id(self.project)
        with self.store.read() as conn:
            model_id = self._model_id(conn, project_id, check_model_name(name), create=False)
            raw = conn.execute(
                sa.select(t.models.c.policy).where(t.models.c.id == model_id)
            ).scalar()
        return Policy.from_dict(raw)

    def approve(self, ref: str | ModelVersion, comment: str | None = None) -> None:
        """Record the actor's approval of a version."""
        self._decide(ref, "approved", comment)

    def reject(self, ref: str | ModelVersion, comment: str | None = None) -> None:
        """Record the actor's rejection of a version; it blocks promotion until re-approved."""
        self._decide(ref, "rejected", comment)

    def _decide(self, ref: str | ModelVersion, decision: str, comment: str | None) -> None:
        self.actor.require("approver", f"record a model decision ({decision})")
        version = self.get(ref)
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            conn.execute(
                t.approvals.insert().values(
                    id=new_id(),
                    version_id=version.id,
                    decision=decision,
                    actor=self.actor.name,
                    comment=comment,
                    created_at=now_ms(),
                )
            )
            model_id = self._model_id(conn, project_id, version.model, create=False)
            action = "approve" if decision == "approved" else "reject"
            details = {"version": version.version, "comment": comment}
            self._audit(conn, project_id, action, model_id, details)

    def approvals(self, ref: str | ModelVersion) -> dict[str, str]:
        """Each actor's latest decision on a version: {actor: 'approved' | 'rejected'}."""
        version = self.get(ref)
        a = t.approvals
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(a.c.actor, a.c.decision)
                .where(a.c.version_id == version.id)
                .order_by(a.c.created_at, a.c.id)
            ).all()
        return dict(rows)

    def set_alias(
        self, ref: str | ModelVersion, alias: str, *, reason: str | None = None
    ) -> ModelVersion:
        """Point ``alias`` at a version, atomically, if the model's policy allows it."""
        self.actor.require("writer", "move an alias")
        check_alias(alias)
        version = self.get(ref)
        self._require_for_alias(version.model, alias, "move")
        evidence = self._check_policy(version, alias)
        return self._move(
            version.model, alias, version, action="set_alias", reason=reason, evidence=evidence
        )

    def rollback(self, name: str, alias: str = "champion") -> ModelVersion:
        """Move ``alias`` back to the version it pointed to before its last move."""
        self.actor.require("writer", "roll back an alias")
        check_alias(alias)
        self._require_for_alias(name, alias, "roll back")
        events = [
            e
            for e in self.history(name)
            if e.action in ("set_alias", "rollback") and e.details.get("alias") == alias
        ]
        undone = {e.details.get("undoes") for e in events if e.action == "rollback"}
        for event in reversed(events):
            if event.action == "set_alias" and event.details.get("event") not in undone:
                previous = event.details.get("from")
                if previous is None:
                    raise InvalidInput(
                        f"{name}@{alias} has no earlier version to roll back to "
                        f"(it was first set to {event.details.get('to')})."
                    )
                target = self.get(f"{name}:{previous}")
                return self._move(
                    name, alias, target, action="rollback", undoes=event.details.get("event")
                )
        raise NotFound(f"{name}@{alias} was never moved, so there is nothing to roll back.")

    def _move(
        self,
        name: str,
        alias: str,
        version: ModelVersion,
        *,
        action: str,
        reason: str | None = None,
        undoes: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> ModelVersion:
        al = t.model_aliases
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            model_id = self._model_id(conn, project_id, name, create=False)
            current = conn.execute(
                sa.select(t.model_versions.c.version)
                .join(al, al.c.version_id == t.model_versions.c.id)
                .where(al.c.model_id == model_id, al.c.alias == alias)
            ).scalar()
            conn.execute(sa.delete(al).where(al.c.model_id == model_id, al.c.alias == alias))
            conn.execute(
                al.insert().values(
                    model_id=model_id, alias=alias, version_id=version.id, updated_at=now_ms()
                )
            )
            details = {
                "event": new_id(),
                "alias": alias,
                "from": current,
                "to": version.version,
                "reason": reason,
            }
            if undoes:
                details["undoes"] = undoes
            details.update(evidence or {})
            self._audit(conn, project_id, action, model_id, details)
        return self._version(version.id)

    def _require_for_alias(self, name: str, alias: str, verb: str) -> None:
        """An alias the model's policy protects moves only for an approver (or admin)."""
        if alias in self.policy(name).rules:
            self.actor.require("approver", f"{verb} {name}@{alias}, which its policy protects")

    def _check_policy(self, version: ModelVersion, alias: str) -> dict[str, Any]:
        """What the policy asks of moving ``alias`` to ``version``: PermissionDenied naming
        every unmet requirement, else the evidence the audit event keeps (who registered
        and who approved the version)."""
        rule = self.policy(version.model).rules.get(alias)
        if rule is None:
            return {}
        problems = []
        decisions = self.approvals(version)
        rejected = sorted(actor for actor, d in decisions.items() if d == "rejected")
        approvers = sorted(actor for actor, d in decisions.items() if d == "approved")
        registrant = self._registrant(version)
        if rejected:
            problems.append(f"it was rejected by {', '.join(rejected)}")
        if rule.four_eyes:
            others = [a for a in approvers if a != registrant]
            needed = max(rule.approvals, 1)
            if len(others) < needed:
                own = (
                    " (its registrant's own approval does not count)"
                    if registrant in (approvers)
                    else ""
                )
                problems.append(
                    f"it needs {count(needed, 'approval')} from someone other than {registrant!r}, "
                    f"who registered it, and has {len(others)}{own}"
                )
        elif len(approvers) < rule.approvals:
            problems.append(
                f"it has {len(approvers)} of the {count(rule.approvals, 'approval')} required"
            )
        if rule.gate and not self._gate_passed(version):
            problems.append(
                "no passing evaluation gate is recorded for it "
                "('keel models evaluate ... --gate ...')"
            )
        if problems:
            raise PermissionDenied(
                f"The policy of {version.model!r} does not allow moving {alias!r} to "
                f"{version.ref}: " + "; ".join(problems) + ". Nothing was changed."
            )
        return {"registered_by": registrant, "approved_by": approvers}

    def _registrant(self, version: ModelVersion) -> str | None:
        """Who registered ``version``, as its audit event records."""
        for event in self.history(version.model):
            if event.action == "register" and event.details.get("version") == version.version:
                return event.actor
        return None

    def _gate_passed(self, version: ModelVersion) -> bool:
        e = t.evaluations
        with self.store.read() as conn:
            latest = conn.execute(
                sa.select(e.c.passed)
                .where(e.c.version_id == version.id, e.c.gate.is_not(None))
                .order_by(e.c.created_at.desc(), e.c.id.desc())
                .limit(1)
            ).scalar()
        return bool(latest)

    # -- history --------------------------------------------------------------------------

    def history(self, name: str) -> list[HistoryEvent]:
        """Every registration, alias move, approval, rejection and policy change, oldest first."""
        project_id = self.store.read_project_id(self.project)
        with self.store.read() as conn:
            model_id = self._model_id(conn, project_id, check_model_name(name), create=False)
            rows = audit_events(conn, object_kind="model", object_id=model_id)
        return [
            HistoryEvent(r["created_at"], r["actor"], r["action"], name, r["details"] or {})
            for r in rows
        ]

    def record_evaluation(
        self,
        version: ModelVersion,
        *,
        baseline: ModelVersion | None,
        data_ref: str,
        metrics: dict[str, Any],
        gate: str | None,
        passed: bool | None,
        report: bytes | None = None,
    ) -> str:
        """Store an evaluation's results (and its report) for a version."""
        report_digest = self.store.objects.put(report) if report else None
        evaluation_id = new_id()
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            if report_digest:
                self.store.record_object(report_digest, conn=conn)
            conn.execute(
                t.evaluations.insert().values(
                    id=evaluation_id,
                    version_id=version.id,
                    baseline_id=baseline.id if baseline else None,
                    data_ref=data_ref,
                    metrics=metrics,
                    gate=gate,
                    passed=passed,
                    report_digest=report_digest,
                    created_at=now_ms(),
                )
            )
            model_id = self._model_id(conn, project_id, version.model, create=False)
            self._audit(
                conn,
                project_id,
                "evaluate",
                model_id,
                {
                    "version": version.version,
                    "against": baseline.ref if baseline else None,
                    "gate": gate,
                    "passed": passed,
                },
            )
        return evaluation_id

    def evaluate(
        self,
        ref: str | ModelVersion,
        *,
        data: str,
        label: str,
        against: str | None = None,
        by: str | None = None,
        gate: str | None = None,
        backtest: str | None = None,
        freq: str = "month",
    ) -> Any:
        """Evaluate a version on a dataset of this project and record the result (see
        :func:`keel.registry.evaluate`); the same method through a keel server evaluates
        there. Returns the :class:`~keel.registry.Evaluation`."""
        from ._evaluate import evaluate

        candidate = ref.ref if isinstance(ref, ModelVersion) else ref
        return evaluate(
            self,
            candidate,
            data=data,
            label=label,
            against=against,
            by=by,
            gate=gate,
            backtest=backtest,
            freq=freq,
        )

    def evaluations(self, ref: str | ModelVersion) -> list[dict[str, Any]]:
        version = self.get(ref)
        e = t.evaluations
        with self.store.read() as conn:
            rows = (
                conn.execute(
                    sa.select(e)
                    .where(e.c.version_id == version.id)
                    .order_by(e.c.created_at, e.c.id)
                )
                .mappings()
                .all()
            )
        # plain str keys: column names may be str subclasses, which JSON encoders refuse
        return [{str(k): v for k, v in r.items()} for r in rows]

    # -- helpers --------------------------------------------------------------------------

    holders: tuple = ()
    """What other concepts hold of a version (see keel.store.deletion); the client sets it."""

    def delete(self, ref: str | ModelVersion, *, force: bool = False) -> Any:
        """Delete one version (``name:N``) that nothing protected holds: see
        :func:`keel.registry.delete_version`. Returns a :class:`keel.store.deletion.Deletion`."""
        from ._delete import delete_version

        return delete_version(self, ref, force=force, holders=self.holders)

    def _audit(
        self, conn: sa.Connection, project_id: str, action: str, model_id: str, details: dict
    ) -> None:
        record_event(
            conn,
            project_id=project_id,
            actor=self.actor.name,
            action=action,
            object_kind="model",
            object_id=model_id,
            details=details,
        )

    def _version(self, version_id: str) -> ModelVersion:
        mv, m, al = t.model_versions, t.models, t.model_aliases
        with self.store.read() as conn:
            row = (
                conn.execute(
                    sa.select(mv, m.c.name.label("model"))
                    .join(m, m.c.id == mv.c.model_id)
                    .where(mv.c.id == version_id)
                )
                .mappings()
                .one()
            )
            aliases = tuple(
                sorted(
                    conn.execute(
                        sa.select(al.c.alias).where(al.c.version_id == version_id)
                    ).scalars()
                )
            )
        return ModelVersion(
            id=row["id"],
            model=row["model"],
            version=row["version"],
            flavor=row["flavor"],
            package_digest=row["package_digest"],
            created_at=row["created_at"],
            signature=row["signature"],
            run_id=row["run_id"],
            metrics=row["metrics"] or {},
            description=row["description"],
            aliases=aliases,
        )

    def _model_id(self, conn: sa.Connection, project_id: str, name: str, *, create: bool) -> str:
        return named_id(
            conn, t.models, project_id, name, kind="model", project=self.project, create=create
        )

    def _check_name_free(self, name: str) -> None:
        project_id = self.store.find_project_id(self.project)
        if project_id is None:
            return
        with self.store.read() as conn:
            check_name_free(conn, project_id, name, "model")
