"""Small requests to a keel server over the standard library's ``http.client``.

httpx spends about 0.5 ms of CPU on each request (URL merging, header models, the
connection pool's bookkeeping, h11's event machine) and sends a request's headers and body
in two writes; ``http.client`` spends a third of that, and here sends both in one. For a client
that makes many small JSON requests (run creation: two a run) that is most of its CPU.

:class:`LeanConnections` keeps one keep-alive connection per thread. It is only a fast
path: :class:`keel._remote.RemoteClient` sends through httpx whatever it does not cover
(streamed bodies and answers, proxies, event hooks).
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
import urllib.request
from urllib.parse import urlencode, urlsplit

import httpx

__all__ = ["LeanConnections", "proxied"]


class LeanConnections:
    """One ``http.client`` keep-alive connection per thread to the server at ``base_url``.

    Args:
        base_url: ``http(s)://host[:port][/prefix]``.
        headers: sent with every request (user agent, authorization).
        timeout: seconds to connect and to wait for each read.
        tls: the TLS context for an ``https`` URL.
    """

    def __init__(
        self, base_url: str, headers: dict[str, str], timeout: float, tls: ssl.SSLContext
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Not an http(s) URL with a host: {base_url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.headers = headers
        self.timeout = timeout
        self.tls = tls
        self._local = threading.local()
        self._all: list[_OneWrite] = []
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        params: dict[str, str] | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        """Send one request and read its whole answer (an httpx.Response without a request).

        Raises:
            OSError, http.client.HTTPException: the connection failed (it is dropped; the
                next request opens a new one). The request is not sent again: a POST the
                server may have received must not be applied twice.
        """
        target = self.prefix + path
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        conn = self._connection()
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for name, value in {**self.headers, **headers}.items():
                conn.putheader(name, value)
            if body is not None or method in _WITH_BODY:
                conn.putheader("Content-Length", str(len(body or b"")))
            conn.send_with_headers(body or b"")
            answer = conn.getresponse()
            content = answer.read()
        except BaseException:
            conn.close()
            raise
        # Without its httpx.Request (a third of the answer's cost): keel's callers read the
        # status, headers and content only; raise_for_status() would need it.
        return httpx.Response(answer.status, headers=answer.getheaders(), content=content)

    def close(self) -> None:
        """Close every thread's connection (a later request opens a new one)."""
        with self._lock:
            connections, self._all = self._all, []
        for conn in connections:
            conn.close()

    def _connection(self) -> _OneWrite:
        conn: _OneWrite | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.https:
                conn = _OneWriteTLS(self.host, self.port, timeout=self.timeout, context=self.tls)
            else:
                conn = _OneWrite(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        elif conn.sock is not None and _closed_by_peer(conn.sock):
            conn.close()  # the server ended the idle connection: reconnect, as httpx would
        return conn


_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose request says Content-Length: 0 when it has no body (as http.client's
``request`` does)."""


class _OneWrite(http.client.HTTPConnection):
    """An HTTPConnection that sends a request's headers and body in one write.

    ``endheaders`` would send the headers at once and the body in a second write: two
    TCP segments, and on the server two reads and possibly two wake-ups a request.
    """

    _held: list[bytes] | None = None

    def send(self, data) -> None:  # type: ignore[no-untyped-def]
        if self._held is not None:
            self._held.append(bytes(data))
        else:
            super().send(data)

    def send_with_headers(self, body: bytes) -> None:
        """End the headers put so far and send them with ``body``, in one write."""
        self._held = []
        try:
            self.endheaders()
            held = self._held
        finally:
            self._held = None
        self.send(b"".join((*held, body)))


class _OneWriteTLS(_OneWrite, http.client.HTTPSConnection):
    pass


def _closed_by_peer(sock) -> bool:
    """Whether an idle keep-alive socket has something to read: the server's close (or
    stray bytes), either way not a connection to send a request on."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def proxied(base_url: str) -> bool:
    """Whether the environment routes requests to ``base_url`` through a proxy (as httpx,
    which honours ``HTTP(S)_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``, would)."""
    parts = urlsplit(base_url)
    proxies = {k.lower(): v for k, v in urllib.request.getproxies_environment().items()}
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(parts.netloc, proxies)
