"""Export a registered scikit-learn model to ONNX, checked against the original."""

from __future__ import annotations

import numpy as np

from keel.errors import InvalidInput

from ._records import ModelVersion
from ._service import RegistryService

__all__ = ["export_onnx"]

MIN_AGREEMENT = 0.99


def export_onnx(
    registry: RegistryService, ref: str, *, data: str | None = None, drop: list[str] | None = None
) -> tuple[ModelVersion, float]:
    """Convert ``ref`` with skl2onnx, compare predictions on example rows, and register the
    ONNX model as the next version. Refuses when fewer than 99% of predictions agree.

    Args:
        registry: the registry holding the model.
        ref: a scikit-learn version such as ``credit:4``.
        data: dataset ref whose rows (minus ``drop`` columns) serve as examples; the
            version's stored input example is used when omitted.
        drop: columns of ``data`` that are not model inputs (the label, ids).
    """
    try:
        from skl2onnx import to_onnx
    except ImportError as exc:
        raise InvalidInput("ONNX export needs skl2onnx: pip install 'keelml[onnx]'.") from exc
    version = registry.get(ref)
    if version.flavor != "sklearn":
        raise InvalidInput(
            f"{version.ref} is a {version.flavor} model; only sklearn models export to ONNX."
        )
    loaded = registry.load(version)
    if data is not None:
        from keel.data import DatasetService

        frame = DatasetService(registry.store, project=registry.project).load(data)
        frame = frame.drop(columns=drop or [], errors="ignore")
    else:
        frame = getattr(loaded, "input_example", None)
        if frame is None:
            raise InvalidInput(
                f"{version.ref} has no stored input example; give --data with example rows."
            )
    frame = loaded.enforce(frame) if hasattr(loaded, "enforce") else frame
    try:
        onnx_model = to_onnx(loaded.native, frame.head(1), target_opset=17)
    except Exception as exc:  # skl2onnx raises many types for unsupported pipelines
        raise InvalidInput(f"skl2onnx cannot convert {version.ref}: {exc}") from exc
    import onnxruntime as ort

    session = ort.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    feeds = {i.name: _column(frame, i.name) for i in session.get_inputs()}
    exported = session.run(None, feeds)[0].ravel()
    original = np.asarray(loaded.native.predict(frame)).ravel()
    agreement = (
        float(np.mean(exported.astype(original.dtype) == original)) if len(original) else 1.0
    )
    if agreement < MIN_AGREEMENT:
        raise InvalidInput(
            f"The ONNX export of {version.ref} agrees with the original on only {agreement:.1%} of "
            f"{len(original)} example rows (at least {MIN_AGREEMENT:.0%} needed); not registered."
        )
    new = registry.register(
        onnx_model,
        version.model,
        input_example=frame.head(5),
        run=version.run_id,
        metrics=version.metrics,
        description=f"ONNX export of {version.ref} (agreement {agreement:.1%})",
        flavor="onnx",
    )
    return new, agreement


def _column(frame, name: str) -> np.ndarray:
    values = frame[name].to_numpy()
    if values.dtype.kind in "fiub":
        values = values.astype(np.float32 if values.dtype.kind == "f" else np.int64)
    else:
        values = values.astype(str).astype(object)
    return values.reshape(-1, 1)
