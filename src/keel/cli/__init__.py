"""The ``keel`` command line: one module per command group.

``main`` is the entry point; ``app``, the typer app, is built on first use, so that the
commands the entry point runs without it (:mod:`._main`) do not pay for it.
"""

from keel._lazy import lazy_names

from ._main import main

__all__ = ["app", "main"]

__getattr__ = lazy_names(__name__, {"app": "._app"})
