"""Batch scoring fanned out over Ray: slices of the input scored by tasks, parts in order.

Each input part is cut into slices of whole batches (about four per CPU of the cluster
in all); a task opens the store the driver's configuration names, loads the model
through the registry's verified loader (by its package digest, cached per worker),
scores its slice and puts its output parts in the object store. The driver gathers the
parts' digests in slice order, so the version reads exactly as a local run's would.

A local object store works when the workers share its folder (one machine, or a shared
filesystem); on a cluster, use an fsspec store (``s3://...``), which every worker reaches
through the object store API.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from keel.errors import ConfigError, KeelError

from .batch import PART_ROWS, PartWriter, Progress, Scorer, ScoringPlan, read_batches

if TYPE_CHECKING:
    from keel.client import Client
    from keel.config import Config
    from keel.data import Manifest

__all__ = ["plan_slices", "score_on_ray"]

SLICES_PER_CPU = 4
"""Slices per CPU of the cluster: enough for a slow task not to hold up the rest."""

Slice = tuple[str, int, int, int]
"""One task's share of the input: (part digest, first row, row after the last, and the
row of the whole input that the part starts at)."""


def plan_slices(manifest: Manifest, batch_rows: int, cpus: int) -> list[Slice]:
    """The input's parts cut into slices of whole batches, about ``SLICES_PER_CPU`` per CPU
    in all, each at most :data:`PART_ROWS` rows; in input order."""
    total = sum(e.rows or 0 for e in manifest.entries)
    share = math.ceil(total / max(1, cpus * SLICES_PER_CPU))
    size = min(max(batch_rows, math.ceil(share / batch_rows) * batch_rows), PART_ROWS)
    slices, offset = [], 0
    for entry in manifest.entries:
        rows = entry.rows if entry.rows is not None else PART_ROWS
        slices.extend((entry.digest, at, at + size, offset) for at in range(0, rows, size))
        offset += rows
    return slices


def score_on_ray(
    config: Config, plan: ScoringPlan, manifest: Manifest, progress: Progress | None = None
) -> list[str]:
    """Score every slice of ``manifest`` in a Ray task; the output parts' digests in order.

    Connects to ``config.ray_address`` when set (``ray://head:10001``, ``auto``), joins the
    Ray this process already started, or starts a local one with this machine's CPUs.

    Raises:
        ConfigError: ray is not installed.
        KeelError: what a task raised (bad values in the data, say), as it raised it.
    """
    ray = _connect(config.ray_address)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    task = ray.remote(num_cpus=1, max_retries=0)(_score_slice)
    plan_ref = ray.put(plan)
    slices = plan_slices(manifest, plan.batch_rows, cpus)
    refs = [task.remote(config, plan_ref, *piece) for piece in slices]
    order = {ref: i for i, ref in enumerate(refs)}
    parts: list[list[str]] = [[] for _ in refs]
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            digests, rows = ray.get(done[0])
            parts[order[done[0]]] = digests
            if progress is not None:
                progress(rows)
    except ray.exceptions.RayTaskError as exc:
        for ref in pending:
            ray.cancel(ref)
        cause = getattr(exc, "cause", None)
        if isinstance(cause, KeelError):
            raise type(cause)(cause.message) from None
        raise
    return [digest for digests in parts for digest in digests]


def _connect(address: str | None) -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "Batch scoring on Ray needs ray, which is not installed: pip install 'keelml[ray]', "
            "or score without --ray."
        ) from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False)
    return ray


_clients: dict[tuple[str, str, str], Client] = {}


def _score_slice(
    config: Config, plan: ScoringPlan, digest: str, start: int, stop: int, offset: int
) -> tuple[list[str], int]:
    """One task: score rows ``start`` to ``stop`` of part ``digest`` (which starts at row
    ``offset`` of the input); its output parts and its rows."""
    from keel.client import Client

    key = (config.uri, config.objects, config.project)
    client = _clients.get(key)
    if client is None:  # a worker process runs many tasks: it opens the store once
        client = _clients[key] = Client(config=config)
    loaded = client.models.load(plan.model, trust=plan.trust)  # cached by package digest
    scorer, rows = Scorer(loaded, plan), 0
    with PartWriter(client.objects) as writer:
        for batch in read_batches(client.objects, digest, plan, start, stop):
            writer.write(scorer.score(batch, offset + start + rows))
            rows += batch.num_rows
    return writer.digests, rows
