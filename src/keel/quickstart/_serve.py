"""The quickstart's serving step: deploy the champion as config, serve it, send traffic,
and read every prediction back from the lake."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._train import FEATURES

__all__ = ["Served", "serve_champion"]

DEPLOYMENT = """\
name: credit-scoring
model: credit-default
routes:
  - {version: "@champion", weight: 100}
batching: {max_batch_size: 64, max_wait_ms: 2}
logging: {sample: 1.0}
"""


@dataclass(frozen=True)
class Served:
    deployment: str
    revision: int
    requests: int
    version: str
    p50_ms: float
    logged: int
    feedback: int
    request_id: str


def serve_champion(client: Any, frame: pd.DataFrame, directory: Any, requests: int = 200) -> Served:
    """Write and apply ``deploy/credit-scoring.yaml``, serve it on a loopback port, send
    ``requests`` scoring requests and ground truth for half of them, stop the server (which
    flushes the prediction log) and count what the lake holds."""
    import httpx

    from keel.deploy import parse_spec
    from keel.serving import create_app, serve_in_thread

    path = directory / "deploy" / "credit-scoring.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEPLOYMENT)
    rollout = client.deployments.apply(parse_spec(path))
    rows = frame[FEATURES].head(requests)
    labels = frame["default"].head(requests).tolist()
    latencies, versions, ids = [], set(), []
    app = create_app(rollout.spec.name, client)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        for record in rows.to_dict("records"):
            started = time.perf_counter()
            answer = http.post("/predict", json=[record])
            latencies.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
            versions.add(answer.headers["keel-model-version"])
            ids.append(answer.json()["request_id"])
        truth = [{"request_id": i, "label": int(y)} for i, y in zip(ids, labels, strict=True)]
        http.post("/feedback", json=truth[: requests // 2]).raise_for_status()
    logged = client.predictions.read("predictions", deployment=rollout.spec.name)
    feedback = client.predictions.read("feedback", deployment=rollout.spec.name)
    return Served(
        deployment=rollout.spec.name,
        revision=rollout.revision,
        requests=len(ids),
        version=", ".join(sorted(versions)),
        p50_ms=float(np.median(latencies)),
        logged=logged.num_rows,
        feedback=feedback.num_rows,
        request_id=ids[0],
    )
