"""The model registry through a keel server: the same methods as :class:`RegistryService`.

Registering builds the package here and pushes its files through the server's object
routes (only those it lacks), then asks the server to record it; the server verifies
every file first. Loading resolves the reference on the server, fetches the package's
files (verified against their digests) and loads them here with keel's own loader, so the
trust rule (the skops allow-list, structure checks, ``trust=True`` for pyfunc) is applied
by this process, whatever the server holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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
    from keel._remote import RemoteClient
    from keel.data import DatasetService
    from keel.store.objects import ObjectStore
    from keel.tracking import TrackingBackend

    from ._evaluate import Evaluation
    from ._loaded import LoadedModel

__all__ = ["HttpRegistry"]


class HttpRegistry:
    """Registered models in one project of a keel server.

    Args:
        remote: the connection to the server (its token is the actor of every change).
        objects: the server's object store (:class:`~keel.store.objects.HttpObjectStore`).
        project: the project to work in.
    """

    def __init__(self, remote: RemoteClient, objects: ObjectStore, *, project: str) -> None:
        self.remote = remote
        self.objects = objects
        self.project = project

    def _path(self, name: str, *rest: str) -> str:
        parts = [quote(self.project, safe=""), "models", quote(check_model_name(name), safe="")]
        return "/api/v1/projects/" + "/".join([*parts, *rest])

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.remote.json(method, path, **kwargs)

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
        """Package ``model`` here, push the files the server lacks, and record it there as
        the next version."""
        from ._package import build_package

        check_model_name(name)
        metrics = check_metrics(metrics)
        digest, manifest = build_package(
            model,
            self.objects,
            flavor=flavor,
            input_example=input_example,
            source_run=run,
            training_data=list(training_data),
        )
        body = {
            "package": digest,
            "run": run,
            "metrics": metrics,
            "description": description,
            "flavor": manifest.flavor,
            "signature": manifest.signature,
        }
        return ModelVersion.from_dict(self._json("POST", self._path(name, "versions"), json=body))

    def register_from_run(
        self,
        run_id: str,
        name: str,
        *,
        runs: TrackingBackend,
        datasets: DatasetService | None = None,
        artifact: str = "model.skops",
        example: str | None = None,
        drop: Iterable[str] = (),
    ) -> ModelVersion:
        """Register the scikit-learn model a run logged as a skops ``artifact`` (see
        :meth:`RegistryService.register_from_run`); ``runs`` is the server's tracking."""
        from ._from_run import register_from_run

        if example and datasets is None:
            from keel.errors import InvalidInput

            raise InvalidInput(
                "An input example from a dataset needs datasets=: give the client's datasets."
            )
        return register_from_run(
            self,  # type: ignore[arg-type]
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
        if parsed.version is not None:
            path = self._path(parsed.name, "versions", str(parsed.version))
        else:
            path = self._path(parsed.name, "aliases", quote(parsed.alias or "latest", safe=""))
        return ModelVersion.from_dict(self._json("GET", path))

    def versions(self, name: str) -> list[ModelVersion]:
        return [ModelVersion.from_dict(v) for v in self._json("GET", self._path(name, "versions"))]

    def list(self) -> list[dict[str, Any]]:
        """Every model with its latest version, aliases and policy."""
        project = quote(self.project, safe="")
        return self._json("GET", f"/api/v1/projects/{project}/models")

    def load(
        self, ref: str | ModelVersion, *, trust: bool = False, native: bool = True
    ) -> LoadedModel:
        """The version's model, fetched from the server and loaded here (the trust rule
        applies in this process); a package already loaded is served from memory.

        The package's files are kept in the user's cache folder (``models/<digest>/``
        under ``KEEL_CACHE_DIR``), so another process loading the same package re-hashes
        them there instead of downloading them again; a file that does not match its
        digest is fetched again. ``native=False`` predicts with the model object even when
        the package has a native scorer (see :func:`keel.load_model`).
        """
        from ._disk_cache import model_cache_folder
        from ._loaded import load_package

        version = self.get(ref)
        kept: Path | None = model_cache_folder()
        try:
            kept.mkdir(parents=True, exist_ok=True)
        except OSError:  # no cache folder here: the process's temporary one
            kept = None
        return load_package(
            self.objects,
            version.package_digest,
            trust=trust,
            ref=version.ref,
            cache_dir=kept,
            native=native,
        )

    # -- aliases, policy, approvals -------------------------------------------------------

    def set_policy(self, name: str, policy: Policy | Mapping[str, Any]) -> Policy:
        """Set what moving each alias requires (an admin token)."""
        policy = policy if isinstance(policy, Policy) else Policy.from_dict(dict(policy))
        return Policy.from_dict(
            self._json("PUT", self._path(name, "policy"), json=policy.to_dict())
        )

    def policy(self, name: str) -> Policy:
        return Policy.from_dict(self._json("GET", self._path(name, "policy")))

    def approve(self, ref: str | ModelVersion, comment: str | None = None) -> None:
        """Record the token's approval of a version (an approver token)."""
        self._decide(ref, "approved", comment)

    def reject(self, ref: str | ModelVersion, comment: str | None = None) -> None:
        """Record the token's rejection of a version (an approver token)."""
        self._decide(ref, "rejected", comment)

    def _decide(self, ref: str | ModelVersion, decision: str, comment: str | None) -> None:
        version = self.get(ref)
        path = self._path(version.model, "versions", str(version.version), "approvals")
        self.remote.request("POST", path, json={"decision": decision, "comment": comment})

    def approvals(self, ref: str | ModelVersion) -> dict[str, str]:
        """Each actor's latest decision on a version: {actor: 'approved' | 'rejected'}."""
        version = self.get(ref)
        path = self._path(version.model, "versions", str(version.version), "approvals")
        return self._json("GET", path)

    def set_alias(
        self, ref: str | ModelVersion, alias: str, *, reason: str | None = None
    ) -> ModelVersion:
        """Point ``alias`` at a version, if the model's policy allows it."""
        check_alias(alias)
        version = self.get(ref)
        path = self._path(version.model, "aliases", alias)
        body = {"version": version.version, "reason": reason}
        return ModelVersion.from_dict(self._json("PUT", path, json=body))

    def rollback(self, name: str, alias: str = "champion") -> ModelVersion:
        """Move ``alias`` back to the version it pointed to before its last move."""
        check_alias(alias)
        return ModelVersion.from_dict(
            self._json("POST", self._path(name, "aliases", alias, "rollback"))
        )

    # -- history --------------------------------------------------------------------------

    def history(self, name: str) -> list[HistoryEvent]:
        """Every registration, alias move, approval, rejection and policy change, oldest first."""
        return [HistoryEvent(**e) for e in self._json("GET", self._path(name, "history"))]

    def delete(self, ref: str | ModelVersion, *, force: bool = False) -> Any:
        """Delete one version (``name:N``) nothing protected holds (the server checks every
        holder, deployments included)."""
        from keel.store.deletion import Deletion

        from ._delete import _explicit

        parsed = parse_model_ref(_explicit(ref))
        params = {"force": "true"} if force else None
        path = self._path(parsed.name, "versions", str(parsed.version))
        return Deletion(**self._json("DELETE", path, params=params))

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
    ) -> Evaluation:
        """Evaluate a version on a dataset of the project, on the server, which records the
        result under the token's name (see :func:`keel.registry.evaluate`)."""
        from ._evaluate import Evaluation

        version = self.get(ref)
        body = {
            "data": data,
            "label": label,
            "against": against,
            "by": by,
            "gate": gate,
            "backtest": backtest,
            "freq": freq,
        }
        path = self._path(version.model, "versions", str(version.version), "evaluations")
        return Evaluation.from_dict(self._json("POST", path, json=body))

    def evaluations(self, ref: str | ModelVersion) -> list[dict[str, Any]]:
        version = self.get(ref)
        path = self._path(version.model, "versions", str(version.version), "evaluations")
        return self._json("GET", path)

    def card_html(self, ref: str | ModelVersion) -> str:
        """The version's model card as a self-contained HTML page."""
        version = self.get(ref)
        path = self._path(version.model, "versions", str(version.version), "card")
        return self.remote.request("GET", path).text
