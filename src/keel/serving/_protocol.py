"""Request bodies in, frames out; predictions in, response bodies out.

Two wire formats: the Open Inference Protocol v2 (KServe's named tensors) and keel's plain
``/predict`` (JSON records or columns). Parsing checks shapes and datatypes and names the
field at fault; the model's signature (``LoadedModel.enforce``) then checks the columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput

__all__ = ["oip_outputs", "parse_infer", "parse_predict", "predictions", "sticky_value"]

# OIP datatype -> (numpy dtype, the NumPy kinds its data may arrive as)
_DATATYPES: dict[str, tuple[Any, str]] = {
    "BOOL": (np.bool_, "b"),
    "UINT8": (np.uint8, "iu"),
    "UINT16": (np.uint16, "iu"),
    "UINT32": (np.uint32, "iu"),
    "UINT64": (np.uint64, "iu"),
    "INT8": (np.int8, "iu"),
    "INT16": (np.int16, "iu"),
    "INT32": (np.int32, "iu"),
    "INT64": (np.int64, "iu"),
    "FP16": (np.float16, "iuf"),
    "FP32": (np.float32, "iuf"),
    "FP64": (np.float64, "iuf"),
    "BYTES": (object, "U"),
}
_KIND_NAMES = {"b": "true/false", "iu": "whole numbers", "iuf": "numbers", "U": "strings"}


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message)


def parse_predict(payload: Any) -> pd.DataFrame | dict[str, Any]:
    """The rows of a ``/predict`` body: ``[{...}]``, ``{"records": [...]}`` or
    ``{"columns": {"a": [...]}}``; one record comes back as its dict (the fast path)."""
    if isinstance(payload, dict):
        if "records" in payload and "columns" not in payload:
            payload = payload["records"]
        elif "columns" in payload and "records" not in payload:
            return _columns(payload["columns"])
        else:
            raise _bad(
                'The /predict body must be a list of records ([{...}]), {"records": [...]} '
                'or {"columns": {"name": [...]}}; got an object with keys '
                f"{', '.join(repr(k) for k in list(payload)[:10]) or 'none'}."
            )
    if not isinstance(payload, list) or not payload:
        raise _bad(
            "records must be a non-empty list of objects, one per row, such as "
            '[{"income": 52.1, "debt": 0.3}]; got '
            f"{'an empty list' if payload == [] else type(payload).__name__}."
        )
    first = payload[0]
    for i, record in enumerate(payload):
        if not isinstance(record, dict) or not record:
            raise _bad(
                f"records[{i}] must be an object of column values such as "
                f'{{"income": 52.1}}; got {_shown(record)}.'
            )
        if i and record.keys() != first.keys():
            raise _bad(
                f"records[{i}] has the columns {_names(record)} but records[0] has "
                f"{_names(first)}; give every record the same columns."
            )
    if len(payload) == 1:
        return first
    return pd.DataFrame.from_records(payload, columns=list(first))


def _columns(columns: Any) -> pd.DataFrame:
    if not isinstance(columns, dict) or not columns:
        raise _bad('columns must be an object of column name -> list of values, {"a": [1, 2]}.')
    length = None
    for name, values in columns.items():
        if not isinstance(values, list) or not values:
            raise _bad(f"columns.{name} must be a non-empty list of values; got {_shown(values)}.")
        if length is None:
            length = len(values)
        elif len(values) != length:
            raise _bad(
                f"columns.{name} has {len(values)} values but the first column has {length}; "
                "give every column one value per row."
            )
    return pd.DataFrame(columns)


def parse_infer(payload: Any) -> pd.DataFrame | np.ndarray:
    """The rows of an OIP v2 infer body: one tensor per column (shape ``[n]`` or ``[n, 1]``),
    or one 2-D tensor whose columns follow the signature (returned as an array)."""
    if not isinstance(payload, dict):
        raise _bad(
            'An infer request is an object {"inputs": [{"name", "shape", "datatype", '
            f'"data"}}, ...]}}; got {_shown(payload)}.'
        )
    for key in ("id", "parameters", "outputs"):
        expected = {"id": str, "parameters": dict, "outputs": list}[key]
        if key in payload and not isinstance(payload[key], expected):
            raise _bad(f"{key} must be {_TYPE_WORDS[expected]}; got {_shown(payload[key])}.")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _bad(
            'inputs must be a non-empty list of tensors {"name", "shape", "datatype", "data"}; '
            f"got {_shown(inputs)}."
        )
    tensors = [_tensor(i, tensor) for i, tensor in enumerate(inputs)]
    if len(tensors) == 1 and tensors[0][1].ndim == 2 and tensors[0][1].shape[1] > 1:
        return tensors[0][1]
    columns: dict[str, np.ndarray] = {}
    rows = None
    for name, array in tensors:
        if array.ndim == 2 and array.shape[1] != 1:
            raise _bad(
                f"inputs {name!r} has shape {list(array.shape)}: with several inputs each is one "
                "column, of shape [n] or [n, 1]. Send one 2-D tensor alone, or one per column."
            )
        if name in columns:
            raise _bad(f"inputs names {name!r} twice; give each column one tensor.")
        if rows is None:
            rows = len(array)
        elif len(array) != rows:
            raise _bad(
                f"inputs {name!r} has {len(array)} rows but {tensors[0][0]!r} has {rows}; "
                "every input needs one value per row."
            )
        columns[name] = array.reshape(-1)
    return pd.DataFrame(columns, copy=False)


_TYPE_WORDS = {str: "a string", dict: "an object", list: "a list"}


def _tensor(i: int, tensor: Any) -> tuple[str, np.ndarray]:
    where = f"inputs[{i}]"
    if not isinstance(tensor, dict):
        raise _bad(f"{where} must be an object with name, shape, datatype and data.")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}.name must be a non-empty string (the column name).")
    where = f"input {name!r}"
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise _bad(f"{where}: shape must be [n] or [n, k] of whole numbers; got {_shown(shape)}.")
    datatype = tensor.get("datatype")
    if datatype not in _DATATYPES:
        raise _bad(
            f"{where}: datatype must be one of {', '.join(_DATATYPES)}; got {_shown(datatype)}."
        )
    if "parameters" in tensor and not isinstance(tensor["parameters"], dict):
        raise _bad(f"{where}: parameters must be an object.")
    data = tensor.get("data")
    if not isinstance(data, list):
        raise _bad(f"{where}: data must be a list of values; got {_shown(data)}.")
    dtype, kinds = _DATATYPES[datatype]
    try:
        raw = np.asarray(data)
    except (ValueError, TypeError):
        raise _bad(f"{where}: data is ragged; give a flat list or equal-length rows.") from None
    if raw.dtype.kind not in kinds and not (raw.size == 0 and raw.dtype.kind == "f"):
        raise _bad(
            f"{where} is {datatype}, so data must hold {_KIND_NAMES[kinds]}; it holds {_held(raw)}."
        )
    size = math.prod(shape)
    if raw.size != size or size == 0:
        raise _bad(
            f"{where}: shape {shape} needs {size} values and data has {raw.size}"
            f"{'; send at least one row' if size == 0 else ''}."
        )
    try:
        array = raw.astype(dtype, copy=False) if dtype is not object else raw.astype(object)
    except (OverflowError, ValueError):
        raise _bad(f"{where}: a value does not fit {datatype}.") from None
    wrapped = raw.dtype.kind in "iu" and array.dtype.kind in "iu"
    if dtype is not object and wrapped and not np.array_equal(array, raw):
        raise _bad(f"{where}: a value does not fit {datatype}.")
    return name, array.reshape(shape)


def _held(raw: np.ndarray) -> str:
    kind = raw.dtype.kind
    return {
        "b": "true/false values",
        "i": "whole numbers",
        "u": "whole numbers",
        "f": "numbers with decimals",
        "U": "strings",
        "O": "nulls, objects or mixed values",
    }.get(kind, f"values of type {raw.dtype}")


def sticky_value(data: Any, column: str | None, names: tuple[str, ...] = ()) -> str | None:
    """The first row's value of the sticky column, as text (None if absent)."""
    if column is None:
        return None
    try:
        if isinstance(data, dict):
            value = data.get(column)
        elif isinstance(data, pd.DataFrame):
            value = data[column].iloc[0] if column in data.columns else None
        elif isinstance(data, np.ndarray) and column in names:
            value = data[0, names.index(column)]
        else:
            value = None
    except (IndexError, KeyError):
        return None
    return None if value is None else str(value.item() if hasattr(value, "item") else value)


def predictions(outputs: Any) -> Any:
    """Predictions as JSON-able values: one per row (a record per row for a frame)."""
    if isinstance(outputs, pd.DataFrame):
        return outputs.to_dict(orient="records")
    return outputs


def oip_outputs(outputs: Any) -> list[dict[str, Any]]:
    """Predictions as OIP output tensors: one, or one per column of a frame."""
    if isinstance(outputs, pd.DataFrame):
        return [_out(str(name), outputs[name].to_numpy()) for name in outputs.columns]
    return [_out("predict", np.asarray(outputs))]


def _out(name: str, array: np.ndarray) -> dict[str, Any]:
    kind = array.dtype.kind
    if kind == "b":
        datatype = "BOOL"
    elif kind in "iu":
        datatype = f"{'U' if kind == 'u' else ''}INT{array.dtype.itemsize * 8}"
    elif kind == "f":
        datatype = f"FP{array.dtype.itemsize * 8}"
    else:
        datatype = "BYTES"
        array = np.asarray([str(v) for v in array.reshape(-1)], dtype=object).reshape(array.shape)
    data = array.reshape(-1) if datatype != "BYTES" else array.reshape(-1).tolist()
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


def _names(record: Mapping[str, Any]) -> str:
    names = [repr(k) for k in list(record)[:10]]
    return ", ".join(names) + (" ..." if len(record) > 10 else "")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
