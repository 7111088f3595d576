"""``keel server``: the platform REST API."""

from __future__ import annotations

import typer

from ._output import console, esc

__all__ = ["register"]


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
    """Serve the REST API (OpenAPI docs at /docs) and the dashboard (/ui) over this
    project's store."""
    import os

    import uvicorn

    from keel import config as config_module
    from keel.server._listen import bind_socket, check_listen, default_auth
    from keel.store import Store

    config = config_module.current()
    if auth is None:
        auth = default_auth(config)
    check_listen(host, auth=auth, insecure=insecure)
    bind_socket(host, port).close()  # before the banner: a busy port is one clear line
    with Store.open(config) as store:  # fail here, clearly, if the store cannot be opened
        no_tokens = auth and not _has_tokens(store)
    # The decision reaches every worker through the server_auth setting itself.
    os.environ["KEEL_SERVER_AUTH"] = "true" if auth else "false"
    config_module.reset()
    mode = "token required" if auth else "no authentication"
    console.print(
        f"keel server on http://{esc(host)}:{port} ({mode}); API docs at /docs, dashboard at /ui"
    )
    if no_tokens:
        console.print(
            "[yellow]No tokens exist yet, so every request will be refused.[/] Create the "
            "first one with: [bold]keel token create --role admin[/] "
            "(and give it as KEEL_TOKEN or 'Authorization: Bearer <token>')."
        )
    uvicorn.run(
        "keel.server.app:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def _has_tokens(store) -> bool:
    from keel.server.tokens import TokenService

    return bool(TokenService(store).list())


def register(app: typer.Typer) -> None:
    app.command("server")(server)
