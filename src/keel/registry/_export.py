"""Export a registered scikit-learn model to ONNX, checked against the original.

The graph's inputs come from the model's signature, not from guesses on example values:
every numeric column is a float32 tensor and every string or category column a string
tensor, so the graph never mixes float and double (onnxruntime refuses a Concat of both).
A model that routes columns by name (a ColumnTransformer first) gets one ``[n, 1]`` input
per column, named as the column; any other model gets one ``[n, k]`` tensor, which is
what a bare estimator accepts. Classifiers return labels and a probability matrix (no
ZipMap, which cannot take double probabilities and makes a list of dicts to compare).

The exported graph is run through the onnx flavor, exactly as a loaded version would be,
and must give the original's classes on every example row and its probabilities (or
regression values) within :data:`TOLERANCE`; otherwise nothing is registered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput

from ._records import ModelVersion
from ._service import RegistryService
from ._signature import Signature, _kind, infer_signature
from .flavors import OnnxFlavor, SklearnFlavor

__all__ = ["TOLERANCE", "export_onnx"]

TOLERANCE = 1e-4
"""Largest difference allowed between a probability (or regression value, relative to its
size when above 1) of the export and of the original: float32 rounds at about 1e-7."""

TARGET_OPSET = 17
"""The ONNX opset the graph is written for; onnxruntime has run it since 1.14 (2023)."""

NUMERIC = frozenset({"int", "float", "bool"})
TEXT = frozenset({"string", "category"})


def export_onnx(
    registry: RegistryService,
    ref: str,
    *,
    data: str | None = None,
    drop: list[str] | None = None,
    trust: bool = False,
) -> tuple[ModelVersion, float]:
    """Convert ``ref`` with skl2onnx, compare predictions on example rows, and register the
    ONNX model as the next version. Refuses unless every example row agrees.

    Args:
        registry: the registry holding the model.
        ref: a scikit-learn version such as ``credit:4``.
        data: dataset ref whose rows (minus ``drop`` columns) serve as examples; the
            version's stored input example is used when omitted.
        drop: columns of ``data`` that are not model inputs (the label, ids).
        trust: load a model that names types outside scikit-learn (see ``load_model``).

    Returns:
        The new version and the fraction of example rows that agree (1.0).

    Raises:
        InvalidInput: the model is not scikit-learn, has no examples, holds a part
            skl2onnx cannot convert, or its export disagrees with it; nothing is registered.
    """
    try:
        import onnxruntime as ort
        from skl2onnx import convert_sklearn
    except ImportError as exc:
        raise InvalidInput("ONNX export needs skl2onnx: pip install 'keelml[onnx]'.") from exc
    version = registry.get(ref)
    if version.flavor != "sklearn":
        raise InvalidInput(
            f"{version.ref} is a {version.flavor} model; only sklearn models export to ONNX."
        )
    loaded = registry.load(version, trust=trust)
    frame = _examples(registry, loaded, version.ref, data, drop)
    frame = loaded.enforce(frame)
    signature = loaded.signature or infer_signature(frame)
    model = loaded.native
    _check_supported(model, version.ref)
    try:
        onnx_model = convert_sklearn(
            model,
            initial_types=_input_types(model, signature, version.ref),
            target_opset=TARGET_OPSET,
            options={"zipmap": False} if _is_classifier(model) else None,
        )
        session = ort.InferenceSession(
            onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # skl2onnx and onnxruntime raise many untyped errors
        raise InvalidInput(
            f"skl2onnx cannot convert {version.ref} (a {type(model).__name__}): "
            f"{_first_line(exc)}; keep serving the scikit-learn version."
        ) from exc
    difference = _compare(model, session, signature, frame, version.ref)
    new = registry.register(
        onnx_model,
        version.model,
        input_example=frame.head(5),
        run=version.run_id,
        metrics=version.metrics,
        description=(
            f"ONNX export of {version.ref} (agrees on {len(frame)} example rows, "
            f"largest difference {difference:.1g})"
        ),
        flavor="onnx",
    )
    return new, 1.0


def _examples(
    registry: RegistryService, loaded: Any, ref: str, data: str | None, drop: list[str] | None
) -> pd.DataFrame:
    if data is not None:
        from keel.data import DatasetService

        frame = DatasetService(registry.store, project=registry.project).load(data)
        return frame.drop(columns=drop or [], errors="ignore")
    frame = loaded.input_example
    if frame is None:
        raise InvalidInput(f"{ref} has no stored input example; give --data with example rows.")
    return frame


def _is_classifier(model: Any) -> bool:
    from sklearn.base import is_classifier

    return bool(is_classifier(model))


def _parts(model: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every estimator inside pipelines, column transformers and unions, with its place."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(model, Pipeline):
        children = [(name, step) for name, step in model.steps]
    elif isinstance(model, ColumnTransformer):
        fitted = getattr(model, "transformers_", model.transformers)
        children = [(name, step) for name, step, _ in fitted]
    elif isinstance(model, FeatureUnion):
        children = list(model.transformer_list)
    else:
        return [(path, model)]
    found = [(path, model)]
    for name, step in children:
        if isinstance(step, str) or step is None:  # "drop", "passthrough"
            continue
        found += _parts(step, f"{path}/{name}" if path else name)
    return found


def _check_supported(model: Any, ref: str) -> None:
    """Refuse, naming them, the parts skl2onnx has no converter for, before converting."""
    missing = [
        type(part).__name__ + (f" (step {path!r})" if path else "")
        for path, part in _parts(model)
        if not _has_converter(type(part))
    ]
    if missing:
        raise InvalidInput(
            f"skl2onnx cannot convert {ref}: it has no converter for {', '.join(missing)}. "
            "Keep serving the scikit-learn version, or rebuild the model without it."
        )


def _has_converter(cls: type) -> bool:
    from skl2onnx import get_model_alias

    try:
        get_model_alias(cls)  # a converter registered by the user counts too
    except RuntimeError:
        return False
    return True


def _routes_by_name(model: Any) -> bool:
    """Whether the model's first step picks columns by name (a ColumnTransformer)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        steps = [s for _, s in model.steps if not isinstance(s, str) and s is not None]
        if not steps:
            return False
        model = steps[0]
    return isinstance(model, ColumnTransformer)


def _input_types(model: Any, signature: Signature, ref: str) -> list[tuple[str, Any]]:
    """The graph's inputs: float32 for numeric columns, strings for text columns."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    kinds = {}
    for column in signature.inputs:
        kind = _kind(column.dtype)
        if kind not in NUMERIC | TEXT:
            raise InvalidInput(
                f"{ref} cannot be exported to ONNX: column {column.name!r} has type "
                f"{column.dtype}, and only numeric, string and category columns become "
                "ONNX inputs. Encode it as numbers or strings before the model."
            )
        kinds[column.name] = FloatTensorType if kind in NUMERIC else StringTensorType
    types = set(kinds.values())
    if len(types) == 1 and not _routes_by_name(model):
        (tensor,) = types
        return [("input", tensor([None, len(kinds)]))]
    return [(name, tensor([None, 1])) for name, tensor in kinds.items()]


def _compare(
    model: Any, session: Any, signature: Signature, frame: pd.DataFrame, ref: str
) -> float:
    """The largest probability (or value) difference; raises if any row disagrees.

    Both sides are fed the way keel serves them: the onnx flavor's predict for the export,
    the scikit-learn flavor's for the original.
    """
    methods = [("predict", 0)]
    classifier = _is_classifier(model)
    if classifier and hasattr(model, "predict_proba") and len(session.get_outputs()) > 1:
        methods.append(("predict_proba", 1))
    pairs = []
    for method, output in methods:
        original = _rows(_run_original(model, signature.names, method, frame), len(frame))
        try:
            exported = OnnxFlavor().bind_predict(session, signature.names, output=output)(frame)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise InvalidInput(
                f"The ONNX export of {ref} fails on its example rows: {_first_line(exc)}; "
                "not registered."
            ) from exc
        exported = _rows(exported, len(frame))
        if exported.shape != original.shape:
            raise InvalidInput(
                f"The ONNX export of {ref} answers {method} with shape {exported.shape}, "
                f"the original with {original.shape}; not registered."
            )
        pairs.append((original, exported))
    (original, exported), shown = pairs[0], pairs[-1]
    if classifier:
        same = _same_labels(exported, original)
        gaps = np.abs(shown[1].astype(np.float64) - shown[0]) if len(pairs) > 1 else None
    else:
        gaps = np.abs(exported.astype(np.float64) - original) / np.maximum(np.abs(original), 1)
        same = np.ones(len(frame), dtype=bool)
    if gaps is not None:
        gaps = gaps.max(axis=1, initial=0.0)
        same &= gaps <= TOLERANCE
    difference = float(gaps.max(initial=0.0)) if gaps is not None else 0.0
    bad = np.flatnonzero(~same)
    if len(bad):
        row = bad[0]
        if not _same_labels(exported[row : row + 1], original[row : row + 1])[0]:
            shown = (original, exported)
        raise InvalidInput(
            f"The ONNX export of {ref} disagrees with the original on {len(bad)} of "
            f"{len(frame)} example rows (row {row}: {_show(shown[0][row])} from the original, "
            f"{_show(shown[1][row])} from the export; largest difference {difference:.2g}, "
            f"at most {TOLERANCE:g} allowed). Not registered; keep serving the scikit-learn "
            "version."
        )
    return difference


def _run_original(model: Any, columns: tuple[str, ...], method: str, frame: pd.DataFrame) -> Any:
    return SklearnFlavor().bind_predict(model, columns, method=method)(frame)


def _rows(values: Any, n: int) -> np.ndarray:
    """Predictions as one row per example (labels and regression values as one column)."""
    array = np.asarray(values)
    return array.reshape(n, -1) if array.size and len(array) == n else array


def _show(row: np.ndarray) -> str:
    values = [round(v, 6) if isinstance(v, float) else v for v in row.tolist()]
    return repr(values[0]) if len(values) == 1 else ", ".join(map(repr, values))


def _same_labels(exported: np.ndarray, original: np.ndarray) -> np.ndarray:
    if original.dtype.kind in "biuf" and exported.dtype.kind in "biuf":
        return (exported == original).all(axis=1)
    return (exported.astype(str) == original.astype(str)).all(axis=1)


def _first_line(exc: BaseException) -> str:
    """What went wrong, on one line: skl2onnx's messages run to pages of arrays."""
    text = _line(exc)
    root = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    if root is not exc and _line(root) not in text:
        text += f" (because: {_line(root)})"
    return text


def _line(exc: BaseException, limit: int = 100) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0].strip().rstrip(".") if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
