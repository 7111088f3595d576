"""``keel ui``: the dashboard on this machine, over the configured store."""

from __future__ import annotations

import typer

from ._output import console, esc

__all__ = ["register"]

HOST = "127.0.0.1"


def ui(
    port: int = typer.Option(0, min=0, max=65535, help="Port to listen on; 0 picks a free one."),
    open_browser: bool = typer.Option(False, "--open", help="Open the dashboard in a browser."),
    auth: bool = typer.Option(
        None,
        "--auth/--no-auth",
        help="Require a token (the dashboard asks for one). Default: the server_auth setting "
        "if set, else off (the dashboard listens on loopback only).",
        show_default=False,
    ),
) -> None:
    """Open the web dashboard of this project's store on 127.0.0.1 (Ctrl-C stops it)."""
    import threading
    import time

    import uvicorn

    from keel import config as config_module
    from keel.server import create_app
    from keel.server._listen import bind_socket, default_auth

    config = config_module.current()
    if auth is None:
        auth = default_auth(config)
    sock = bind_socket(HOST, port)  # a busy port is one clear line, before anything else
    app = create_app(config, auth=auth)  # fails here, clearly, if the store cannot be opened
    url = f"http://{HOST}:{sock.getsockname()[1]}/ui/p/{config.project}/"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if not server.started:
            return
        mode = "token required: create one with 'keel token create'" if auth else "no token"
        console.print(f"keel dashboard on {esc(url)} ({mode}); Ctrl-C stops it", soft_wrap=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
