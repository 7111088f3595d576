"""The HTTP transport to a keel server: JSON in and out, errors back as KeelErrors."""

from __future__ import annotations

import functools
import http.client
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from keel import errors
from keel._lean_http import LeanConnections, proxied
from keel.errors import KeelError, StoreUnavailable

__all__ = ["RemoteClient"]

_BY_STATUS: dict[int, type[KeelError]] = {
    401: errors.Unauthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.AlreadyExists,
    413: errors.PayloadTooLarge,
    422: errors.InvalidInput,
}


class RemoteClient:
    """A thread-safe connection pool to one keel server.

    Args:
        base_url: ``http(s)://host:port`` of the server.
        token: bearer token from ``keel token create``, if the server requires one.
        timeout: seconds to wait for a response.
        lean: send requests whose body is bytes or JSON (and whose answer is read whole)
            through :mod:`keel._lean_http`, a third of httpx's CPU a request; httpx
            still carries the rest, and everything while event hooks are set on
            :attr:`http` or a proxy applies.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        lean: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "keel-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, verify=_tls_context()
        )
        self.lean: LeanConnections | None = None
        if lean and not proxied(self.base_url):
            self.lean = LeanConnections(self.base_url, headers, timeout, _tls_context())

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send a request; a 4xx/5xx answer raises the KeelError the server named."""
        headers = dict(headers or {})
        if json is not None:
            content = orjson.dumps(json, option=orjson.OPT_SERIALIZE_NUMPY)
            headers["Content-Type"] = "application/json"
        try:
            if self._lean_fits(content, params):
                assert self.lean is not None
                response = self.lean.request(method, path, content, params, headers)
            else:
                response = self.http.request(
                    method, path, content=content, params=params, headers=headers
                )
        except (httpx.TransportError, OSError, http.client.HTTPException) as exc:
            raise StoreUnavailable(
                f"Cannot reach the keel server at {self.base_url}: {exc}. "
                "Check that 'keel server' is running there and that KEEL_URI is right."
            ) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
    ) -> Iterator[httpx.Response]:
        """A response whose body is read as it arrives (``iter_bytes``); a 4xx/5xx answer
        raises the KeelError the server named, a broken connection StoreUnavailable."""
        headers = dict(headers or {})
        content = None
        if json is not None:
            content = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        try:
            with self.http.stream(method, path, headers=headers, content=content) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from(response)
                yield response
        except httpx.TransportError as exc:
            raise StoreUnavailable(
                f"Lost the keel server at {self.base_url} during {method} {path}: {exc}. "
                "Check that 'keel server' is running there, then try again."
            ) from exc

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return orjson.loads(response.content) if response.content else None

    def _lean_fits(self, content: Any, params: dict[str, Any] | None) -> bool:
        return (
            self.lean is not None
            and (content is None or isinstance(content, bytes))
            and (not params or all(isinstance(v, str) for v in params.values()))
            and not any(self.http.event_hooks.values())
        )

    def close(self) -> None:
        self.http.close()
        if self.lean is not None:
            self.lean.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certifi's authorities, or ``SSL_CERT_FILE`` or
    ``SSL_CERT_DIR`` as they are when the first client is made), built once a process and
    shared by every connection pool to a keel server.

    Loading the certificate authorities costs tens of milliseconds of CPU, and a
    ``keel.Client`` opens several pools (the registry's, the object store's, tracking's),
    each of which built its own context: two of them in a model's cold load.
    """
    return httpx.create_ssl_context()


def _error_from(response: httpx.Response) -> KeelError:
    try:
        body = orjson.loads(response.content)
        name, message = body.get("error"), body.get("message") or str(body)
    except (orjson.JSONDecodeError, AttributeError):
        name, message = None, response.text[:500] or response.reason_phrase
    cls = getattr(errors, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, KeelError)):
        cls = _BY_STATUS.get(
            response.status_code,
            StoreUnavailable if response.status_code >= 500 else errors.InvalidInput,
        )
    return cls(f"{message} (server answered {response.status_code})")
