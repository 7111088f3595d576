"""Who acts on a store: a person or a token, with a role. One definition for every concept
and the server."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from keel.errors import InvalidInput, PermissionDenied

__all__ = ["ROLES", "Actor", "check_role", "role_allows"]

ROLES = ("reader", "writer", "approver", "admin")
"""Each role can do what the ones before it can: read, then write, then approve (model
versions, and moving aliases a promotion policy protects), then administer."""


def check_role(role: object) -> str:
    """``role`` if it is one of :data:`ROLES`, else a clear error."""
    if role not in ROLES:
        raise InvalidInput(f"Role {role!r} is not one of {', '.join(ROLES)}.")
    return role  # type: ignore[return-value]


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` includes what ``needed`` may do."""
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Actor:
    """Who acts: a person or token name and a role (reader < writer < approver < admin)."""

    name: str
    role: str = "admin"

    @classmethod
    def local(cls) -> Actor:
        """The person at this terminal, with full rights over their own store."""
        try:
            return cls(getpass.getuser(), "admin")
        except (KeyError, OSError):
            return cls("unknown", "admin")

    def require(self, role: str, action: str) -> None:
        """Raise :class:`PermissionDenied` unless this actor's role includes ``role``."""
        if not role_allows(self.role, role):
            raise PermissionDenied(
                f"{self.name!r} has role {self.role!r}; to {action} needs {role!r}. "
                f"Ask an admin for a {role} token."
            )
