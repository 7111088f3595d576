"""How the OpenAPI document names operations: the names generated clients give them."""

from __future__ import annotations

from fastapi.routing import APIRoute

__all__ = ["operation_id"]


def operation_id(route: APIRoute) -> str:
    """``<tag>_<function>``, such as ``tracking_create_run`` or ``models_list_versions``.

    Stable (it changes only if the route's tag or function is renamed) and unique (a route
    module's functions have distinct names, and each module has its own tag). FastAPI's
    default spells out the path and method, which generated clients turn into names like
    ``list_versions_api_v1_projects_project_models_name_versions_get``.
    """
    return f"{route.tags[0]}_{route.name}" if route.tags else route.name
