"""``keel serve`` as a user runs it: a real process, one or two workers, SIGTERM to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests._cli import KEEL, run_keel

from .conftest import make_project

ROW = {"income": 61.5, "debt": 0.82}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    make_project(tmp_path).close()
    return {
        "KEEL_URI": f"sqlite:///{tmp_path / 'keel.db'}",
        "KEEL_OBJECTS": str(tmp_path / "objects"),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(
    args: list[str], env: dict[str, str], cwd: Path, *, new_session: bool = False
) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")} | env
    process = subprocess.Popen(
        [*KEEL, "serve", *args, "--port", str(port)],
        cwd=cwd,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"keel serve did not start: {process.communicate()}")
        time.sleep(0.1)


def test_serve_a_model_reference_then_stop_on_sigterm(env: dict[str, str], tmp_path: Path) -> None:
    process, url = _start(["credit@champion"], env, tmp_path)
    try:
        with httpx.Client(base_url=url) as http:
            for _ in range(10):
                answer = http.post("/predict", json=[ROW])
                assert answer.status_code == 200
                assert answer.headers["keel-model-version"] == "credit:1"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "keel serve credit (credit@champion = credit:1)" in out


def test_serve_a_deployment_file_with_two_workers(env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "credit.yaml"
    spec.write_text(
        "name: credit-scoring\nmodel: credit\nroutes:\n  - {version: '@challenger', weight: 100}\n"
    )
    process, url = _start([str(spec), "--workers", "2"], env, tmp_path)
    try:
        infer = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 0]}]}
        with httpx.Client(base_url=url) as http:
            for _ in range(10):
                answer = http.post("/v2/models/credit-scoring/infer", json=infer)
                assert answer.json()["model_version"] == "credit:2"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "with 2 workers" in out


def test_serve_refuses_what_it_cannot_do(env: dict[str, str], tmp_path: Path) -> None:
    open_wide = run_keel("serve", "credit@champion", "--host", "0.0.0.0", cwd=tmp_path, env=env)
    assert open_wide.returncode == 1
    assert "Refusing to listen on 0.0.0.0 without authentication" in open_wide.stderr
    missing = run_keel("serve", "credit@nosuch", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert "has no alias 'nosuch'" in missing.stderr
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("name: x\nmodel: credit\nroutes: [{version: '@champion', weight: 50}]\n")
    broken = run_keel("serve", str(bad_file), cwd=tmp_path, env=env)
    assert broken.returncode == 1
    assert "weights sum to 50" in broken.stderr
    assert "Traceback" not in broken.stderr + missing.stderr + open_wide.stderr


def test_sigterm_to_the_process_group_loses_no_logged_prediction(
    env: dict[str, str], tmp_path: Path
) -> None:
    # Nothing is written before the stop (an hour, a million rows): the SIGTERM path alone
    # must bring every row to the lake, though the writer process gets the signal too.
    quiet = env | {
        "KEEL_PREDICTIONS_FLUSH_SECONDS": "3600",
        "KEEL_PREDICTIONS_FLUSH_ROWS": "1000000",
    }
    process, url = _start(["credit@champion"], quiet, tmp_path, new_session=True)
    sent = []
    try:
        with httpx.Client(base_url=url) as http:
            for i in range(60):
                request_id = f"sigterm-{i:03d}"
                answer = http.post("/predict", json=[ROW], headers={"x-request-id": request_id})
                assert answer.status_code == 200
                sent.append(request_id)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    from keel.client import Client
    from keel.config import resolve

    config = resolve(uri=env["KEEL_URI"], objects=env["KEEL_OBJECTS"])
    with Client(config=config) as client:
        logged = client.predictions.read("predictions", deployment="credit")
    assert sorted(logged.column("request_id").to_pylist()) == sent
