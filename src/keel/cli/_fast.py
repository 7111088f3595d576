"""The plain forms of ``keel data status`` and ``keel data add``, recognised from argv.

Only the forms whose meaning is beyond doubt are taken: ``data status [PATH...]
[--json] [--exit-code]`` and ``data add PATH [--name NAME | -n NAME | --name=NAME]
[--json]``, options and paths in any order. Anything else (``--help``, ``--debug``,
``--``, an unknown or misspelt option, a missing or second PATH) is left to the typer app,
which prints its usual help and errors.
"""

from __future__ import annotations

from functools import partial  # sqlite3 imports functools: free for the quick commands

TYPE_CHECKING = False  # collections.abc and pathlib cost the quick commands
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["plain_command"]


def plain_command(argv: list[str]) -> Callable[[], int | None] | None:
    """The command ``argv`` (``sys.argv[1:]``) asks for, ready to call, when it is a plain
    ``data status`` or ``data add`` (or ``predict``, see :mod:`._predict_run`); None for
    everything else."""
    if argv and argv[0] == "predict":
        from ._predict_run import plain_predict

        return plain_predict(argv[1:])
    if len(argv) < 2 or argv[0] != "data":
        return None
    if argv[1] == "status":
        return _status(argv[2:])
    if argv[1] == "add":
        return _add(argv[2:])
    return None


def _status(args: list[str]) -> Callable[[], int | None] | None:
    flags = {"--json": False, "--exit-code": False}
    paths: list[str] = []
    for arg in args:
        if arg in flags:
            flags[arg] = True
        elif arg.startswith("-"):
            return None
        else:
            paths.append(arg)
    from . import _workspace_run

    return partial(
        _workspace_run.status, paths, json=flags["--json"], exit_code=flags["--exit-code"]
    )


def _add(args: list[str]) -> Callable[[], int | None] | None:
    json = False
    name: str | None = None
    paths: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--json":
            json = True
        elif arg in ("--name", "-n"):
            name = next(rest, None)
            if name is None or name.startswith("-"):
                return None
        elif arg.startswith("--name="):
            name = arg.removeprefix("--name=")
        elif arg.startswith("-"):
            return None
        else:
            paths.append(arg)
    if len(paths) != 1:
        return None
    from . import _workspace_run

    return partial(_workspace_run.add, paths[0], name=name, json=json)
