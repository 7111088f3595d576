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


def test_keel_server_on_a_busy_port_is_one_line_before_any_banner(tmp_path: Path) -> None:
    import socket

    from keel.store import init_project
    from tests._cli import run_keel

    init_project(tmp_path).close()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_keel("server", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "keel server on" not in result.stdout  # no banner for a server that never ran
    assert "Traceback" not in result.stderr


def test_keel_server_with_auth_and_no_tokens_says_how_to_make_the_first(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from keel.store import init_project

    init_project(tmp_path).close()
    with socket_port() as port:
        pass
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["COLUMNS"] = "200"
    proc = subprocess.Popen(
        [sys.executable, "-m", "keel", "server", "--port", str(port), "--auth"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while time.monotonic() < deadline and not any("token create" in x for x in lines):
            line = proc.stdout.readline() if proc.stdout else ""
            if not line and proc.poll() is not None:
                break
            lines.append(line)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)  # closes the pipes too
        lines.append(rest or "")
    text = " ".join("".join(lines).split())
    assert "No tokens exist yet" in text
    assert "keel token create --role admin" in text


def socket_port():
    """A port free a moment ago (the server binds it next)."""
    import contextlib
    import socket

    @contextlib.contextmanager
    def free():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        yield port

    return free()
