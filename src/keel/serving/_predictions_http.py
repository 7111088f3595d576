"""Prediction logs through a keel server: the same methods as :class:`PredictionStore`.

A write pushes the Parquet bytes through the server's object API (the server verifies
them against their digest and its upload limit), then asks the server to record the part,
which it reads and checks first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from keel._parquet import read_parquet
from keel.errors import NotFound

from .predictions import check_deployment, check_kind, check_part, to_parquet

if TYPE_CHECKING:
    import pyarrow as pa

    from keel._remote import RemoteClient
    from keel.config import Config
    from keel.store.objects import ObjectStore

__all__ = ["HttpPredictions"]


class HttpPredictions:
    """The prediction logs of one project of a keel server.

    Args:
        remote: the connection to the server (its token's role decides what is allowed).
        objects: the server's object store.
        config: the client's configuration (project, flush settings).
    """

    def __init__(self, remote: RemoteClient, objects: ObjectStore, config: Config) -> None:
        self.remote = remote
        self.objects = objects
        self.config = config
        self.project = config.project

    def __repr__(self) -> str:
        return f"HttpPredictions({self.remote.base_url!r}, project={self.project!r})"

    def _path(self, rest: str) -> str:
        return f"/api/v1/projects/{quote(self.project, safe='')}/predictions{rest}"

    def hash_key(self) -> bytes:
        """The project's key for hashed columns, as the server keeps it (role writer)."""
        return bytes.fromhex(self.remote.json("GET", self._path("/hash-key"))["key"])

    def write(self, kind: str, deployment: str, table: pa.Table) -> str:
        check_kind(kind)
        check_deployment(deployment)
        check_part(kind, table)
        digest = self.objects.put(to_parquet(table))
        return self.record(kind, deployment, digest)

    def record(self, kind: str, deployment: str, digest: str) -> str:
        body = {"kind": kind, "deployment": deployment, "digest": digest}
        return self.remote.json("POST", self._path("/parts"), json=body)["id"]

    def parts(
        self,
        kind: str,
        *,
        deployment: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        params = _window(kind, deployment, since_ms, until_ms)
        return self.remote.json("GET", self._path("/parts"), params=params)

    def read(
        self,
        kind: str,
        *,
        deployment: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:

        params = _window(kind, deployment, since_ms, until_ms)
        if columns is not None:
            params["columns"] = list(columns)
        response = self.remote.request("GET", self._path("/rows"), params=params)
        return read_parquet(response.content)

    def find_request(self, request_id: str) -> dict[str, Any] | None:
        try:
            return self.remote.json("GET", self._path(f"/requests/{quote(request_id, safe='')}"))
        except NotFound:
            return None

    def erase(self, *, column: str, values: list, actor: str | None = None) -> int:
        """Erase through the server (role admin; the token's name is the actor)."""
        body = {"column": column, "values": list(values)}
        return self.remote.json("POST", self._path("/erase"), json=body)["rows_removed"]


def _window(
    kind: str, deployment: str | None, since_ms: int | None, until_ms: int | None
) -> dict[str, Any]:
    params: dict[str, Any] = {"kind": check_kind(kind)}
    for name, value in (("deployment", deployment), ("since_ms", since_ms), ("until_ms", until_ms)):
        if value is not None:
            params[name] = value
    return params
