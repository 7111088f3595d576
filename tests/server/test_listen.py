"""keel.server._listen: the one rule for where a server may listen without tokens (loopback
only), shared by ``keel server`` and ``keel serve``."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.config import resolve
from keel.errors import InvalidInput
from keel.server._listen import check_listen, default_auth, is_loopback

LOOPBACK = [
    "127.0.0.1",
    "127.8.9.10",  # all of 127.0.0.0/8
    "::1",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "localhost",
    "LocalHost",
    " localhost ",
]
REACHABLE = [
    "0.0.0.0",
    "::",
    "",  # every interface
    "192.168.1.20",
    "10.0.0.5",
    "fe80::1",
    "2001:db8::1",
    "::ffff:192.168.1.20",
    "example.com",
    "my-laptop",
    "localhost.example.com",  # a name that only starts like localhost
    "127.0.0.1.nip.io",  # a name that resolves wherever its owner likes
]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_hosts_may_listen_without_auth(host: str) -> None:
    assert is_loopback(host)
    check_listen(host, auth=False, insecure=False)  # no error


@pytest.mark.parametrize("host", REACHABLE)
def test_other_hosts_are_refused_without_auth(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(InvalidInput, match="Refusing to listen on .* without authentication") as e:
        check_listen(host, auth=False, insecure=False)
    assert "--auth" in e.value.message
    assert "--insecure" in e.value.message
    check_listen(host, auth=True, insecure=False)  # with tokens: anywhere
    check_listen(host, auth=False, insecure=True)  # the operator trusts the network


def test_the_message_names_the_host() -> None:
    with pytest.raises(InvalidInput, match="Refusing to listen on 0.0.0.0 without"):
        check_listen("0.0.0.0", auth=False)
    with pytest.raises(InvalidInput, match="on every interface"):
        check_listen("", auth=False)
    with pytest.raises(InvalidInput) as long:
        check_listen("h" * 5000, auth=False)
    assert len(long.value.message) < 400  # the bad value is truncated


def test_default_auth_is_the_setting_when_set_else_off(tmp_path: Path) -> None:
    (tmp_path / ".keel").mkdir()
    assert default_auth(resolve(cwd=tmp_path, env={})) is False  # unset: open on loopback
    assert default_auth(resolve(cwd=tmp_path, env={"KEEL_SERVER_AUTH": "true"})) is True
    assert default_auth(resolve(cwd=tmp_path, env={"KEEL_SERVER_AUTH": "false"})) is False
    (tmp_path / "keel.toml").write_text("server_auth = true\n")
    assert default_auth(resolve(cwd=tmp_path, env={})) is True
