"""What other concepts hold of a dataset or model version: the holders the client wires.

Each concept knows what holds its own versions (a dataset's tags, a model's aliases); what
one concept holds of another's lives here, above both, so that no concept imports the one
above it (deployments know models; the registry must not know deployments):

- a model version is held by every live deployment whose routes or shadow resolve to it
  (and, during a canary, by the revision the canary replaces);
- a dataset version is held by every model version trained on it: a model version whose
  source run consumed the dataset version (lineage ``dataset_version --input_to--> run
  --produced--> model_version``) or whose package names it as training data; and by every
  monitor whose reference data it is (``credit-train:v3``, or the version ``@latest`` or a
  tag reads as now).

:func:`datasets_with_holders` and :func:`models_with_holders` give a service these holders;
the client and the server's routes build services through them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keel.store import Store
from keel.store import schema as t

__all__ = [
    "dataset_holders",
    "datasets_with_holders",
    "model_holders",
    "models_with_holders",
    "runs_held_by_models",
]


def model_holders(project: str) -> list[Any]:
    """The holders of a model version outside the registry, for one project."""

    def deployments(store: Store, version: Any) -> list[str]:
        from keel.deploy import DeploymentService
        from keel.deploy.spec import qualify
        from keel.errors import KeelError
        from keel.registry import RegistryService

        service = DeploymentService(store, project=project)
        registry = RegistryService(store, project=project)
        said = []
        for item in service.list():
            current = service.current(item["name"])
            if current is None or not current.live:
                continue
            rollouts = [current]
            if current.status == "canary" and current.previous_revision is not None:
                rollouts.append(service.get(item["name"], current.previous_revision))
            for rollout in rollouts:
                spec = rollout.spec
                shadows = {qualify(s, spec.model) for s in spec.shadow}
                for ref in spec.refs:
                    try:
                        if registry.get(ref).id != version.id:
                            continue
                    except KeelError:
                        continue
                    role = "shadows it" if ref in shadows else "routes traffic to it"
                    said.append(
                        f"deployment {item['name']!r} (revision {rollout.revision}, "
                        f"{rollout.status}) {role} as {ref}"
                    )
        return said

    return [deployments]


def dataset_holders(project: str) -> list[Any]:
    """The holders of a dataset version outside its concept, for one project."""

    def trained_on(store: Store, version: Any) -> list[str]:
        le, mv, m = t.lineage_edges, t.model_versions, t.models
        with store.read() as conn:
            runs = sa.select(le.c.dst_id).where(
                le.c.src_kind == "dataset_version",
                le.c.src_id == version.id,
                le.c.dst_kind == "run",
            )
            produced = sa.select(le.c.dst_id).where(
                le.c.src_kind == "run",
                le.c.src_id.in_(runs),
                le.c.dst_kind == "model_version",
            )
            rows = conn.execute(
                sa.select(m.c.name, mv.c.version)
                .join(m, m.c.id == mv.c.model_id)
                .where(sa.or_(mv.c.id.in_(produced), mv.c.run_id.in_(runs)))
                .order_by(m.c.name, mv.c.version)
            ).all()
            said = {f"{name}:{number}": None for name, number in rows}
            packages = conn.execute(
                sa.select(m.c.name, mv.c.version, mv.c.package_digest)
                .join(m, m.c.id == mv.c.model_id)
                .where(m.c.project_id == store.read_project_id(project))
            ).all()
        for name, number, digest in packages:  # training data named when registering
            if version.ref in _training_data(store, digest):
                said[f"{name}:{number}"] = None
        return [f"model version {ref} was trained on it" for ref in said]

    def monitors(store: Store, version: Any) -> list[str]:
        from keel.data import DatasetService
        from keel.errors import KeelError
        from keel.monitoring import MonitorService

        service = MonitorService(store, project=project)
        data = DatasetService(store, project=project)
        said = []
        for item in service.list():
            reference = service.get(item["name"]).reference
            if reference == "champion":
                continue
            try:
                if data.resolve(reference).id == version.id:
                    said.append(f"monitor {item['name']!r} uses it as its reference ({reference})")
            except KeelError:
                continue
        return said

    return [trained_on, monitors]


def _training_data(store: Store, digest: str) -> list[str]:
    """The dataset versions a model package names as its training data (best effort)."""
    import json

    from keel.errors import KeelError

    try:
        data = json.loads(store.objects.read_bytes(digest))
    except (KeelError, ValueError):
        return []
    listed = data.get("training_data") if isinstance(data, dict) else None
    return [str(item) for item in listed] if isinstance(listed, list) else []


def runs_held_by_models(conn: Any, run_ids: list[str]) -> dict[str, str]:
    """Deleted runs a model version names as its source: gc keeps them (lineage)."""
    mv, m = t.model_versions, t.models
    held: dict[str, str] = {}
    for start in range(0, len(run_ids), 500):
        for run_id, model, version in conn.execute(
            sa.select(mv.c.run_id, m.c.name, mv.c.version)
            .join(m, m.c.id == mv.c.model_id)
            .where(mv.c.run_id.in_(run_ids[start : start + 500]))
        ):
            held.setdefault(run_id, f"model version {model}:{version} names it as its source")
    return held


def datasets_with_holders(service: Any) -> Any:
    """``service`` (a DatasetService) with the other concepts' holders wired in."""
    service.holders = dataset_holders(service.project)
    return service


def models_with_holders(service: Any) -> Any:
    """``service`` (a RegistryService) with the other concepts' holders wired in."""
    service.holders = model_holders(service.project)
    return service
