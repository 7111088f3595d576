"""``keel serve``: a model server for a deployment file or a model reference."""

from __future__ import annotations

import typer

from ._output import console, esc

__all__ = ["register"]


def serve(
    target: str = typer.Argument(
        ...,
        help="A deployment YAML file (deploy/credit.yaml) or a model reference "
        "(credit@champion, credit:4).",
        show_default=False,
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        1, min=1, max=64, help="Worker processes sharing the listening socket."
    ),
    auth: bool = typer.Option(
        None,
        "--auth/--no-auth",
        help="Require a bearer token (role reader to predict). Default: the server_auth "
        "setting if set, else off on a loopback address.",
        show_default=False,
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Allow listening beyond loopback without authentication."
    ),
) -> None:
    """Serve a deployment: Open Inference Protocol v2, POST /predict, /metrics, docs at /docs."""
    from keel import config as config_module
    from keel.client import Client
    from keel.errors import ConfigError
    from keel.server._listen import check_listen, default_auth
    from keel.serving import load_spec

    config = config_module.current()
    if auth is None:
        auth = default_auth(config)
    check_listen(host, auth=auth, insecure=insecure)
    spec = load_spec(target)
    with Client(config=config) as client:
        if auth and client.remote:
            raise ConfigError(
                "keel serve --auth checks tokens in the store, but KEEL_URI is a keel server "
                f"({config.uri}). Point KEEL_URI at the database, or serve with --no-auth "
                "on loopback."
            )
        versions = {ref: client.models.get(ref).ref for ref in spec.refs}  # NotFound here
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = ", ".join(f"{esc(ref)} = {esc(v)}" for ref, v in versions.items())
    mode = "token required" if auth else "no authentication"
    console.print(
        f"keel serve {esc(spec.name)} ({shown}) on http://{esc(host)}:{bound} with {workers} "
        f"worker{'s' if workers > 1 else ''} ({mode}); docs at /docs"
    )
    if workers == 1:
        _worker(target, sock, auth)
    else:
        _supervise(target, sock, auth, workers)


def _bind(host: str, port: int):
    """A listening socket; TCP_NODELAY is set on each connection by the event loop."""
    from keel.server._listen import bind_socket

    sock = bind_socket(host, port)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(target: str, sock, auth: bool, leader: bool = True) -> None:
    """One server process: its own client, models and event loop on the shared socket;
    the ``leader`` (worker 0) also judges and records canary steps."""
    import signal

    import uvicorn

    from keel.client import Client
    from keel.serving import create_app

    client = Client()
    authenticate = None
    if auth:
        from keel.server.tokens import TokenService

        authenticate = TokenService(client.store).authenticate
    app = create_app(target, client, authenticate=authenticate, leader=leader)
    config = uvicorn.Config(
        app,
        loop="auto",  # uvloop and httptools (dependencies) where the platform has them
        http="auto",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    # uvicorn finishes in-flight requests and runs the app's shutdown (queued batches,
    # the prediction logger), then re-raises the signal: exit 0 on it, as a stop asked for.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        client.close()


def _exit_cleanly(signum, frame) -> None:
    raise SystemExit(0)


def _supervise(target: str, sock, auth: bool, workers: int) -> None:
    """Fork ``workers`` processes on one socket; SIGTERM or Ctrl-C stops them gracefully."""
    import multiprocessing
    import signal

    context = multiprocessing.get_context("fork")  # children inherit the bound socket
    children = [
        context.Process(target=_worker, args=(target, sock, auth, i == 0), daemon=False)
        for i in range(workers)
    ]
    for child in children:
        child.start()

    def stop(signum, frame) -> None:
        for child in children:
            if child.is_alive() and child.pid is not None:
                import os

                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()
    sock.close()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
