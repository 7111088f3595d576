"""A monitor's reference side: the reference dataset summarised once, with the model's
predictions on it, whole and per segment; built on first use and kept as an object.

The baseline is keyed by the dataset version's manifest digest, the model version and the
segments, so a new dataset version or champion makes a new one and nothing else does.
Each result records the key and object it was judged against (``scores["reference"]``);
the next evaluation reads that object instead of the dataset.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from keel.errors import InvalidInput, KeelError, NotFound
from keel.monitoring._reference import Reference
from keel.monitoring.spec import MonitorSpec

__all__ = ["Baseline", "Source", "find_source", "load_baseline"]

FORMAT = "keel.monitor-baseline/1"
MAX_SEGMENT_VALUES = 50
PREDICT_ROWS = 50_000
_MEMORY: dict[str, Baseline] = {}


@dataclass(frozen=True)
class Source:
    """Where a baseline comes from: a dataset version and the model judged."""

    dataset: str  # name:vN
    manifest: str
    model: str | None  # name:N
    features: tuple[str, ...] | None

    def key(self, segments: tuple[str, ...]) -> str:
        text = orjson.dumps([FORMAT, self.manifest, self.model, self.features, list(segments)])
        return hashlib.sha256(text).hexdigest()[:32]


@dataclass
class Baseline:
    key: str
    dataset: str
    model: str | None
    whole: Reference
    segments: dict[str, dict[str, Reference]] = field(default_factory=dict)
    note: str = ""

    def to_bytes(self) -> bytes:
        data = {
            "format": FORMAT,
            "key": self.key,
            "dataset": self.dataset,
            "model": self.model,
            "note": self.note,
            "whole": self.whole.to_dict(),
            "segments": {
                col: {value: ref.to_dict() for value, ref in refs.items()}
                for col, refs in self.segments.items()
            },
        }
        return zlib.compress(orjson.dumps(data), 6)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Baseline:
        data = orjson.loads(zlib.decompress(raw))
        if data.get("format") != FORMAT:
            raise InvalidInput(f"Not a monitor baseline (format {data.get('format')!r}).")
        return cls(
            data["key"],
            data["dataset"],
            data["model"],
            Reference.from_dict(data["whole"]),
            {
                col: {value: Reference.from_dict(ref) for value, ref in refs.items()}
                for col, refs in data["segments"].items()
            },
            data.get("note", ""),
        )


def find_source(client: Any, spec: MonitorSpec, logged_version: str | None) -> Source:
    """The dataset version and model a monitor's reference names.

    ``logged_version`` is the version that answered most predictions in the window (or
    None); it is the model whose predictions on the reference are the prediction baseline,
    and, failing a deployment record, tells which model's champion to look for.

    Raises:
        NotFound: the dataset, model or training data cannot be found (says what to do).
    """
    model = _model(client, spec, logged_version)
    if spec.reference != "champion":
        version = client.datasets.resolve(spec.reference)
    else:
        if model is None:
            raise NotFound(
                f"Monitor {spec.name!r}: its reference is the champion's training data, but "
                f"deployment {spec.deployment!r} has no record and no logged predictions to "
                "find the model from. Apply the deployment, or name a dataset in 'reference'."
            )
        version = _training_data(client, spec, model)
    features = None
    if model is not None and model.signature:
        features = tuple(c["name"] for c in model.signature.get("inputs") or ())
    return Source(version.ref, version.manifest_digest, model.ref if model else None, features)


def _model(client: Any, spec: MonitorSpec, logged_version: str | None) -> Any:
    name = None
    try:
        rollout = client.deployments.current(spec.deployment)
    except KeelError:
        rollout = None
    if rollout is not None:
        name = rollout.spec.model
    elif logged_version:
        name = logged_version.partition(":")[0].partition("@")[0]
    refs = [logged_version] if logged_version and spec.reference != "champion" else []
    if name is not None:
        refs.append(f"{name}@champion")
    if logged_version:
        refs.append(logged_version)
    for ref in refs:
        try:
            return client.models.get(ref)
        except KeelError:
            continue
    return None


def _training_data(client: Any, spec: MonitorSpec, model: Any) -> Any:
    hint = "Name a dataset version in the monitor's 'reference' (such as credit-train@latest)."
    if not model.run_id:
        raise NotFound(
            f"Monitor {spec.name!r}: model {model.ref} has no source run, so its training "
            f"data is unknown. {hint}"
        )
    graph = client.lineage(f"run:{model.run_id}", direction="up", depth=1)
    inputs = sorted(
        graph.nodes[e.src].label
        for e in graph.edges
        if e.dst == ("run", model.run_id) and e.src[0] == "dataset_version"
    )
    if not inputs:
        raise NotFound(
            f"Monitor {spec.name!r}: the run of model {model.ref} ({model.run_id[:12]}) "
            f"recorded no input dataset. {hint}"
        )
    return client.datasets.resolve(inputs[0])


def load_baseline(
    client: Any, spec: MonitorSpec, source: Source, stored: dict[str, Any] | None
) -> tuple[Baseline, str | None]:
    """The baseline of ``source`` and its object digest: from memory, from the object the
    last result names (``stored``: that result's ``scores["reference"]``), or built now."""
    key = source.key(spec.segments)
    if key in _MEMORY:
        digest = stored.get("object") if stored and stored.get("key") == key else None
        return _MEMORY[key], digest
    if stored and stored.get("key") == key and stored.get("object"):
        try:
            baseline = Baseline.from_bytes(client.objects.read_bytes(stored["object"]))
            _MEMORY[key] = baseline
            return baseline, stored["object"]
        except (KeelError, zlib.error, orjson.JSONDecodeError, KeyError):
            pass  # collected or damaged: build it again
    baseline = build(client, spec, source, key)
    digest = client.objects.put(baseline.to_bytes())
    _MEMORY[key] = baseline
    return baseline, digest


def build(client: Any, spec: MonitorSpec, source: Source, key: str) -> Baseline:
    """Summarise the reference dataset (and the model's predictions on it)."""
    table = client.datasets.load(source.dataset, format="pandas")
    columns = list(table.columns)
    if source.features:
        columns = [c for c in source.features if c in table.columns]
    missing = [s for s in spec.segments if s not in table.columns]
    if missing:
        raise InvalidInput(
            f"Monitor {spec.name!r}: segment column {missing[0]!r} is not in the reference "
            f"{source.dataset}; its columns are {list(table.columns)[:20]}."
        )
    frame = table[columns].copy()
    note = _add_predictions(client, source, table, frame)
    whole = Reference.from_data(frame)
    segments: dict[str, dict[str, Reference]] = {}
    for column in spec.segments:
        values = table[column].astype(str)
        top = values.value_counts().head(MAX_SEGMENT_VALUES).index
        segments[column] = {
            value: Reference.from_data(frame[(values == value).to_numpy()]) for value in top
        }
    return Baseline(key, source.dataset, source.model, whole, segments, note)


def _add_predictions(client: Any, source: Source, table: pd.DataFrame, frame: pd.DataFrame) -> str:
    """Add ``__prediction`` (and ``__p1`` for a binary classifier) to ``frame``: the
    model's outputs on the reference. Returns a note when they could not be made."""
    if source.model is None:
        return "no model to predict the reference with: prediction drift is not tested"
    rows = np.arange(len(table))
    if len(rows) > PREDICT_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(rows, PREDICT_ROWS, replace=False))
    sample = table.iloc[rows]
    if source.features:
        sample = sample[[c for c in source.features if c in sample.columns]]
    try:
        model = client.models.load(source.model)
        predicted = np.asarray(model.predict(sample))
        proba = None
        native = getattr(model, "native", None)
        if hasattr(native, "predict_proba"):
            proba = np.asarray(native.predict_proba(model.enforce(sample)))
    except (KeelError, ValueError, TypeError, AttributeError) as exc:
        return f"the reference could not be predicted with {source.model} ({exc})"
    prediction = np.full(len(table), np.nan)
    if predicted.ndim == 2:
        proba, predicted = predicted, predicted.argmax(axis=1)
    elif proba is not None and proba.ndim == 2:
        predicted = proba.argmax(axis=1)  # what a logged classifier's prediction holds
    try:
        prediction[rows] = predicted.astype(float)
    except ValueError:
        return f"{source.model} predicts labels that are not numbers: prediction drift skipped"
    frame["__prediction"] = prediction
    if proba is not None and proba.ndim == 2 and proba.shape[1] == 2:
        p1 = np.full(len(table), np.nan)
        p1[rows] = proba[:, 1]
        frame["__p1"] = p1
    return ""
