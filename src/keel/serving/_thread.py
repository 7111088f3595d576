"""A model server in a thread of this process: for notebooks, examples and the quickstart."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from keel.errors import KeelError

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` (from :func:`keel.serving.create_app`) with uvicorn in a background
    thread; yields its URL, and on exit stops it the way SIGTERM does (requests in flight
    finish, queued batches are predicted, prediction logs are flushed).

    Example::

        with serve_in_thread(create_app("credit@champion")) as url:
            httpx.post(f"{url}/predict", json=[{"income": 52.0, "debt": 0.3}])
    """
    import uvicorn

    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it a response written in two parts waits for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise KeelError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="keel-serve", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            sock.close()
            raise KeelError("The model server did not start; see the log above.")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
