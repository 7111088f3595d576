"""/api/v1/projects: the projects a token may see, and explicit creation (admins).

No other call creates a project: a request for a project that does not exist is a 404 that
names the projects there are, so a typo never makes a new, empty project.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from keel.store._store import PROJECT_NAME_RULE

from ..auth import require
from ..schemas import AUTH_ERRORS, errors
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/projects", tags=["projects"], responses=AUTH_ERRORS)
READ, ADMIN = Depends(require("reader")), Depends(require("admin"))


class ProjectCreate(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        description=f"The new project's name: {PROJECT_NAME_RULE}.",
        examples=["credit-risk"],
    )


class Project(BaseModel):
    name: str
    id: str
    created_at: int


@router.get("", response_model=list[Project])
def list_projects(request: Request, caller: TokenInfo = READ) -> list[dict[str, Any]]:
    """The projects this token may use, by name."""
    return [p for p in request.app.state.store.projects() if caller.allows_project(p["name"])]


@router.post(
    "",
    status_code=201,
    response_model=Project,
    responses=errors({409: "A project has this name."}),
)
def create_project(
    body: ProjectCreate, request: Request, caller: TokenInfo = ADMIN
) -> dict[str, Any]:
    """Create a project (admins only); every other call needs the project to exist."""
    store = request.app.state.store
    project_id = store.create_project(body.name, actor=caller.name)
    return next(p for p in store.projects() if p["id"] == project_id)
