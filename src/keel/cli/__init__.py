"""The ``keel`` command line: one module per command group."""

from ._app import app, main

__all__ = ["app", "main"]
