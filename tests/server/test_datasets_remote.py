"""Datasets through ``keel server``: the same sequence gives the same values from a local
client and from an http client (SQLite and PostgreSQL); the client prepares versions and
the server records only what holds together; roles; unsafe manifests refused at record
and at get; the CLI and lineage through the server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import keel
from keel.client import Client, reset_default_client
from keel.config import Config
from keel.data import DatasetService, Manifest, ManifestEntry
from keel.data._diff import diff_versions
from keel.data._prepare import PreparedVersion
from keel.errors import ConfigError, InvalidInput, NotFound, PermissionDenied
from keel.server import TokenService
from keel.store import init_project
from keel.store.objects import HttpObjectStore, LocalObjectStore
from tests._cli import run_keel
from tests.conftest import live_server

PROJECT = "credit"
API = f"/api/v1/projects/{PROJECT}"
UNSAFE = ["../escape", "/abs", "a\\b", "C:x", "ok/../../escape", "./x", "a//b"]


@dataclass
class Served:
    """A store served with authentication on, and tokens by role."""

    config: Config
    url: str
    tokens: dict[str, str]

    def local(self, project: str = PROJECT) -> Client:
        return Client(config=Config(**{**self.config.__dict__, "project": project}))

    def remote(self, role: str = "writer") -> Client:
        return Client(self.url, project=PROJECT, token=self.tokens[role])

    def objects(self, role: str = "writer") -> HttpObjectStore:
        return HttpObjectStore(self.url, token=self.tokens[role])

    def backing(self) -> LocalObjectStore:
        return LocalObjectStore(self.config.objects, fsync=False)

    def headers(self, role: str = "writer") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def env(self, role: str = "writer") -> dict[str, str]:
        return {"KEEL_URI": self.url, "KEEL_TOKEN": self.tokens[role], "KEEL_PROJECT": PROJECT}

    def versions_recorded(self, name: str) -> int:
        with self.local() as local:
            try:
                return len(local.datasets.versions(name))
            except NotFound:
                return 0


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    config = Config(**{**store_config.__dict__, "project": PROJECT})
    init_project(tmp_path, config).close()
    with Client(config=config) as client:
        service = TokenService(client.store)
        tokens = {role: service.create(f"{role}-t", role)[1] for role in ("reader", "writer")}
    with live_server(config, auth=True) as url:
        yield Served(config, url, tokens)


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.normal(5, 1, n),
            "debt": rng.uniform(0, 1, n),
            "city": rng.choice(["paris", "oslo", "lima"], n),
        }
    )


def _folder(root: Path) -> Path:
    (root / "images" / "cats").mkdir(parents=True)
    (root / "images" / "cats" / "a.bin").write_bytes(os.urandom(0) + b"\x00cat" * 100)
    (root / "images" / "b.txt").write_text("dog\n")
    (root / "labels.csv.gz").write_bytes(b"not really gzip")
    return root / "images"


def _plain(version: Any) -> dict[str, Any]:
    """A version without what differs from store to store (its id and time)."""
    data = version.to_dict() if hasattr(version, "to_dict") else dict(version)
    return {k: v for k, v in data.items() if k not in ("id", "created_at")}


def _scenario(client: Client, folder: Path, out: Path) -> dict[str, Any]:
    """Everything the SDK and CLI do with datasets, as plain values."""
    datasets = client.datasets
    frame, more = _frame(), _frame(120, seed=1)
    v1 = datasets.log(frame, "frame", description="first", tags=["prod"])
    again = datasets.log(frame, "frame")  # same content: the same version back
    v2 = datasets.log(more, "frame", parents=[v1])
    files = datasets.log(folder, "files", description="a folder")
    pd.testing.assert_frame_equal(datasets.load("frame:v1"), frame)
    pd.testing.assert_frame_equal(datasets.load(v2, format="arrow").to_pandas(), more)
    assert len(datasets.load("frame@prod", format="duckdb").fetchall()) == len(frame)
    written = datasets.get("files:v1", out)
    return {
        "logged": [_plain(v) for v in (v1, again, v2, files)],
        "versions": [_plain(v) for v in datasets.versions("frame")],
        "resolved": [
            _plain(datasets.resolve(ref))
            for ref in ("frame:v1", "frame@latest", "frame", "frame@prod", v1.manifest_digest[:20])
        ],
        "list": [{**e, "latest": _plain(e["latest"])} for e in datasets.list()],
        "profile": datasets.profile("frame:v2"),
        "no profile": datasets.profile("files"),
        "manifest": datasets.manifest("files").to_bytes().decode(),
        "written": {p.relative_to(out).as_posix(): p.read_bytes() for p in written},
        "diff": diff_versions(datasets, "frame:v1", "frame:v2").to_dict(),
    }


def test_the_same_sequence_gives_the_same_values_locally_and_through_the_server(
    served: Served, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "data")
    with served.local() as made:
        made.create_project("local-twin")
    with served.local("local-twin") as local, served.remote() as remote:
        assert remote.remote
        assert not local.remote
        here = _scenario(local, folder, tmp_path / "out-local")
        there = _scenario(remote, folder, tmp_path / "out-remote")
    assert there == here
    # and the values are the ones expected, not merely equal
    refs = [v["ref"] for v in there["logged"]]
    assert refs == ["frame:v1", "frame:v1", "frame:v2", "files:v1"]
    assert there["logged"][0]["tags"] == ["prod"]
    assert [v["ref"] for v in there["resolved"]] == ["frame:v1", "frame:v2", "frame:v2"] + [
        "frame:v1"
    ] * 2
    assert [(e["name"], e["versions"]) for e in there["list"]] == [("files", 1), ("frame", 2)]
    assert set(there["profile"]["columns"]) == {"income", "debt", "city"}
    assert there["no profile"] is None
    assert there["written"] == {
        "b.txt": b"dog\n",
        "cats/a.bin": b"\x00cat" * 100,
    }
    assert there["diff"]["rows"] == [300, 120]
    # what the http client logged is on the server, in its project, with its lineage
    with served.local() as behind:
        assert [v.ref for v in behind.datasets.versions("frame")] == ["frame:v1", "frame:v2"]
        edges = {(e.src[0], e.relation, e.dst[0]) for e in behind.lineage("frame:v2").edges}
        assert ("dataset_version", "derived_into", "dataset_version") in edges


def test_logging_the_same_data_again_sends_no_object(served: Served, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "data")
    with served.remote() as remote:
        datasets = remote.datasets
        sent: list[tuple[str, str]] = []
        for http in (datasets.objects.client.http, datasets.remote.http):
            http.event_hooks["request"].append(lambda r: sent.append((r.method, r.url.path)))
        first = datasets.log(_frame(), "frame")
        files = datasets.log(folder, "files")
        puts = [p for m, p in sent if m == "PUT"]
        assert len(puts) >= 4  # parts, manifests, profile and the two files went up once
        stored = set(served.backing().digests())
        sent.clear()
        assert datasets.log(_frame(), "frame") == first
        assert datasets.log(folder, "files", tags=["same"]).id == files.id
        assert [m for m, _ in sent if m == "PUT"] == []
        assert set(served.backing().digests()) == stored
        assert datasets.resolve("files@same").id == files.id
    assert served.versions_recorded("frame") == 1


def _push_manifest(served: Served, entries: list[ManifestEntry], **extra: Any) -> str:
    """A manifest the client crafted, pushed to the server's objects."""
    manifest = Manifest("files", entries)
    with closing(served.objects()) as objects:
        return objects.put(manifest.to_bytes() if not extra else json.dumps(extra).encode())


def _record(served: Served, name: str, body: dict[str, Any], role: str = "writer"):
    return httpx.post(
        f"{served.url}{API}/datasets/{name}/versions", json=body, headers=served.headers(role)
    )


def test_a_reader_cannot_record_a_version(served: Served) -> None:
    with closing(served.objects()) as objects:
        data = objects.put(b"some bytes")
        digest = objects.put(Manifest("files", [ManifestEntry("x.bin", data, 10)]).to_bytes())
    answer = _record(served, "frame", {"manifest_digest": digest}, role="reader")
    assert answer.status_code == 403
    assert "writer" in answer.json()["message"]
    with served.remote("reader") as reader, pytest.raises(PermissionDenied):
        reader.datasets.log(_frame(), "frame")
    assert served.versions_recorded("frame") == 0
    # the writer may: the same request records version 1
    answer = _record(served, "frame", {"manifest_digest": digest})
    assert answer.status_code == 201, answer.text
    assert answer.json()["ref"] == "frame:v1"


def test_an_unknown_dataset_is_a_404_naming_it(served: Served) -> None:
    with served.remote("reader") as reader:
        for call in (
            lambda: reader.datasets.resolve("nosuch:v2"),
            lambda: reader.datasets.versions("nosuch"),
            lambda: reader.datasets.load("nosuch"),
            lambda: reader.datasets.profile("nosuch@prod"),
        ):
            with pytest.raises(NotFound, match="nosuch"):
                call()
    for path in (
        "/datasets/nosuch/versions",
        "/dataset-versions/nosuch",
        "/dataset-versions/nosuch%3Av1/manifest",
    ):
        answer = httpx.get(f"{served.url}{API}{path}", headers=served.headers("reader"))
        assert answer.status_code == 404, path
        assert "nosuch" in answer.json()["message"]


def test_a_record_naming_objects_the_server_lacks_is_refused(served: Served) -> None:
    with closing(served.objects()) as objects:
        real = objects.put(b"real bytes")
    absent = "ab" * 32
    bad_requests = {
        "an object not pushed": {
            "manifest_digest": _push_manifest(
                served, [ManifestEntry("a.bin", real, 10), ManifestEntry("b.bin", absent, 5)]
            )
        },
        "a manifest not pushed": {"manifest_digest": "cd" * 32},
        "a manifest that is not one": {"manifest_digest": _push_manifest(served, [], kind="x")},
        "a profile not pushed": {
            "manifest_digest": _push_manifest(served, [ManifestEntry("a.bin", real, 10)]),
            "profile_digest": "ef" * 32,
        },
        "a size the object does not have": {
            "manifest_digest": _push_manifest(served, [ManifestEntry("a.bin", real, 999)])
        },
        "a row count the manifest does not give": {
            "manifest_digest": _push_manifest(served, [ManifestEntry("a.bin", real, 10)]),
            "row_count": 5,
        },
        "a producer that is no run": {
            "manifest_digest": _push_manifest(served, [ManifestEntry("a.bin", real, 10)]),
            "producer": {"kind": "run", "id": "no-such-run"},
        },
    }
    for what, body in bad_requests.items():
        answer = _record(served, "frame", body)
        assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text)
    absent_answer = _record(served, "frame", bad_requests["an object not pushed"]).json()
    assert "does not store" in absent_answer["message"]
    assert "b.bin" in absent_answer["message"]
    assert served.versions_recorded("frame") == 0


@pytest.mark.parametrize("path", UNSAFE)
def test_unsafe_manifest_paths_are_refused_when_recorded(served: Served, path: str) -> None:
    with closing(served.objects()) as objects:
        data = objects.put(b"escape!")
    digest = _push_manifest(served, [ManifestEntry(path, data, 7)])
    answer = _record(served, "frame", {"manifest_digest": digest})
    assert answer.status_code == 422, answer.text
    assert repr(path)[:10] in answer.json()["message"]
    assert served.versions_recorded("frame") == 0


def test_unsafe_manifest_paths_in_the_store_are_refused_at_get(
    served: Served, tmp_path: Path
) -> None:
    """A manifest crafted straight into the store (not through the server's checks):
    neither a local nor an http get writes anything, inside the target or out of it."""
    with served.local() as local:
        objects = local.store.objects
        data = objects.put(b"escape!")
        for i, path in enumerate(UNSAFE):
            manifest = Manifest(
                "files", [ManifestEntry("fine.txt", data, 7), ManifestEntry(path, data, 7)]
            )
            prepared = PreparedVersion(manifest, objects.put(manifest.to_bytes()))
            DatasetService(local.store, PROJECT).record(f"crafted{i}", prepared)
    root = tmp_path / "fetch" / "deep" / "er"
    for client in (served.local(), served.remote("reader")):
        with client:
            for i in range(len(UNSAFE)):
                target = root / f"to{i}"
                with pytest.raises(InvalidInput, match="outside the folder"):
                    client.datasets.get(f"crafted{i}", target)
                target.mkdir(parents=True)  # an existing folder is left as it was too
                with pytest.raises(InvalidInput, match="outside the folder"):
                    client.datasets.get(f"crafted{i}", target)
                assert list(target.iterdir()) == []
                target.rmdir()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "escape" in p.name]
    assert written == []
    assert not (tmp_path / "fetch").exists() or not any((tmp_path / "fetch").rglob("*.txt"))


def test_keel_data_ls_show_and_get_through_the_server(served: Served, tmp_path: Path) -> None:
    with served.remote() as remote:
        remote.datasets.log(_frame(), "frame", description="first")
        remote.datasets.log(_folder(tmp_path / "data"), "files")
    env = served.env("reader")
    listed = run_keel("data", "ls", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [(e["name"], e["latest"]["ref"]) for e in json.loads(listed.stdout)] == [
        ("files", "files:v1"),
        ("frame", "frame:v1"),
    ]
    table = run_keel("data", "ls", cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    assert "frame:v1" in table.stdout
    assert "files:v1" in table.stdout
    shown = run_keel("data", "show", "frame:v1", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "300 rows" in shown.stdout
    assert "income" in shown.stdout
    got = run_keel("data", "get", "files", "--to", str(tmp_path / "out"), cwd=tmp_path, env=env)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "out" / "cats" / "a.bin").read_bytes() == b"\x00cat" * 100
    assert (tmp_path / "out" / "b.txt").read_text() == "dog\n"
    missing = run_keel("data", "get", "nosuch", "--to", str(tmp_path / "o2"), cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert "nosuch" in missing.stdout + missing.stderr
    assert not (tmp_path / "o2").exists()


def test_a_dataset_logged_in_a_run_through_the_server_records_the_run(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in served.env().items():
        monkeypatch.setenv(key, value)
    reset_default_client()
    try:
        with keel.start_run("prepare") as run:
            version = keel.log_dataset(_frame(), "features")
            loaded = keel.load_dataset("features:v1")
        assert len(loaded) == 300
    finally:
        reset_default_client()
    with served.local() as local:
        graph = local.lineage(version.ref, direction="up")
    assert ("run", "produced", "dataset_version") in {
        (e.src[0], e.relation, e.dst[0]) for e in graph.edges
    }
    assert ("run", run.id) in graph.nodes


def test_what_is_not_remote_yet_says_so(served: Served) -> None:
    with served.remote() as remote:
        remote.datasets.log(_frame(20), "frame")
        for call in (
            lambda: remote.datasets.erase("frame", "income > 0"),
            lambda: remote.datasets.store,
        ):
            with pytest.raises(ConfigError, match="through a keel server yet"):
                call()
        assert remote.datasets.resolve("frame").tags == ()
