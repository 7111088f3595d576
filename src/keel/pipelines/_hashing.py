"""Cache keys: a step's code hash, params, input digests and materialiser, hashed together.

The code hash is of the function's syntax tree without its decorators and docstring, so
reformatting, comments and docstrings do not invalidate the cache but any change to what
the code does does.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from blake3 import blake3

__all__ = ["cache_key", "code_hash"]

_hashes: dict[Any, str] = {}


def code_hash(fn: Callable[..., Any]) -> str:
    """blake3 of ``fn``'s normalised source (of its bytecode when there is no source)."""
    found = _hashes.get(fn)
    if found is not None:
        return found
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
        node = tree.body[0]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.decorator_list = []
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                node.body = body[1:] or [ast.Pass()]
        text = ast.dump(node, annotate_fields=False, include_attributes=False)
    except (OSError, TypeError, SyntaxError, IndexError):
        code = getattr(fn, "__code__", None)
        text = repr((code.co_code, code.co_consts, code.co_names)) if code else repr(fn)
    digest = blake3(text.encode()).hexdigest()
    _hashes[fn] = digest
    return digest


def cache_key(
    code: str, params: Mapping[str, Any], inputs: Mapping[str, str | None], materializer: str
) -> str:
    """The key two step runs share exactly when they would compute the same outputs."""
    payload = json.dumps(
        {"code": code, "params": params, "inputs": inputs, "materializer": materializer},
        sort_keys=True,
        default=str,
    )
    return blake3(payload.encode()).hexdigest()
