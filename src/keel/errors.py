"""Exceptions raised by keel.

Every error keel raises on purpose is a :class:`KeelError`. Messages name the object,
the bad value, what was expected and what to do next. The server maps the class to an
HTTP status (``status_code``); the CLI prints the message and exits with code 1.

Hierarchy::

    KeelError
    ├── NotFound                  404  something asked for does not exist
    │   ├── ProjectNotFound             no keel project or store where one was expected
    │   └── ObjectNotFound              an object digest is missing from the object store
    ├── AlreadyExists             409  creating something that is already there
    ├── Conflict                  409  the change does not fit the current state (try later)
    │   └── VersionHeld                 a version to delete is still held (an alias, ...)
    ├── ApprovalRejected          409  a pipeline's approval was rejected (keel.approval)
    ├── ApprovalExpired           409  a pipeline's approval timed out undecided
    ├── InvalidInput              422  a value, argument or file is malformed
    │   ├── ConfigError                 a setting (KEEL_URI, keel.toml, ...) is wrong
    │   ├── QueryTooComplex             a search is beyond a configured or database limit
    │   └── PayloadTooLarge       413  a request body or upload is above the configured limit
    ├── IntegrityError            500  stored bytes or records are corrupt or inconsistent
    ├── PermissionDenied          403  the caller may not do this
    ├── Unauthenticated           401  the caller did not say who they are
    └── StoreError                503  the store cannot be used as it is
        ├── StoreUnavailable            the database or filesystem cannot be reached
        ├── StoreVersionError           the store was written by a newer keel
        └── QueryTimeout                a read or lake query ran past its deadline
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "ApprovalExpired",
    "ApprovalRejected",
    "ConfigError",
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "KeelError",
    "NotFound",
    "ObjectNotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "ProjectNotFound",
    "QueryTimeout",
    "QueryTooComplex",
    "SchemaError",
    "StoreError",
    "StoreUnavailable",
    "StoreVersionError",
    "Unauthenticated",
    "VersionHeld",
    "did_you_mean",
]


class KeelError(Exception):
    """Base class of every error keel raises on purpose."""

    status_code: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(KeelError):
    """Something asked for by name, id or reference does not exist."""

    status_code = 404


class ProjectNotFound(NotFound):
    """No keel project was found where one was expected."""


class ObjectNotFound(NotFound):
    """An object digest is not in the object store."""


class AlreadyExists(KeelError):
    """Creating something that already exists."""

    status_code = 409


class Conflict(KeelError):
    """The request is well formed but does not fit the current state: a deployment with a
    canary in progress, a rollback with nothing to go back to, a concurrent change."""

    status_code = 409


class ApprovalRejected(KeelError):
    """``keel.approval(...)`` in a pipeline step: someone rejected it (the message says who
    and why); the step fails."""

    status_code = 409


class ApprovalExpired(KeelError):
    """``keel.approval(...)`` in a pipeline step: no one decided before its timeout; the
    step fails."""

    status_code = 409


class VersionHeld(Conflict):
    """A dataset or model version cannot be deleted: something protected still refers to
    it (a tag or alias, a deployment, a model trained on it). ``holders`` lists them."""

    def __init__(self, message: str, holders: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.holders = list(holders)


class InvalidInput(KeelError):
    """A value, argument, file or request is malformed or out of range."""

    status_code = 422


class ConfigError(InvalidInput):
    """A setting (environment variable, keel.toml entry or argument) is wrong."""


class QueryTooComplex(InvalidInput):
    """A search is larger or more complex than a configured limit or the database allows."""


class SchemaError(InvalidInput):
    """A validation schema (YAML or Python) names an unknown check or wrong parameters."""


class IntegrityError(KeelError):
    """Stored bytes or records do not match what was recorded (corruption, tampering)."""

    status_code = 500


class PermissionDenied(KeelError):
    """The caller is known but not allowed to do this."""

    status_code = 403


class Unauthenticated(KeelError):
    """The caller gave no credentials, or credentials that are not valid."""

    status_code = 401


class PayloadTooLarge(InvalidInput):
    """A request body or an upload is larger than the configured limit."""

    status_code = 413


class StoreError(KeelError):
    """The metadata or object store cannot be used as it is."""

    status_code = 503


class StoreUnavailable(StoreError):
    """The database or filesystem behind a store cannot be reached or read."""


class StoreVersionError(StoreError):
    """The store was created or migrated by a newer version of keel."""


class QueryTimeout(StoreError):
    """A read ran past its deadline and was stopped.

    The deadlines: the server's for each database read (``query_timeout_ms``) and the one of
    each lake query (``lake_query_timeout_ms``).
    """


def did_you_mean(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' if none is close."""
    import difflib

    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
