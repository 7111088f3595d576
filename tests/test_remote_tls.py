"""Clients of a keel server share one TLS context, and it verifies certificates."""

from __future__ import annotations

import ssl

from keel._remote import RemoteClient, _tls_context


def _context_of(client: RemoteClient) -> ssl.SSLContext:
    return client.http._transport._pool._ssl_context  # httpx's pool of the client


def test_every_client_shares_one_verifying_context() -> None:
    first = RemoteClient("https://keel.example:8443", token="t")
    second = RemoteClient("http://127.0.0.1:1")
    try:
        shared = _tls_context()
        assert _context_of(first) is shared
        assert _context_of(second) is shared
        assert shared.verify_mode == ssl.CERT_REQUIRED
        assert shared.check_hostname
        assert shared.cert_store_stats()["x509_ca"] > 0  # authorities loaded: not empty
    finally:
        first.close()
        second.close()
