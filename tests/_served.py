"""A keel server with auth on a free loopback port over a fresh store, with one token per
role: what the remote tests of every concept start from."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keel.client import Client
from keel.config import Config, resolve
from keel.server import TokenService
from keel.store import init_project
from tests.conftest import live_server


@dataclass
class Served:
    """A live server: its store's configuration, its URL and a token per role."""

    config: Config
    url: str
    tokens: dict[str, str]

    def local(self) -> Client:
        """A client straight to the server's store."""
        return Client(config=self.config)

    def remote(self, role: str = "admin") -> Client:
        """A client through the server, with ``role``'s token."""
        return Client(self.url, project=self.config.project, token=self.tokens[role])

    def headers(self, role: str = "admin") -> dict[str, str]:
        """The Authorization header of ``role``'s token, for plain HTTP calls."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def counts(self, *tables: str) -> dict[str, int]:
        """Rows of ``tables`` in the store (to show a refused request changed nothing)."""
        with self.local() as local:
            counts = local.store.counts()
        return {k: counts[k] for k in tables}


@contextlib.contextmanager
def serve_store(
    store_config: Config,
    folder: Path,
    roles: Iterable[str],
    *,
    project: str | None = None,
    prepare: Callable[[Client], Any] | None = None,
) -> Iterator[Served]:
    """Initialise a store in ``folder`` (``prepare`` fills it), make a token for each role
    (``<role>-token``), and serve it with auth on until the block ends."""
    config = replace(store_config, project=project) if project else store_config
    init_project(folder, config).close()
    with Client(config=config) as client:
        if prepare is not None:
            prepare(client)
        service = TokenService(client.store)
        tokens = {role: service.create(f"{role}-token", role)[1] for role in roles}
    with live_server(config, auth=True) as url:
        yield Served(config, url, tokens)


def serve_local(
    folder: Path, roles: Iterable[str], *, project: str | None = None
) -> contextlib.AbstractContextManager[Served]:
    """:func:`serve_store` of a SQLite store and local objects under ``folder``, not
    fsynced (the tests need no durability)."""
    config = resolve(
        uri=f"sqlite:///{folder / 'keel.db'}", objects=str(folder / "objects"), fsync=False
    )
    return serve_store(config, folder, roles, project=project)
