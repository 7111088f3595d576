"""Where a keel server may listen without authentication: loopback only.

``keel server`` (the platform API) and ``keel serve`` (a model server) both call
:func:`check_listen` before binding, so the rule is written once: a server reachable from
other machines requires a token unless its operator says the network is trusted.
"""

from __future__ import annotations

import ipaddress

from keel.config import Config
from keel.errors import InvalidInput

__all__ = ["bind_socket", "check_listen", "default_auth", "is_loopback"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
"""Names that resolve to loopback by rule (RFC 6761), not by whatever DNS answers."""


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` is reachable from this machine only.

    True for ``localhost``, any 127.0.0.0/8 address, ``::1`` (bracketed or not) and an
    IPv4-mapped loopback such as ``::ffff:127.0.0.1``. Any other name is False: it may
    resolve to a public address, and the empty host or ``0.0.0.0``/``::`` mean every
    interface.
    """
    host = host.strip()
    if host.lower() in _LOOPBACK_NAMES:
        return True
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # Python < 3.13 calls ::ffff:127.0.0.1 not loopback
    return address.is_loopback


def default_auth(config: Config) -> bool:
    """Whether a server requires tokens when its command line does not say.

    An explicit ``server_auth`` setting (environment or keel.toml) wins; unset, the server
    stays open for the local user, and :func:`check_listen` makes any address beyond
    loopback choose.
    """
    if config.sources.get("server_auth", "default") != "default":
        return config.server_auth
    return False


def check_listen(host: str, *, auth: bool, insecure: bool = False) -> None:
    """Refuse to listen on ``host`` without authentication unless it is loopback.

    Args:
        host: the address or name the server binds to.
        auth: whether every request needs a bearer token.
        insecure: the operator trusts the network; listen anywhere without tokens.

    Raises:
        InvalidInput: ``host`` is reachable from other machines, ``auth`` is off and
            ``insecure`` is not given.
    """
    if auth or insecure or is_loopback(host):
        return
    shown = host[:100] or "every interface (empty host)"
    raise InvalidInput(
        f"Refusing to listen on {shown} without authentication: anyone who can reach it "
        "could read and change your runs. Add --auth (and create tokens with 'keel token "
        "create'), or --insecure if this network is trusted."
    )


def bind_socket(host: str, port: int):
    """A TCP socket bound to ``host:port`` (not yet listening), for ``keel serve`` and
    ``keel server`` alike.

    Raises:
        InvalidInput: the address cannot be bound (in use, not ours, unknown host).
    """
    import socket

    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        if sock is not None:
            sock.close()
        raise InvalidInput(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Stop what uses it, or "
            "choose another --port or --host."
        ) from None
    return sock
