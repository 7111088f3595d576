"""The model registry through ``keel server``: the same results from a local client and an
http client (SQLite and PostgreSQL), objects pushed once, roles, the audit trail under the
token's name, verification of pushed packages, and the trust rule applied by the client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from keel.client import Client
from keel.config import Config
from keel.errors import InvalidInput, NotFound, PermissionDenied
from keel.registry._package import PackageManifest
from tests._cli import run_keel
from tests._served import Served, serve_store

PROJECT = "credit"
API = f"/api/v1/projects/{PROJECT}"
COUNTED = ("models", "model_versions", "approvals")
ROLES = ("reader", "writer", "approver", "admin")


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    with serve_store(store_config, tmp_path, ROLES, project=PROJECT) as live:
        yield live


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"income": rng.normal(5, 1, 200), "debt": rng.uniform(0, 1, 200)})
    return X, (X["debt"] + rng.normal(0, 0.2, 200) > 0.5).astype(int)


def _scenario(client: Client, name: str, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """Register two versions, read them back, move and roll back an alias, load by alias,
    approve and reject, read the history: every result, with what differs by design
    (ids, times, the model's name, the actor) taken out."""
    first = LogisticRegression(C=1.0).fit(X, y)
    second = LogisticRegression(C=0.01).fit(X, y)
    models = client.models
    v1 = models.register(first, name, input_example=X.head(), metrics={"auc": 0.8}, description="a")
    v2 = models.register(second, name, input_example=X.head(), metrics={"auc": 0.9})
    out: dict[str, Any] = {"registered": [_version(v1), _version(v2)]}
    out["listed"] = [_listed(m) for m in models.list() if m["name"] == name]
    out["versions"] = [_version(v) for v in models.versions(name)]
    out["get"] = [_version(models.get(r)) for r in (f"{name}:1", name, f"{name}@latest")]
    models.set_alias(v1, "champion", reason="first")
    models.set_alias(f"{name}:2", "champion")
    out["champion"] = _version(models.get(f"{name}@champion"))
    loaded = models.load(f"{name}@champion")
    out["predictions"] = np.asarray(loaded.predict(X)).tolist()
    assert out["predictions"] == second.predict(X).tolist()
    assert loaded.ref == f"{name}:2"
    out["rollback"] = _version(models.rollback(name))
    models.approve(f"{name}:2", "better")
    models.reject(v1, "worse")
    out["approvals"] = [list(models.approvals(r).values()) for r in (v1, f"{name}:2")]
    out["policy"] = models.policy(name).to_dict()
    out["history"] = [(e.action, _details(e.details)) for e in models.history(name)]
    out["actors"] = {e.actor for e in models.history(name)}
    return out


def _version(v: Any) -> dict[str, Any]:
    data = v.to_dict()
    for key in ("id", "created_at", "model", "ref", "package_digest"):
        data.pop(key)
    return data


def _listed(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "versions": entry["versions"],
        "latest": _version_dict(entry["latest"]),
        "aliases": sorted(entry["aliases"]),
        "policy": entry["policy"],
    }


def _version_dict(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("id", "created_at", "model", "ref")} | {
        "package_digest": None
    }


def _details(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if k not in ("event", "undoes")}


def test_the_registry_answers_the_same_through_the_server(served: Served, data) -> None:
    X, y = data
    with served.local() as local, served.remote("admin") as remote:
        assert remote.remote
        here = _scenario(local, "scorer-local", X, y)
        there = _scenario(remote, "scorer-http", X, y)
        assert here.pop("actors") == {local.models.actor.name}
        assert there.pop("actors") == {"admin-token"}
        assert there == here
        assert there["rollback"]["version"] == 1
        # each side sees what the other recorded
        for name in ("scorer-local", "scorer-http"):
            assert [v.to_dict() for v in remote.models.versions(name)] == [
                v.to_dict() for v in local.models.versions(name)
            ]
            assert remote.models.history(name) == local.models.history(name)
        assert remote.models.list() == local.models.list()
        # a version the server recorded loads locally from the same store, and the other way
        assert local.models.load("scorer-http:1").predict(X).tolist() == (
            remote.models.load("scorer-local:1").predict(X).tolist()
        )
        http_v1 = local.models.get("scorer-http:1")
        assert http_v1.signature == local.models.get("scorer-local:1").signature
        assert local.store.objects.exists(http_v1.package_digest)


def test_the_same_model_twice_sends_no_object_the_second_time(served: Served, data) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    puts: list[str] = []
    with served.remote("writer") as remote:
        objects = remote.models.objects
        objects.client.http.event_hooks["request"].append(
            lambda request: (
                puts.append(request.url.path)
                if request.method == "PUT" or request.url.path.endswith("/batch")
                else None
            )
        )
        first = remote.models.register(model, "twice", input_example=X.head())
        # model.skops, skops-types.json, the example and the manifest: small files share
        # a batch request, so fewer than four requests
        assert "/api/v1/objects/batch" in puts
        assert len(puts) < 4
        assert puts[-1] == f"/api/v1/objects/{first.package_digest}"
        puts.clear()
        second = remote.models.register(model, "twice", input_example=X.head())
        assert puts == []
    assert (first.version, second.version) == (1, 2)
    assert first.package_digest == second.package_digest


def test_roles_reader_writer_approver(served: Served, data) -> None:
    X, y = data
    model = LogisticRegression().fit(X, y)
    with served.remote("writer") as writer:
        version = writer.models.register(model, "gated", input_example=X.head())
    body = {"package": version.package_digest}
    refused = httpx.post(
        f"{served.url}{API}/models/gated/versions", json=body, headers=served.headers("reader")
    )
    assert refused.status_code == 403, refused.text
    assert "needs 'writer'" in refused.json()["message"]
    with served.remote("reader") as reader, pytest.raises(PermissionDenied):
        reader.models.register(model, "gated", input_example=X.head())
    with served.remote("writer") as writer:
        with pytest.raises(PermissionDenied, match="needs 'approver'"):
            writer.models.approve("gated:1")
        with pytest.raises(PermissionDenied, match="needs 'approver'"):
            writer.models.reject("gated:1")
        with pytest.raises(PermissionDenied, match="needs 'admin'"):
            writer.models.set_policy("gated", {"aliases": {"champion": {"approvals": 1}}})
    with served.remote("admin") as admin:
        admin.models.set_policy("gated", {"aliases": {"champion": {"approvals": 1}}})
    with served.remote("approver") as approver:
        approver.models.approve("gated:1", "fine")
        assert approver.models.approvals("gated:1") == {"approver-token": "approved"}
    with served.remote("writer") as writer:
        # the policy protects champion: a writer cannot move it even once it is approved
        with pytest.raises(PermissionDenied, match="gated@champion, which its policy protects"):
            writer.models.set_alias("gated:1", "champion")
        assert writer.models.set_alias("gated:1", "staging").aliases == ("staging",)
    with served.remote("approver") as approver:
        assert approver.models.set_alias("gated:1", "champion").aliases == ("champion", "staging")
    with served.remote("reader") as reader:
        assert reader.models.get("gated@champion").version == 1
        with pytest.raises(PermissionDenied, match="needs 'writer'"):
            reader.models.set_alias("gated:1", "canary")
    with served.local() as local:
        events = [(e.actor, e.action) for e in local.models.history("gated")]
    assert events == [
        ("writer-token", "register"),
        ("admin-token", "set_policy"),
        ("approver-token", "approve"),
        ("writer-token", "set_alias"),
        ("approver-token", "set_alias"),
    ]


def test_a_package_the_server_lacks_or_cannot_verify_is_refused(served: Served, data) -> None:
    X, y = data
    with served.remote("writer") as writer:
        good = writer.models.register(LogisticRegression().fit(X, y), "checked", input_example=X)
        manifest = PackageManifest.from_json(writer.objects.read_bytes(good.package_digest))
        objects = writer.objects
        # a manifest naming a file the server does not have
        lacking = PackageManifest(**{**manifest.__dict__, "files": {"model.skops": "ab" * 32}})
        lacking_digest = objects.put(lacking.to_json())
        # a manifest of the right shape whose object is not a manifest at all
        not_manifest = objects.put(b"not json")
        # a run that is not in the project
        unknown_run = {"package": good.package_digest, "run": "f" * 32}
    before = served.counts(*COUNTED)
    url = f"{served.url}{API}/models/checked/versions"
    for body, words in [
        ({"package": "0" * 64}, "is not in the object store"),
        ({"package": lacking_digest}, f"object {'ab' * 32}) of package"),
        ({"package": not_manifest}, "not a valid keel model package"),
        (unknown_run, "f" * 32),
        ({"package": good.package_digest, "flavor": "pyfunc"}, "is 'sklearn'"),
        ({"package": good.package_digest, "signature": {"inputs": []}}, "signature differs"),
        ({"package": "../../etc/passwd"}, "package"),
        ({"package": good.package_digest, "metrics": {"auc": "high"}}, "metrics"),
    ]:
        response = httpx.post(url, json=body, headers=served.headers("writer"))
        assert 400 <= response.status_code < 500, (body, response.status_code, response.text)
        assert words in response.json()["message"], (body, response.json())
    assert served.counts(*COUNTED) == before
    # a file whose stored bytes no longer match its digest fails verification
    with served.local() as local:
        path = local.store.objects.path(manifest.files["model.skops"])
        path.chmod(0o644)
        path.write_bytes(b"PK\x03\x04 not the model")
    response = httpx.post(
        url, json={"package": good.package_digest}, headers=served.headers("writer")
    )
    assert response.status_code == 422, response.text
    assert "'model.skops'" in response.json()["message"]
    assert "is corrupt" in response.json()["message"]
    assert served.counts(*COUNTED) == before
    with served.local() as local:
        assert [v.version for v in local.models.versions("checked")] == [1]


def test_unknown_models_are_404_naming_them(served: Served) -> None:
    with served.remote("reader") as remote, served.local() as local:
        for client in (local, remote):
            with pytest.raises(NotFound, match="'nosuch'"):
                client.models.get("nosuch:1")
            with pytest.raises(NotFound, match="'nosuch'"):
                client.models.versions("nosuch")
            with pytest.raises(NotFound, match="'nosuch'"):
                client.models.history("nosuch")
            with pytest.raises(NotFound, match="'nosuch'"):
                client.models.load("nosuch@champion")
            with pytest.raises(InvalidInput, match="Cannot read the model reference"):
                client.models.get("a:b:c")
    response = httpx.get(f"{served.url}{API}/models/nosuch/versions/1", headers=served.headers())
    assert response.status_code == 404
    assert "'nosuch'" in response.json()["message"]


def _double(frame: Any) -> Any:
    return frame * 2


def test_an_untrusted_type_pushed_through_the_server_needs_trust_to_load(
    served: Served, data
) -> None:
    X, y = data
    model = make_pipeline(FunctionTransformer(_double), LogisticRegression()).fit(X, y)
    with served.remote("writer") as writer:
        version = writer.models.register(model, "custom", input_example=X.head())
    from keel.registry._loaded import clear_cache

    clear_cache()
    with served.remote("reader") as reader:
        with pytest.raises(PermissionDenied, match="_double"):
            reader.models.load("custom:1")
        loaded = reader.models.load(version.ref, trust=True)
        assert loaded.predict(X).tolist() == model.predict(X).tolist()


BAD_REQUESTS = [
    ("GET", "models/%00/versions", None),
    ("GET", "models/" + "a" * 300 + "/versions", None),
    ("GET", "models/x/versions/0", None),
    ("GET", "models/x/versions/99999999999999999999", None),
    ("GET", "models/x/aliases/%F0%9F%92%A5", None),
    ("GET", "models/..%2F..%2Fhealth/history", None),
    ("PUT", "models/x/aliases/latest", {"version": 1}),
    ("PUT", "models/x/aliases/champion", {"version": -1}),
    ("PUT", "models/x/aliases/champion", {"version": "one"}),
    ("POST", "models/x/versions", {"package": None}),
    ("POST", "models/x/versions", {"package": "A" * 64}),
    ("POST", "models/x%00/versions", {"package": "0" * 64}),
    ("POST", "models/x/versions/1/approvals", {"decision": "maybe"}),
    ("PUT", "models/x/policy", {"aliases": {"champion": {"approvals": -1}}}),
    ("PUT", "models/x/policy", {"aliases": {"champion": {"approval": 1}}}),
    ("PUT", "models/x/policy", {"aliases": {"latest": {}}}),
    ("POST", "models/x/aliases/champion/rollback", None),
]


def test_bad_input_is_a_4xx_never_a_5xx(served: Served, data) -> None:
    X, y = data
    with served.remote("writer") as writer:
        writer.models.register(LogisticRegression().fit(X, y), "x", input_example=X.head())
    before = served.counts(*COUNTED)
    for method, path, body in BAD_REQUESTS:
        response = httpx.request(
            method, f"{served.url}{API}/{path}", json=body, headers=served.headers("admin")
        )
        assert 400 <= response.status_code < 500, (method, path, response.status_code)
        assert response.json()["message"]
    assert served.counts(*COUNTED) == before


def test_evaluations_and_the_model_card_come_through_the_server(served: Served, data) -> None:
    X, y = data
    with served.remote("writer") as writer:
        version = writer.models.register(LogisticRegression().fit(X, y), "carded", input_example=X)
    with served.local() as local:
        local.models.record_evaluation(
            local.models.get("carded:1"),
            baseline=None,
            data_ref="holdout:v1",
            metrics={"auc": 0.9},
            gate="auc > 0.8",
            passed=True,
        )
        expected = local.models.evaluations("carded:1")
    with served.remote("reader") as reader:
        assert reader.models.evaluations(version) == json.loads(json.dumps(expected))
        assert reader.models.evaluations("carded:1")[0]["passed"] is True
        page = reader.models.card_html("carded:1")
    assert "carded:1" in page
    assert "<script" not in page.lower()
    response = httpx.get(
        f"{served.url}{API}/models/carded/versions/1/card", headers=served.headers("reader")
    )
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_keel_models_cli_works_against_a_server(served: Served, data, tmp_path: Path) -> None:
    X, y = data
    with served.remote("writer") as writer:
        writer.models.register(LogisticRegression().fit(X, y), "cli-model", input_example=X)
        writer.models.set_alias("cli-model:1", "champion")
    env = {"KEEL_URI": served.url, "KEEL_TOKEN": served.tokens["reader"], "KEEL_PROJECT": PROJECT}
    listed = run_keel("models", "ls", "--json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    with served.local() as local:
        assert json.loads(listed.stdout) == json.loads(json.dumps(local.models.list()))
    table = run_keel("models", "ls", cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    assert "cli-model" in table.stdout
    assert "champion -> cli-model:1" in table.stdout
    shown = run_keel("models", "show", "cli-model@champion", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "cli-model:1" in shown.stdout
    assert "income" in shown.stdout
    refused = run_keel("models", "approve", "cli-model:1", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert "needs 'approver'" in refused.stdout + refused.stderr
