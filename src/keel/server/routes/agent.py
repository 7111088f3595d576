"""/api/v1/agent: which agent leads this store, and what this server's agent did last."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request

from keel.store import now_ms
from keel.store.schema import agent_leases

from .._json import JSONResponse
from ..auth import require
from ..schemas import AUTH_ERRORS
from ..schemas.agent import AgentStatus
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/agent", tags=["agent"], responses=AUTH_ERRORS)
READ = Depends(require("reader"))


@router.get("", response_model=AgentStatus)
def agent_status(request: Request, caller: TokenInfo = READ) -> JSONResponse:
    """The agent holding the lease (``leader``, null when none does, and when its lease
    runs out) and this server's own agent: its name, whether it leads, and what its last
    pass did in the projects this token may see."""
    from ..agent import LEASE

    store = request.app.state.store
    lease = agent_leases
    with store.read() as conn:
        row = conn.execute(
            sa.select(lease.c.holder, lease.c.expires_at).where(
                lease.c.name == LEASE, lease.c.expires_at >= now_ms()
            )
        ).first()
    own = getattr(request.app.state, "agent", None)
    mine = None
    if own is not None:
        last = own.last
        rows = [r for r in last.rows() if _visible(r, caller)] if last is not None else []
        mine = {"holder": own.holder, "leading": own.leader, "last_pass": rows}
    return JSONResponse(
        {
            "leader": row.holder if row else None,
            "expires_at": row.expires_at if row else None,
            "this_server": mine,
        }
    )


def _visible(row: dict[str, str], caller: TokenInfo) -> bool:
    # a row of no project (an expired run) is for tokens of every project only
    return caller.allows_project(row["project"]) if row["project"] else not caller.projects
