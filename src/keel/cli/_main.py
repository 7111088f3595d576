"""The ``keel`` entry point: the two commands that must start in a blink run without typer.

``keel data status`` and ``keel data add`` of a clean workspace do a few milliseconds of
work; building the typer app (every command group, pydantic adapters for each command's
parameters) would cost ten times that. :func:`main` recognises these two commands in
their plain forms (see :mod:`._fast`) and runs them directly; anything else (help, other
options, ``--debug``, every other command) goes to the full typer app, unchanged. Both
ways share the logging set-up and the error reporting below; the direct way sets up
logging only once its command goes past the quick answer of a clean workspace
(:mod:`keel.data._quick_clean`, which logs nothing), so that it never imports ``logging``.
"""

from __future__ import annotations

import errno
import os
import sys

TYPE_CHECKING = False  # collections.abc costs the quick commands
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["configure_cli_logging", "ends_with_command", "main", "run_reporting_errors"]

_process = {"ends_with_command": False}


def ends_with_command() -> bool:
    """Whether this process is the ``keel`` program, which exits when its command ends
    (False when a caller runs commands in its own process, as tests do with CliRunner)."""
    return _process["ends_with_command"]


def main() -> None:
    """Entry point of the ``keel`` command: user errors exit 1 without a traceback."""
    from ._fast import plain_command

    _process["ends_with_command"] = True
    command = plain_command(sys.argv[1:])
    if command is None:
        full_main = _import_app()
        full_main()
        return
    # logging is set up by the command when it goes beyond the quick answers (it costs them)
    code = run_reporting_errors(command, debug=lambda: False)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left before the last line
        _silence_stdout()
        code = code or 1
    sys.exit(code)


def _import_app() -> Callable[[], None]:
    """The typer app's entry point, imported without the collector's passes over the
    modules it brings in (every command group's), which live as long as the process;
    they are then frozen (:func:`gc.freeze`), so later collections skip them too."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        from ._app import main as full_main
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    return full_main


def configure_cli_logging(*, debug: bool) -> None:
    """Send keel's logs to stderr at the configured level (DEBUG with ``--debug``)."""
    from keel._logging import configure_logging

    level = "DEBUG" if debug else _setting_or("log_level", "WARNING")
    configure_logging(level, _setting_or("log_format", "text"))


def _setting_or(name: str, fallback: str) -> str:
    """A setting, or ``fallback`` while it is malformed: logging never stops a command
    (the command's own configuration names the bad value)."""
    from keel.config import setting
    from keel.errors import ConfigError

    try:
        return setting(name)
    except ConfigError:
        return fallback


def run_reporting_errors(command: Callable[[], int | None], *, debug: Callable[[], bool]) -> int:
    """Run ``command``; its exit code (``None`` is 0). A keel error or an ``OSError`` is
    one line on stderr and exit code 1 (re-raised when ``debug()``), Ctrl-C exit code 130."""
    from keel.errors import KeelError

    try:
        return command() or 0
    except KeelError as exc:
        if debug():
            raise
        from ._output import err_console, esc

        # the message holds user values and hints such as pip install 'keelml[postgres]'
        err_console.print(f"[bold red]error:[/] {esc(exc.message)}", highlight=False)
        return 1
    except KeyboardInterrupt:
        from ._output import err_console

        err_console.print("[yellow]interrupted[/]")
        return 130
    except OSError as exc:  # a path, a port, a permission: one line, not a traceback
        if exc.errno == errno.EPIPE:  # a reader such as 'head' stopped: quiet, as click is
            _silence_stdout()
            return 1
        if debug():
            raise
        from ._output import err_console, esc

        where = f" ({exc.filename})" if exc.filename else ""
        err_console.print(
            f"[bold red]error:[/] {esc(exc.strerror or exc)}{esc(where)}. "
            "Run again with --debug for the traceback.",
            highlight=False,
        )
        return 1


def _silence_stdout() -> None:
    """Send what is left of stdout to /dev/null, so flushing at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
