"""Security #10, findings 5, 6, 7 and 11: what a client writes is checked once, before
anything is written, the same way on SQLite and PostgreSQL and through both transports.

Each hostile request goes to a real server (with a real run, experiment and token) and
must get a 4xx, leave the store exactly as it was, and leave the server answering; the
same values given to the SDK straight over the store raise keel's own errors.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from keel.config import Config, resolve
from keel.errors import InvalidInput, NotFound
from keel.server import TokenService
from keel.store import Store, init_project
from keel.tracking import RunQuery, SqlTracking
from tests.conftest import PG_URL, live_server

API = "/api/v1/projects"
MB = 1024 * 1024


def _nested(depth: int) -> dict:
    """A JSON object ``depth`` levels deep: {"a": {"a": ... {} }}."""
    node: dict = {}
    for _ in range(depth - 1):
        node = {"a": node}
    return node


# -- one server per backend, shared by the module: refused requests leave it unchanged --


@dataclass
class Site:
    url: str
    store: Store
    config: Config
    run_id: str
    writer: str
    scoped: str  # a writer token limited to project "alpha"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        token: str | None = "writer",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict]:
        """Send ``path`` byte for byte (no client-side normalisation of '.' or '..')."""
        host, port = self.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        sent = dict(headers or {})
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        if token is not None:
            secret = self.writer if token == "writer" else token
            sent["Authorization"] = f"Bearer {secret}"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        return response.status, (json.loads(raw) if raw else {})

    def snapshot(self) -> tuple:
        """Every table's row count, every object, and what a search answers."""
        status, found = self.request("POST", f"{API}/default/runs/search", b"{}")
        assert status == 200, found
        return self.store.counts(), sorted(self.store.objects.digests()), found

    def assert_alive(self) -> None:
        status, body = self.request("GET", "/api/v1/health", token=None)
        assert status == 200, body
        status, body = self.request("GET", f"{API}/default/runs/{self.run_id}")
        assert status == 200, body


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    folder = tmp_path_factory.mktemp("site")
    schema = None
    if request.param == "postgresql":
        admin = request.getfixturevalue("pg_admin")
        schema = f"keel_t_{secrets.token_hex(6)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        uri = f"{PG_URL}?options=-csearch_path%3D{schema}"
    else:
        uri = f"sqlite:///{folder / 'keel.db'}"
    config = resolve(env={}, uri=uri, objects=str(folder / "objects"), fsync=False)
    store = init_project(folder, config)
    store.create_project("alpha")
    tokens = TokenService(store)
    writer = tokens.create("writer", "writer")[1]
    scoped = tokens.create("alpha-writer", "writer", projects=["alpha"])[1]
    tracking = SqlTracking(store)
    run = tracking.create_run("credit", params={"C": "1"}, tags={"team": "risk"})
    tracking.log_batch(run.id, metrics=[("auc", 0.9, 0, 1)])
    tracking.put_artifact(run.id, "model.bin", "file", b"weights")
    try:
        with live_server(config, auth=True) as url:
            yield Site(url, store, config, run.id, writer, scoped)
    finally:
        store.close()
        if schema is not None:
            with request.getfixturevalue("pg_admin").connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def _refused(site: Site, method: str, path: str, body: bytes | None = None, **kw) -> dict:
    """Send a hostile request; assert a 4xx, an unchanged store and a live server."""
    before = site.snapshot()
    status, answer = site.request(method, path, body, **kw)
    assert 400 <= status < 500, (status, answer)
    assert answer.get("message"), answer
    assert site.snapshot() == before
    site.assert_alive()
    return answer


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


# -- finding 5: free-form JSON of bounded depth and size ---------------------------------


def test_code_nested_254_deep_is_refused_and_listings_still_work(site: Site) -> None:
    answer = _refused(
        site, "POST", f"{API}/default/runs", _json({"experiment": "e", "code": _nested(254)})
    )
    assert "nested more than 32 levels" in answer["message"]


def test_code_just_within_the_depth_limit_is_stored_and_read_back(store: Store) -> None:
    tracking = SqlTracking(store)
    run = tracking.create_run("e", code=_nested(32))
    assert tracking.get_run(run.id).code == _nested(32)
    with pytest.raises(InvalidInput, match="nested more than 32 levels"):
        tracking.create_run("e", code=_nested(33))


def test_one_megabyte_environment_is_refused(site: Site) -> None:
    # Over the field limit, under the body limit (a 10 MB body is refused 413 before it is
    # read: tests/security/test_query_limits.py).
    body = _json({"experiment": "e", "environment": {"blob": "x" * MB}})
    answer = _refused(site, "POST", f"{API}/default/runs", body)
    assert "the limit is 262144" in answer["message"]
    assert "max_field_kb" in answer["message"]


def test_huge_error_text_is_refused(site: Site) -> None:
    body = _json({"status": "FAILED", "error": "boom\n" * (2 * MB // 5)})
    answer = _refused(site, "PATCH", f"{API}/default/runs/{site.run_id}", body)
    assert "error text" in answer["message"]


# -- finding 6: reads never write; project names; scoped tokens -------------------------


def test_reading_an_unknown_project_creates_nothing(site: Site) -> None:
    before = site.snapshot()
    for method, path, body in [
        ("GET", f"{API}/nosuch/experiments", None),
        ("POST", f"{API}/nosuch/runs/search", b"{}"),
        ("GET", f"{API}/nosuch/runs/{site.run_id}", None),
        ("GET", f"{API}/nosuch/runs/{site.run_id}/metrics/auc", None),
        ("GET", f"{API}/nosuch/runs/{site.run_id}/artifacts/model.bin", None),
    ]:
        status, answer = site.request(method, path, body)
        assert status == 404, (path, status, answer)
        assert "No project named 'nosuch'" in answer["message"]
    assert site.snapshot() == before
    assert before[0]["projects"] == 2  # default and alpha


def test_fifty_thousand_character_project_name_is_refused(site: Site) -> None:
    name = "p" * 50_000
    answer = _refused(site, "GET", f"{API}/{name}/experiments")
    assert "project name" in answer["message"]
    assert "1 to 100 letters" in answer["message"]
    _refused(site, "POST", f"{API}/{name}/runs", _json({"experiment": "e"}))
    _refused(site, "POST", f"{API}/bad%20name/runs", _json({"experiment": "e"}))


def test_token_scoped_to_one_project_is_refused_on_another(site: Site) -> None:
    body = _json({"experiment": "e"})
    answer = _refused(site, "POST", f"{API}/default/runs", body, token=site.scoped)
    assert "limited to the project alpha" in answer["message"]
    _refused(site, "GET", f"{API}/default/runs/{site.run_id}", token=site.scoped)
    status, run = site.request("POST", f"{API}/alpha/runs", body, token=site.scoped)
    assert status == 201, run
    status, runs = site.request("POST", f"{API}/alpha/runs/search", b"{}", token=site.scoped)
    assert [r["id"] for r in runs] == [run["id"]]
    # a run of project alpha is not reachable through another project's path either
    status, _ = site.request("GET", f"{API}/default/runs/{run['id']}")
    assert status == 404


def test_project_names_in_use_stay_valid(tmp_path: Path) -> None:
    from keel.store import check_project_name

    for name in ("default", "credit-risk", "from-env", "team_a.v2", "A1"):
        assert check_project_name(name) == name
    for bad in ("", "-x", ".hidden", "a/b", "a b", "x" * 101, "caf\u00e9"):
        with pytest.raises(InvalidInput, match="project name"):
            check_project_name(bad)


def test_token_create_with_project_in_the_cli(tmp_path: Path) -> None:
    from tests._cli import run_keel

    assert run_keel("init", cwd=tmp_path).returncode == 0
    made = run_keel(
        "token",
        "create",
        "--role",
        "reader",
        "--project",
        "a",
        "--project",
        "b",
        "--json",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["projects"] == ["a", "b"]
    listed = json.loads(run_keel("token", "ls", "--json", cwd=tmp_path).stdout)
    assert listed[0]["projects"] == ["a", "b"]
    bad = run_keel("token", "create", "--role", "reader", "--project", "../x", cwd=tmp_path)
    assert bad.returncode == 1
    assert "project name" in bad.stderr


# -- finding 7: values every database can hold ------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"metrics": [["m", 1.0, 9223372036854775808, 0]]}', "step of metric 'm'"),
        (b'{"metrics": [["m", 1.0, 0, -9223372036854775809]]}', "timestamp of metric 'm'"),
        (b'{"metrics": [["m", 1.0, -1, 0]]}', "step of metric 'm'"),
        (b'{"tags": {"\\ud800": "v"}}', "lone surrogate"),
        (b'{"params": {"p": "\\udfff"}}', "lone surrogate"),
        (b'{"metrics": [["\\ud800", 1.0, 0, 0]]}', "lone surrogate"),
        (b'{"tags": {"team": "a\\u0000b"}}', "NUL character"),
        (b'{"tags": {"a\\u0000b": "x"}}', "NUL character"),
        (_json({"metrics": [["k" * 300, 1.0, 0, 0]]}), "at most 250 characters"),
        (_json({"tags": {"k" * 300: "v"}}), "at most 250 characters"),
    ],
    ids=[
        "step-2**63",
        "timestamp--2**63-1",
        "negative-step",
        "surrogate-tag-key",
        "surrogate-param-value",
        "surrogate-metric-key",
        "nul-tag-value",
        "nul-tag-key",
        "300-char-metric-key",
        "300-char-tag-key",
    ],
)
def test_values_a_database_cannot_hold_are_refused(site: Site, body: bytes, message: str) -> None:
    answer = _refused(site, "POST", f"{API}/default/runs/{site.run_id}/batch", body)
    assert message in answer["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"experiment": "e\\u0000"}',
        b'{"experiment": "\\ud800"}',
        b'{"experiment": "e", "name": "r\\u0000"}',
        b'{"experiment": "e", "code": {"argv": ["a\\u0000"]}}',
        b'{"experiment": "e", "environment": {"\\ud800": 1}}',
        b'{"experiment": "e", "code": {"n": 99999999999999999999}}',
    ],
    ids=["nul-experiment", "surrogate-experiment", "nul-name", "nul-code", "surrogate-env", "int"],
)
def test_unstorable_text_in_a_new_run_is_refused(site: Site, body: bytes) -> None:
    _refused(site, "POST", f"{API}/default/runs", body)


def test_unstorable_text_in_lookups_is_not_found(site: Site) -> None:
    for path in (f"{API}/default/runs/%00", f"{API}/default/runs/{site.run_id}/artifacts/a%00b"):
        _refused(site, "GET", path)
    for key in ("a%00b", "%ED%A0%80"):  # NUL; a lone surrogate (as UTF-8 bytes, invalid)
        status, points = site.request("GET", f"{API}/default/runs/{site.run_id}/metrics/{key}")
        assert (status, points) == (200, [])  # no such metric, as for any unknown key
    _refused(site, "POST", f"{API}/default/runs/search", b'{"experiments": ["a\\u0000"]}')


# -- finding 11: inputs, artifact names and uploads -------------------------------------


def test_input_with_an_unknown_dataset_id_is_refused(site: Site) -> None:
    body = _json({"kind": "dataset_version", "id": "0" * 32})
    answer = _refused(site, "POST", f"{API}/default/runs/{site.run_id}/inputs", body)
    assert "No dataset_version with id" in answer["message"]
    body = _json({"kind": "anything", "id": "x"})
    _refused(site, "POST", f"{API}/default/runs/{site.run_id}/inputs", body)


@pytest.mark.parametrize(
    "name", [".", "~/.ssh/id_rsa", "../x", "a/../../x", "a/./b", "~", "a\\b", "a\tb"]
)
def test_artifact_names_that_escape_a_folder_are_refused(site: Site, name: str) -> None:
    path = f"{API}/default/runs/{site.run_id}/artifacts/{quote(name, safe='/~')}"
    answer = _refused(site, "PUT", path, b"secret", headers={"Content-Type": "x"})
    assert "relative path" in answer["message"] or "artifact name" in answer["message"]


def _digest_header(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def test_upload_cut_short_by_its_content_length_is_refused(site: Site) -> None:
    data = b"0123456789" * 100
    before = site.snapshot()
    host, port = site.url.removeprefix("http://").split(":")
    path = f"{API}/default/runs/{site.run_id}/artifacts/cut.bin"
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {site.writer}\r\n"
        f"Content-Digest: {_digest_header(data)}\r\nContent-Length: 10\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head + data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"422", answer[:500]
    assert b"do not match the Content-Digest" in rest
    assert site.snapshot() == before
    site.assert_alive()


def test_upload_with_a_wrong_digest_is_refused_and_a_right_one_accepted(site: Site) -> None:
    path = f"{API}/default/runs/{site.run_id}/artifacts/checked.bin"
    wrong = {"Content-Digest": _digest_header(b"other"), "Content-Type": "x"}
    _refused(site, "PUT", path, b"payload", headers=wrong)
    _refused(site, "PUT", path, b"payload", headers={"Content-Digest": "sha-256=:nope:"})
    # the SDK sends the digest of what it uploads, and the server accepts it
    from keel.tracking._http import HttpTracking

    http = HttpTracking(site.url, token=site.writer)
    try:
        record = http.put_artifact(site.run_id, "checked.bin", "file", b"payload")
        assert record.size == 7
        with http.open_artifact(site.run_id, "checked.bin") as fh:
            assert fh.read() == b"payload"
    finally:
        http.close()


# -- the same values through the SDK, straight to the store -----------------------------


def test_sdk_direct_refuses_the_same_values(store: Store) -> None:
    tracking = SqlTracking(store)
    run = tracking.create_run("credit")
    before = store.counts()
    refused: list[tuple[Callable[[], object], str]] = [
        (lambda: tracking.create_run("e", code=_nested(254)), "nested more than 32"),
        (lambda: tracking.create_run("e", environment={"b": "x" * 10 * MB}), "max_field_kb"),
        (lambda: tracking.set_status(run.id, "FAILED", error="x" * 2 * MB), "error text"),
        (lambda: tracking.log_batch(run.id, metrics=[("m", 1.0, 2**63, 0)]), "step"),
        (lambda: tracking.log_batch(run.id, metrics=[("m", 1.0, 0, -(2**63) - 1)]), "timestamp"),
        (lambda: tracking.log_batch(run.id, tags={"\ud800": "v"}), "lone surrogate"),
        (lambda: tracking.log_batch(run.id, tags={"team": "a\x00b"}), "NUL"),
        (lambda: tracking.log_batch(run.id, metrics=[("k" * 300, 1.0, 0, 0)]), "at most 250"),
        (lambda: tracking.log_batch(run.id, metrics=[("\ud800", 1.0, 0, 0)]), "surrogate"),
        (lambda: tracking.log_batch(run.id, metrics=[("m", 10**400, 0, 0)]), "too large"),
        (lambda: tracking.put_artifact(run.id, ".", "file", b"x"), "relative path"),
        (lambda: tracking.put_artifact(run.id, "~/.ssh/id_rsa", "file", b"x"), "relative"),
        (lambda: tracking.put_artifact(run.id, "../x", "file", b"x"), "relative path"),
        (lambda: tracking.log_input(run.id, "nothing", "x"), "lineage input"),
        (lambda: SqlTracking(store, project="p" * 50_000).list_experiments(), "project name"),
        (lambda: SqlTracking(store, project="p" * 50_000).create_run("e"), "project name"),
    ]
    for call, message in refused:
        with pytest.raises(InvalidInput, match=message):
            call()
    with pytest.raises(NotFound, match="No dataset_version"):
        tracking.log_input(run.id, "dataset_version", "0" * 32)
    assert store.counts() == before
    assert store.objects.exists(store.put_object(b"x"))  # the store still works


def test_sdk_run_checks_points_as_they_are_logged(store: Store) -> None:
    from keel.tracking import Tracker

    tracker = Tracker(SqlTracking(store))
    try:
        with tracker.start_run("e", capture=False) as run:
            with pytest.raises(InvalidInput, match="step"):
                run.log_metric("m", 1.0, step=2**63)
            with pytest.raises(InvalidInput, match="timestamp"):
                run.log_metric("m", 1.0, timestamp=-(2**63) - 1)
            with pytest.raises(InvalidInput, match="NUL"):
                run.set_tag("t", "\x00")
    finally:
        tracker.close()


def test_failed_run_keeps_the_end_of_a_huge_traceback(store: Store) -> None:
    from keel.tracking import Tracker

    tracker = Tracker(SqlTracking(store))
    try:
        with pytest.raises(RuntimeError), tracker.start_run("e", capture=False) as run:
            raise RuntimeError("x" * (2 * MB) + " the end")
    finally:
        tracker.close()
    error = SqlTracking(store).get_run(run.id).error
    assert error.endswith("the end\n")
    assert len(error) <= 32_000


def test_sdk_reads_of_an_unknown_project_create_nothing(store: Store) -> None:
    before = store.counts()
    other = SqlTracking(store, project="nosuch")
    from keel.data import DatasetService
    from keel.registry import RegistryService

    datasets, models = DatasetService(store, "nosuch"), RegistryService(store, project="nosuch")
    for read in (
        other.list_experiments,
        lambda: other.search_runs(RunQuery()),
        lambda: other.get_run("0" * 32),
        datasets.list,
        models.list,
        lambda: datasets.resolve("credit:v1"),
        lambda: models.get("credit:1"),
    ):
        with pytest.raises(NotFound, match="No project named 'nosuch'"):
            read()
    assert store.find_project_id("nosuch") is None
    assert store.counts() == before


# -- server auth is a setting of the app, not of the command that starts it -------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _first_answer(cmd: list[str], cwd: Path, port: int) -> tuple[int, bytes]:
    """Start a server process, send it one unauthenticated request, stop it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    log = cwd / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 60
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", f"{API}/default/experiments")
                response = conn.getresponse()
                return response.status, response.read()
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.1)
            finally:
                conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("setting", [None, "true"], ids=["default", "required"])
def test_factory_started_directly_by_uvicorn_requires_tokens(
    tmp_path: Path, setting: str | None
) -> None:
    init_project(tmp_path).close()
    if setting is not None:
        (tmp_path / "keel.toml").write_text(f"server_auth = {setting}\n")
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "keel.server.app:factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    status, body = _first_answer(cmd, tmp_path, port)
    assert status == 401
    assert b"requires a token" in body


@pytest.mark.parametrize(("setting", "expected"), [(None, 200), ("true", 401)])
def test_keel_server_on_loopback_follows_the_setting(
    tmp_path: Path, setting: str | None, expected: int
) -> None:
    init_project(tmp_path).close()
    if setting is not None:
        (tmp_path / "keel.toml").write_text(f"server_auth = {setting}\n")
    port = _free_port()
    cmd = [sys.executable, "-m", "keel", "server", "--host", "127.0.0.1", "--port", str(port)]
    status, _ = _first_answer(cmd, tmp_path, port)
    assert status == expected
