"""``keel token``: create, list and revoke API tokens for the server."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from ._output import console, esc, print_json

__all__ = ["app"]

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)


def _service():
    from keel.client import default_client
    from keel.server.tokens import TokenService

    return TokenService(default_client().store)


@app.command("create")
def create(
    role: str = typer.Option(..., "--role", help="reader, writer, approver or admin."),
    name: str = typer.Option(None, "--name", help="What the token is for (default: the role)."),
    project: list[str] = typer.Option(
        [],
        "--project",
        help="Limit the token to this project (repeat for several); default: every project.",
    ),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Create a token. It is printed once; only its hash is stored."""
    info, secret = _service().create(name or role, role, projects=project)
    if json:
        print_json(
            {
                "id": info.id,
                "name": info.name,
                "role": info.role,
                "projects": list(info.projects),
                "token": secret,
            }
        )
        return
    console.print(f"[bold]{esc(secret)}[/]")
    scope = ", ".join(info.projects) or "every project"
    console.print(
        f"[dim]token {info.id} ({esc(info.role)}, {esc(scope)}). Shown once: store it now, e.g. "
        "export KEEL_TOKEN=...[/]"
    )


@app.command("ls")
def ls(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List tokens (never their secrets)."""
    from ._table import Table

    tokens = _service().list()
    if json:
        print_json([t.__dict__ for t in tokens])
        return
    table = Table(title="tokens", title_justify="left")
    for column in ("id", "name", "role", "projects", "created", "revoked"):
        table.add_column(column)
    for t in tokens:
        table.add_row(
            t.id,
            t.name,
            t.role,
            ", ".join(t.projects) or "all",
            _when(t.created_at),
            _when(t.revoked_at),
        )
    console.print(table)


@app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="Token id (or unique prefix) from 'keel token ls'."),
    json: bool = typer.Option(False, "--json", help="Print the revoked token as JSON."),
) -> None:
    """Revoke a token: requests carrying it are refused from now on."""
    info = _service().revoke(token_id)
    if json:
        print_json(info.__dict__)
        return
    console.print(f"revoked token {esc(info.id)} ({esc(info.name)})")


def _when(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
