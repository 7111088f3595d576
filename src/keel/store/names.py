"""Names that must stay unambiguous across concepts: a dataset and a model of one project
never share a name, so a reference such as ``credit:1`` means one thing."""

from __future__ import annotations

import sqlalchemy as sa

from keel.errors import AlreadyExists

from . import schema as t

__all__ = ["check_name_free"]

_OWNERS = {"dataset": t.datasets, "model": t.models}


def check_name_free(conn: sa.Connection, project_id: str, name: str, kind: str) -> None:
    """Raise :class:`AlreadyExists` if a record of another kind in the project is ``name``.

    Args:
        kind: what is being named (``"dataset"`` or ``"model"``).
    """
    for other, table in _OWNERS.items():
        if other == kind:
            continue
        clash = conn.execute(
            sa.select(table.c.id).where(table.c.project_id == project_id, table.c.name == name)
        ).scalar()
        if clash is not None:
            raise AlreadyExists(
                f"{name!r} is already the name of a {other} in this project; references such "
                f"as '{name}:1' would be ambiguous. Choose another {kind} name."
            )
