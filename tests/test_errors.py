"""The error tree maps to HTTP statuses and suggests close names."""

from __future__ import annotations

import pytest

from keel import errors


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.NotFound, 404),
        (errors.ObjectNotFound, 404),
        (errors.AlreadyExists, 409),
        (errors.Conflict, 409),
        (errors.InvalidInput, 422),
        (errors.ConfigError, 422),
        (errors.PayloadTooLarge, 413),
        (errors.PermissionDenied, 403),
        (errors.Unauthenticated, 401),
        (errors.StoreVersionError, 503),
    ],
)
def test_status_codes(cls: type[errors.KeelError], status: int) -> None:
    assert cls.status_code == status
    assert issubclass(cls, errors.KeelError)


def test_did_you_mean() -> None:
    assert errors.did_you_mean("sqllite", ["sqlite", "http"]) == " Did you mean 'sqlite'?"
    assert errors.did_you_mean("zzz", ["sqlite", "http"]) == ""
