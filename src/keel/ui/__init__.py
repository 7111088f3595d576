"""The web dashboard: server-rendered pages whose scripts read the REST API."""

from __future__ import annotations

from ._pages import PAGES, mount

__all__ = ["PAGES", "mount"]
