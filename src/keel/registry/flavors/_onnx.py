"""The ONNX flavor: an ONNX graph, run by onnxruntime."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keel.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OnnxFlavor"]

MODEL_FILE = "model.onnx"

TENSOR_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise InvalidInput(
            "This model needs onnxruntime, which is not installed: pip install 'keelml[onnx]'."
        ) from exc
    return onnxruntime


class OnnxFlavor:
    """An ``onnx.ModelProto`` (or its serialised bytes, with ``flavor="onnx"``).

    Loading gives an ``onnxruntime.InferenceSession`` on the CPU. A graph with one input
    takes every column stacked as a 2-D tensor; a graph with one input per column (as
    skl2onnx makes from a DataFrame) takes each column as an ``[n, 1]`` tensor. The
    prediction is the graph's first output.
    """

    name = "onnx"

    def handles(self, model: object) -> bool:
        if "onnx" not in sys.modules:
            return False
        import onnx

        return isinstance(model, onnx.ModelProto)

    def save(self, model: Any, folder: Path) -> list[str]:
        if isinstance(model, bytes | bytearray | memoryview):
            data = bytes(model)
        elif hasattr(model, "SerializeToString"):
            data = model.SerializeToString()
        else:
            raise InvalidInput(
                f"The onnx flavor saves an onnx.ModelProto or its bytes, not "
                f"{type(model).__name__}. Convert the model first (skl2onnx, torch.onnx)."
            )
        (folder / MODEL_FILE).write_bytes(data)
        return [MODEL_FILE]

    def load(self, folder: Path, *, trust: bool) -> object:
        onnxruntime = _onnxruntime()
        try:
            return onnxruntime.InferenceSession(
                str(folder / MODEL_FILE), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise InvalidInput(f"onnxruntime cannot load the model: {exc}") from exc

    def predict(self, model: Any, frame: pd.DataFrame) -> Any:
        return self.bind_predict(model, tuple(str(c) for c in frame.columns))(frame)

    def bind_predict(
        self, model: Any, columns: tuple[str, ...], *, output: int = 0
    ) -> Callable[[pd.DataFrame], Any]:
        """A predict that feeds the graph's inputs the way they were declared.

        It returns the graph's first output; ``output`` picks another (a classifier's
        probabilities are its second), fed the same way.
        """
        inputs = model.get_inputs()
        outputs = [model.get_outputs()[output].name]
        run = model.run
        by_name = {i.name for i in inputs} == set(columns) and len(inputs) == len(columns)
        if by_name:
            types = [(i.name, TENSOR_TYPES.get(i.type, np.float32)) for i in inputs]

            def predict_columns(frame: pd.DataFrame) -> Any:
                feed = {n: frame[n].to_numpy().astype(t).reshape(-1, 1) for n, t in types}
                return run(outputs, feed)[0]

            return predict_columns
        if len(inputs) != 1:
            names = [i.name for i in inputs]
            raise InvalidInput(
                f"The ONNX graph takes inputs {names}, which neither match the columns "
                f"{list(columns)} nor are one tensor. Export it with one input per column "
                "or one 2-D input."
            )
        name, dtype = inputs[0].name, TENSOR_TYPES.get(inputs[0].type, np.float32)

        def predict_tensor(frame: pd.DataFrame) -> Any:
            return run(outputs, {name: frame.to_numpy(dtype=dtype)})[0]

        return predict_tensor

    def bind_proba(
        self, model: Any, columns: tuple[str, ...]
    ) -> Callable[[pd.DataFrame], Any] | None:
        """The graph's ``probabilities`` output as a tensor (an exported classifier's,
        without ZipMap), or None if it has none."""
        for index, output in enumerate(model.get_outputs()):
            if output.name == "probabilities" and output.type.startswith("tensor("):
                return self.bind_predict(model, columns, output=index)
        return None

    def requirements(self) -> list[str]:
        from importlib.metadata import version  # not at import: loading never needs it

        return [f"onnxruntime=={version('onnxruntime')}"]
