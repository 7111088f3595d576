"""``keel server``: the platform REST API."""

from __future__ import annotations

import ipaddress

import typer

from ._output import console, esc

__all__ = ["register"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    auth: bool = typer.Option(
        None,
        "--auth/--no-auth",
        help="Require a bearer token on every request. Default: the server_auth setting if "
        "set, else off on a loopback address.",
        show_default=False,
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Allow listening beyond loopback without authentication."
    ),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
) -> None:
    """Serve the REST API (OpenAPI docs at /docs) over this project's store."""
    import os

    import uvicorn

    from keel import config as config_module
    from keel.errors import InvalidInput
    from keel.store import Store

    config = config_module.current()
    if auth is None:
        # An explicit server_auth (environment or keel.toml) wins; unset, a loopback
        # server stays open for the local user, and any other address must choose.
        auth = config.server_auth if config.sources.get("server_auth") != "default" else False
    if not auth and not insecure and not _is_loopback(host):
        raise InvalidInput(
            f"Refusing to listen on {host} without authentication: anyone who can reach it "
            "could read and change your runs. Add --auth (and create tokens with 'keel token "
            "create'), or --insecure if this network is trusted."
        )
    Store.open(config).close()  # fail here, clearly, if the store cannot be opened
    # The decision reaches every worker through the server_auth setting itself.
    os.environ["KEEL_SERVER_AUTH"] = "true" if auth else "false"
    config_module.reset()
    mode = "token required" if auth else "no authentication"
    console.print(f"keel server on http://{esc(host)}:{port} ({mode}); API docs at /docs")
    uvicorn.run(
        "keel.server.app:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def register(app: typer.Typer) -> None:
    app.command("server")(server)
