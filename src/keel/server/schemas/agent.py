"""The agent's status, as the agent route answers it."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["AgentAction", "AgentStatus", "ServerAgent"]


class AgentAction(BaseModel):
    """One thing an agent's pass did."""

    what: str = Field(examples=["monitor", "trigger (schedule)", "run", "expired run", "error"])
    project: str = Field(description="Empty for what belongs to no project.")
    name: str = Field(description="The monitor's or pipeline's name; may be empty.")
    detail: str = Field(examples=["breached", "queued run 0193a1b2", "started 0193a1b2"])


class ServerAgent(BaseModel):
    """This server's own agent."""

    holder: str = Field(description="Its name in leases: host:pid:random.")
    leading: bool = Field(description="Whether it holds the lease now.")
    last_pass: list[AgentAction] = Field(
        description="What its last pass did, in the projects the token may see."
    )


class AgentStatus(BaseModel):
    """Which agent leads the store, and this server's own agent."""

    leader: str | None = Field(description="The lease holder; null when no agent leads.")
    expires_at: int | None = Field(description="When its lease runs out (epoch ms).")
    this_server: ServerAgent | None = Field(description="Null when this server runs no agent.")
