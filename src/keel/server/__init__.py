"""The keel platform server: REST API, authentication, and (later) dashboard and agent."""

from .app import create_app
from .tokens import ROLES, TokenInfo, TokenService

__all__ = ["ROLES", "TokenInfo", "TokenService", "create_app"]
