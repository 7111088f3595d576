"""keel's own logs: the ``keel`` logger, configured only by the CLI and the server.

Importing keel as a library never touches the root logger or adds handlers; the
application decides. ``keel`` commands call :func:`configure_logging`, which attaches one
handler to the ``keel`` logger: human-readable lines, or JSON lines (one object per
record, for log shippers such as the Elastic stack) when ``KEEL_LOG_FORMAT=json``.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["JsonFormatter", "configure_logging", "configured"]

_HANDLER_NAME = "keel-cli"
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        # imported here: every command configures logging, few log as JSON (start-up time)
        from datetime import UTC, datetime

        import orjson

        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD_ATTRS)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configured() -> bool:
    """Whether :func:`configure_logging` already set up the ``keel`` logger here."""
    return any(h.get_name() == _HANDLER_NAME for h in logging.getLogger("keel").handlers)


def configure_logging(level: str = "WARNING", fmt: str = "text") -> logging.Logger:
    """Send the ``keel`` logger's records to stderr in ``fmt`` ('text' or 'json').

    Calling it again replaces the handler it added before, never anyone else's.
    """
    logger = logging.getLogger("keel")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
