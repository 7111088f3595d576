"""keel server logs each request (method, path, status, duration, token owner, request id)
and each recorded change, as JSON lines when asked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests._cli import run_keel
from tests.server.test_listen import socket_port


def _serve(tmp_path: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "keel", "server", "--port", str(port), "--auth"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("keel server did not answer within 60 s")


def test_each_request_and_change_is_one_json_line(tmp_path: Path) -> None:
    assert run_keel("init", cwd=tmp_path).returncode == 0
    made = run_keel("token", "create", "--role", "admin", "--name", "ops", "--json", cwd=tmp_path)
    token = json.loads(made.stdout)["token"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env.update(KEEL_LOG_LEVEL="INFO", KEEL_LOG_FORMAT="json")
    with socket_port() as port:
        pass
    url = f"http://127.0.0.1:{port}"
    proc = _serve(tmp_path, port, env)
    try:
        _wait_up(url)
        auth = {"Authorization": f"Bearer {token}"}
        listed = httpx.get(
            f"{url}/api/v1/projects", headers={**auth, "X-Request-ID": "ticket-42"}, timeout=10
        )
        made_project = httpx.post(
            f"{url}/api/v1/projects", headers=auth, json={"name": "credit"}, timeout=10
        )
        refused = httpx.get(
            f"{url}/api/v1/projects",
            headers={"Authorization": "Bearer nope", "X-Request-ID": "bad id with spaces"},
            timeout=10,
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert listed.status_code == 200
    assert listed.headers["x-request-id"] == "ticket-42"  # the caller's id, echoed
    assert made_project.status_code in (200, 201)
    assert refused.status_code == 401
    generated = refused.headers["x-request-id"]  # a new id, not the malformed one
    assert generated != "bad id with spaces"
    assert len(generated) == 16

    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    requests = [e for e in lines if e["logger"] == "keel.server.requests"]
    first = next(e for e in requests if e["request_id"] == "ticket-42")
    assert first["method"] == "GET"
    assert first["path"] == "/api/v1/projects"
    assert first["status"] == 200
    assert first["actor"] == "ops"
    assert first["duration_ms"] >= 0
    assert first["level"] == "info"
    denied = next(e for e in requests if e["request_id"] == generated)
    assert denied["status"] == 401
    assert denied["actor"] is None
    audit = [e for e in lines if e["logger"] == "keel.audit"]
    created = next(e for e in audit if e["action"] == "project.create")
    assert created["actor"] == "ops"
    assert created["object_kind"] == "project"
