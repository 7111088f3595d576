"""Shared fixtures: real SQLite and PostgreSQL stores, real local and S3 object stores."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

from keel.config import Config, resolve
from keel.store import Store, init_project

# Property tests explore the same examples on every run (CI must not flake on a case
# found once in a thousand runs) and have no deadline (this machine is shared and busy).
# Vary them locally with --hypothesis-seed=N.
settings.register_profile("keel", derandomize=True, deadline=None)
settings.load_profile("keel")

PG_URL = os.environ.get(
    "KEEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("KEEL_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's KEEL_* settings or project; config is re-resolved."""
    import keel.config

    for name in list(os.environ):
        if name.startswith("KEEL_") and name != "KEEL_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEEL_CACHE_DIR", str(tmp_path / ".keel-cache"))  # not the user's
    keel.config.reset()


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An engine on the test PostgreSQL database; skips (or fails in CI) if unreachable."""
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {PG_URL}: {exc.orig}"
        if REQUIRE_PG:
            pytest.fail(message + " (KEEL_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(message)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin: sa.Engine) -> Iterator[str]:
    """A URL to a fresh PostgreSQL schema of its own, dropped after the test."""
    name = f"keel_t_{secrets.token_hex(6)}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    yield f"{PG_URL}?options=-csearch_path%3D{name}"
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))


@pytest.fixture(params=BACKENDS)
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata store URL on each backend (the SQLite file does not exist yet)."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'meta' / 'keel.db'}"


@pytest.fixture
def store_config(store_uri: str, tmp_path: Path) -> Config:
    return resolve(uri=store_uri, objects=str(tmp_path / "objects"), fsync=False)


@pytest.fixture
def store(store_config: Config, tmp_path: Path) -> Iterator[Store]:
    """An initialised store on each metadata backend."""
    opened = init_project(tmp_path, store_config)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new empty bucket; AWS_* variables point boto at the moto server."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    name = f"keel-{secrets.token_hex(4)}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@contextlib.contextmanager
def live_server(config: Config, *, auth: bool = False) -> Iterator[str]:
    """Run ``keel server``'s app with uvicorn on a free loopback port in a thread."""
    import socket
    import threading

    import uvicorn

    from keel.server import create_app

    app = create_app(config, auth=auth)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
