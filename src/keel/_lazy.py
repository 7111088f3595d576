"""Names a package loads on first use (PEP 562), so that importing it stays cheap."""

from __future__ import annotations

import sys
from importlib import import_module

TYPE_CHECKING = False  # typing and collections.abc cost every command's start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``names[name]`` (a module
    path, relative to ``package`` when it starts with a dot) on first use, takes ``name``
    from it and keeps it in the package's namespace.

    Example::

        __getattr__ = lazy_names(__name__, {"DatasetService": "._service"})
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
