"""RemoteClient's lean path (http.client, one keep-alive connection a thread) against a real
HTTP server on 127.0.0.1: what it sends, connection reuse, a server that drops an idle
connection, errors, and when it steps aside for httpx."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from keel import errors
from keel._lean_http import proxied
from keel._remote import RemoteClient


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.connections += 1  # type: ignore[attr-defined]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/missing"):
            status = 404
            out = json.dumps({"error": "NotFound", "message": "No such run 'x'."}).encode()
        else:
            status = 200
            out = json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "type": self.headers.get("Content-Type"),
                    "length": self.headers.get("Content-Length"),
                    "body": body.decode(),
                }
            ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        if self.server.drop_idle:  # type: ignore[attr-defined]
            self.close_connection = True  # closes without saying so, as an idle timeout does

    do_GET = do_POST = do_PATCH = do_DELETE = _answer


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.lock = threading.Lock()  # type: ignore[attr-defined]
    httpd.connections = 0  # type: ignore[attr-defined]
    httpd.drop_idle = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def test_json_requests_share_one_connection(server: ThreadingHTTPServer) -> None:
    client = RemoteClient(_url(server) + "/prefix/", token="secret", lean=True)
    try:
        assert client.lean is not None
        answers = [
            client.json("POST", "/api/v1/runs", json={"n": i}, params={"include": "code,env"})
            for i in range(3)
        ]
    finally:
        client.close()
    assert [json.loads(a["body"]) for a in answers] == [{"n": 0}, {"n": 1}, {"n": 2}]
    first = answers[0]
    assert first["method"] == "POST"
    assert first["path"] == "/prefix/api/v1/runs?include=code%2Cenv"
    assert first["auth"] == "Bearer secret"
    assert first["type"] == "application/json"
    assert first["length"] == str(len(b'{"n":0}'))
    assert server.connections == 1  # type: ignore[attr-defined]


def test_requests_without_a_body(server: ThreadingHTTPServer) -> None:
    client = RemoteClient(_url(server), lean=True)
    try:
        post = client.json("POST", "/api/v1/runs/r1/restore")
        delete = client.json("DELETE", "/api/v1/runs/r1")
    finally:
        client.close()
    assert (post["method"], post["length"], post["body"]) == ("POST", "0", "")
    assert (delete["method"], delete["length"], delete["body"]) == ("DELETE", None, "")


def test_headers_and_body_leave_in_one_write(
    server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[bytes] = []
    send = http.client.HTTPConnection.send  # what writes to the socket

    def recording(self: http.client.HTTPConnection, data: bytes) -> None:
        writes.append(bytes(data))
        send(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", recording)
    client = RemoteClient(_url(server), lean=True)
    try:
        assert client.json("POST", "/one", json={"a": 1})["body"] == '{"a":1}'
    finally:
        client.close()
    assert len(writes) == 1
    assert writes[0].startswith(b"POST /one HTTP/1.1\r\n")
    assert writes[0].endswith(b'\r\n\r\n{"a":1}')


def test_a_connection_the_server_dropped_is_replaced(server: ThreadingHTTPServer) -> None:
    server.drop_idle = True  # type: ignore[attr-defined]
    client = RemoteClient(_url(server), lean=True)
    try:
        paths = []
        for i in range(3):
            paths.append(client.json("GET", f"/r/{i}")["path"])
            # wait until the server has closed its side, so the next request must notice
            sock = client.lean._local.conn.sock  # type: ignore[union-attr]
            if sock is not None:
                sock.settimeout(5)
                assert sock.recv(1, 2) == b""  # MSG_PEEK: the server's FIN
    finally:
        client.close()
    assert paths == ["/r/0", "/r/1", "/r/2"]
    assert server.connections == 3  # type: ignore[attr-defined]


def test_error_answers_raise_the_named_error(server: ThreadingHTTPServer) -> None:
    client = RemoteClient(_url(server), lean=True)
    try:
        with pytest.raises(errors.NotFound, match=r"No such run 'x'\. \(server answered 404\)"):
            client.json("GET", "/missing")
        assert client.json("GET", "/after")["path"] == "/after"  # the connection still works
    finally:
        client.close()


def test_an_unreachable_server_is_store_unavailable(server: ThreadingHTTPServer) -> None:
    url = _url(server)
    server.shutdown()
    server.server_close()
    client = RemoteClient(url, lean=True, timeout=5)
    try:
        with pytest.raises(errors.StoreUnavailable, match="Cannot reach the keel server"):
            client.json("POST", "/api/v1/runs", json={})
    finally:
        client.close()


def test_a_plain_server_fails_the_tls_handshake(server: ThreadingHTTPServer) -> None:
    client = RemoteClient(f"https://127.0.0.1:{server.server_address[1]}", lean=True, timeout=5)
    try:
        assert client.lean is not None
        with pytest.raises(errors.StoreUnavailable, match="Cannot reach the keel server"):
            client.json("POST", "/api/v1/runs", json={})
    finally:
        client.close()


def test_event_hooks_send_through_httpx(server: ThreadingHTTPServer) -> None:
    client = RemoteClient(_url(server), lean=True)
    seen: list[str] = []
    client.http.event_hooks["request"].append(lambda request: seen.append(request.url.path))
    try:
        assert client.json("POST", "/hooked", json={"a": 1})["body"] == '{"a":1}'
    finally:
        client.close()
    assert seen == ["/hooked"]


def test_a_proxy_in_the_environment_turns_the_lean_path_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert not proxied("http://127.0.0.1:8080")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert proxied("http://keel.example:8080")
    assert not proxied("https://keel.example:8443")  # only http is proxied
    client = RemoteClient("http://keel.example:8080", lean=True)
    assert client.lean is None
    client.close()
    monkeypatch.setenv("NO_PROXY", "keel.example")
    assert not proxied("http://keel.example:8080")
