"""keel: one MLOps platform for the whole model lifecycle.

The names here are the SDK a data scientist types; everything else lives in its
concept's folder. Importing keel reads no configuration and touches no files.
"""

from __future__ import annotations

from keel._version import __version__
from keel.errors import KeelError

__all__ = ["KeelError", "__version__"]
