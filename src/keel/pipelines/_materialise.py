"""Step outputs through the platform, never pickled: tables become dataset versions, models
registered model versions, JSON-able values JSON objects in the object store.

Each output is recorded as a ref ``{"kind", "ref", "digest", ...}``; a downstream step in
another process loads its input back from the ref. A step may give its own materialiser:
an object with ``save(value, ctx) -> dict`` and ``load(ref, ctx) -> value`` (and an
optional ``id`` that goes into the cache key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keel.errors import InvalidInput

__all__ = ["MaterialiseContext", "load_output", "materialiser_id", "save_output"]


@dataclass
class MaterialiseContext:
    """What a materialiser may use: the client, and where the value comes from."""

    client: Any
    project: str
    pipeline: str
    step: str
    output: str
    step_run_id: str
    dataset: str | None = None
    model: str | None = None

    @property
    def default_name(self) -> str:
        """``<pipeline>.<step>`` (``.<output>`` for a step with several outputs)."""
        base = f"{self.pipeline}.{self.step}"
        return base if self.output == "return" else f"{base}.{self.output}"


def materialiser_id(materializer: Any) -> str:
    """The id of a step's materialiser in its cache key (``builtin`` without one)."""
    if materializer is None:
        return "builtin"
    given = getattr(materializer, "id", None)
    if isinstance(given, str):
        return given
    kind = type(materializer)
    return f"{kind.__module__}.{kind.__qualname__}"


def _is_table(value: Any) -> str | None:
    kind = type(value)
    module = kind.__module__
    if module.startswith("pandas") and kind.__name__ == "DataFrame":
        return "pandas"
    if module.startswith("pyarrow") and kind.__name__ == "Table":
        return "arrow"
    return None


def _json_bytes(value: Any) -> bytes | None:
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return None


def _flavor(value: Any) -> Any:
    from keel.registry.flavors import flavor_for

    try:
        return flavor_for(value)
    except InvalidInput:
        return None


def save_output(value: Any, ctx: MaterialiseContext, materializer: Any = None) -> dict[str, Any]:
    """Store ``value`` and return its ref.

    Raises:
        InvalidInput: nothing can store a value of this type (naming the step, the type and
            the fix), or a custom materialiser returned something other than a dict.
    """
    client = ctx.client
    if materializer is not None:
        ref = materializer.save(value, ctx)
        if not isinstance(ref, dict):
            raise InvalidInput(
                f"The materializer of step {ctx.step!r} returned {type(ref).__name__} from "
                "save(): it must return a dict (JSON) that its load(ref, ctx) reads back."
            )
        return {"kind": "custom", "materializer": materialiser_id(materializer), **ref}
    if value is None:
        return {"kind": "none", "ref": None, "digest": None}
    table = _is_table(value)
    if table is not None:
        version = client.datasets.log(value, ctx.dataset or ctx.default_name)
        return {
            "kind": "dataset_version",
            "ref": version.ref,
            "id": version.id,
            "digest": version.manifest_digest,
            "format": table,
        }
    data = _json_bytes(value)
    if data is not None:
        digest = client.objects.put(data)  # recorded with the step's end, in one write
        return {"kind": "json", "ref": digest, "digest": digest}
    if _flavor(value) is not None:
        version = client.models.register(value, ctx.model or ctx.default_name)
        return {
            "kind": "model_version",
            "ref": version.ref,
            "id": version.id,
            "digest": version.package_digest,
        }
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise InvalidInput(
        f"Step {ctx.step!r} returned a {kind}, which keel cannot materialise. Return a pandas "
        "DataFrame or pyarrow Table (a dataset version), a model a registry flavor packages "
        "(e.g. a fitted scikit-learn estimator) or a JSON-able value, or give the step "
        "materializer= an object with save(value, ctx) and load(ref, ctx)."
    )


def load_output(ref: dict[str, Any], ctx: MaterialiseContext, materializer: Any = None) -> Any:
    """The value an output ref stands for, read back from the platform."""
    kind = ref.get("kind")
    client = ctx.client
    if kind == "custom":
        if materializer is None:
            raise InvalidInput(
                f"An input of step {ctx.step!r} was saved by materializer "
                f"{ref.get('materializer')!r}, which this step does not have to load it."
            )
        return materializer.load(ref, ctx)
    if kind == "none":
        return None
    if kind == "dataset_version":
        return client.datasets.load(ref["ref"], format=ref.get("format", "pandas"))
    if kind == "json":
        import orjson

        return orjson.loads(client.objects.read_bytes(ref["digest"]))
    if kind == "model_version":
        return client.models.load(ref["ref"]).native
    raise InvalidInput(f"Unknown output kind {kind!r} in a step output's ref: {ref!r}.")
