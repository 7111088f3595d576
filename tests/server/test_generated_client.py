"""A client generated from /openapi.json by openapi-python-client works against a real
keel server with a token: it creates and lists runs, uploads an artifact, lists models and
reads a dataset version, and reads keel's refusals as typed error bodies.

The generator runs from its own environment (``make setup`` puts it in ``.venv/tools``):
its pins (httpx < 0.29, typer < 0.28) would otherwise hold back keel's own dependencies.
The generated package needs only httpx and attrs, which keel's environment has.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.client import Client
from keel.config import Config, resolve
from keel.server import TokenService
from keel.store import init_project
from tests.conftest import live_server

PACKAGE = "keel_generated_api"
PROJECT = "default"
GENERATOR_CONFIG = """\
package_name_override: keel_generated_api
post_hooks: []
content_type_overrides:
  application/vnd.apache.parquet: application/octet-stream
"""


def generator() -> str:
    """The openapi-python-client command: on PATH, or in the tools environment that
    ``make setup`` makes beside keel's."""
    found = shutil.which("openapi-python-client")
    if found:
        return found
    beside = Path(sys.prefix) / "tools" / "bin" / "openapi-python-client"
    if beside.exists():
        return str(beside)
    pytest.fail(
        "openapi-python-client is not installed: run 'make setup' (it installs it into "
        f"{Path(sys.prefix) / 'tools'}), or put the command on PATH.",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A server on SQLite with a dataset version and a registered model, and a token
    for each role."""
    folder = tmp_path_factory.mktemp("generated")
    config = resolve(
        uri=f"sqlite:///{folder / 'keel.db'}", objects=str(folder / "objects"), fsync=False
    )
    init_project(folder, config).close()
    _fill(config)
    with Client(config=config) as client:
        service = TokenService(client.store)
        tokens = {role: service.create(f"{role}-token", role)[1] for role in ("reader", "writer")}
    with live_server(config, auth=True) as url:
        yield url, tokens


def _fill(config: Config) -> None:
    frame = pd.DataFrame({"income": np.linspace(1, 9, 50), "debt": np.linspace(0, 1, 50)})
    label = (frame["debt"] > 0.5).astype(int)
    with Client(config=config) as client:
        client.datasets.log(frame.assign(label=label), "credit", description="loans")
        model = LogisticRegression().fit(frame, label)
        client.models.register(model, "credit-model", input_example=frame.head())


@pytest.fixture(scope="module")
def api(served: tuple[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory):
    """The generated package, imported (generated from the live server's document)."""
    url, _ = served
    folder = tmp_path_factory.mktemp("client")
    document = folder / "openapi.json"
    document.write_text(json.dumps(httpx.get(f"{url}/openapi.json", timeout=60).json()))
    config = folder / "generator.yaml"
    config.write_text(GENERATOR_CONFIG)
    out = folder / PACKAGE
    command = [generator(), "generate", "--path", str(document), "--output-path", str(out)]
    command += ["--meta", "none", "--config", str(config)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # every route made it into the client: the generator warns about what it leaves out
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(api: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{api.__name__}.{name}")


def test_a_generated_client_creates_logs_and_lists_runs(api, served) -> None:
    url, tokens = served
    tracking = _module(api, "api.tracking")
    models = _module(api, "models")
    create = _module(api, "api.tracking.tracking_create_run")
    batch = _module(api, "api.tracking.tracking_log_batch")
    status = _module(api, "api.tracking.tracking_set_status")
    search = _module(api, "api.tracking.tracking_search_runs")
    get = _module(api, "api.tracking.tracking_get_run")
    experiments = _module(api, "api.tracking.tracking_list_experiments")
    put_artifact = _module(api, "api.tracking.tracking_put_artifact")
    get_artifact = _module(api, "api.tracking.tracking_get_artifact")
    assert tracking is not None
    File = _module(api, "types").File

    with api.AuthenticatedClient(base_url=url, token=tokens["writer"]) as client:
        body = models.RunCreate.from_dict(
            {"experiment": "generated", "name": "first", "params": {"lr": "0.1"}}
        )
        run = create.sync(PROJECT, client=client, body=body)
        assert isinstance(run, models.Run)
        assert (run.name, run.status, run.experiment) == ("first", "RUNNING", "generated")
        assert run.params.to_dict() == {"lr": "0.1"}
        assert run.tags.to_dict()["keel.logged_by"] == "writer-token"

        points = models.RunBatch.from_dict({"metrics": [["auc", 0.75, 0, 1], ["auc", 0.8, 1, 2]]})
        assert batch.sync_detailed(PROJECT, run.id, client=client, body=points).status_code == 204
        uploaded = put_artifact.sync(
            PROJECT, run.id, "notes/readme.txt", client=client, body=File(payload=b"hello")
        )
        assert isinstance(uploaded, models.Artifact)
        assert (uploaded.name, uploaded.size, uploaded.kind) == ("notes/readme.txt", 5, "file")
        ended = status.sync(
            PROJECT,
            run.id,
            client=client,
            body=models.RunStatusUpdate.from_dict({"status": "FINISHED"}),
        )
        assert ended.status == "FINISHED"
        assert ended.ended_at is not None

        read = get.sync(PROJECT, run.id, client=client)
        assert read.metrics.to_dict() == {"auc": 0.8}
        assert [a.name for a in read.artifacts] == ["notes/readme.txt"]
        download = get_artifact.sync_detailed(PROJECT, run.id, "notes/readme.txt", client=client)
        assert download.status_code == 200
        assert download.content == b"hello"

        found = search.sync(
            PROJECT,
            client=client,
            body=models.RunSearch.from_dict(
                {"experiments": ["generated"], "filter": "metrics.auc > 0.7"}
            ),
        )
        assert [r.id for r in found] == [run.id]
        listed = experiments.sync(PROJECT, client=client)
        assert [(e.name, e.run_count) for e in listed] == [("generated", 1)]


def test_a_generated_client_reads_models_and_datasets(api, served) -> None:
    url, tokens = served
    list_models = _module(api, "api.models.models_list_models")
    get_version = _module(api, "api.models.models_get_version")
    resolve_version = _module(api, "api.datasets.datasets_resolve_version")
    manifest = _module(api, "api.datasets.datasets_get_manifest")
    list_datasets = _module(api, "api.datasets.datasets_list_datasets")

    with api.AuthenticatedClient(base_url=url, token=tokens["reader"]) as client:
        listed = list_models.sync(PROJECT, client=client)
        assert [(m.name, m.versions) for m in listed] == [("credit-model", 1)]
        assert listed[0].latest.ref == "credit-model:1"
        version = get_version.sync(PROJECT, "credit-model", 1, client=client)
        assert (version.model, version.version, version.flavor) == ("credit-model", 1, "sklearn")
        assert len(version.package_digest) == 64

        dataset = resolve_version.sync(PROJECT, "credit:v1", client=client)
        assert (dataset.ref, dataset.kind, dataset.row_count) == ("credit:v1", "table", 50)
        assert dataset.description == "loans"
        assert [c["name"] for c in dataset.schema] == ["income", "debt", "label"]
        files = manifest.sync(PROJECT, "credit:v1", client=client)
        assert files.row_count == 50
        assert sum(e.rows for e in files.entries) == 50
        assert [d.name for d in list_datasets.sync(PROJECT, client=client)] == ["credit"]


def test_a_generated_client_reads_the_pipeline_and_deletion_routes(api, served) -> None:
    url, tokens = served
    models = _module(api, "models")
    whoami = _module(api, "api.activity.activity_whoami")
    activity = _module(api, "api.activity.activity_activity")
    pipelines = _module(api, "api.pipelines.pipelines_list_pipelines")
    approvals = _module(api, "api.approvals.approvals_list_approvals")
    create = _module(api, "api.tracking.tracking_create_run")
    delete = _module(api, "api.deletion.deletion_delete_run")
    restore = _module(api, "api.deletion.deletion_restore_run")

    with api.AuthenticatedClient(base_url=url, token=tokens["writer"]) as client:
        me = whoami.sync(client=client)
        assert isinstance(me, models.Caller)
        assert (me.name, me.role, me.auth) == ("writer-token", "writer", True)
        assert pipelines.sync(PROJECT, client=client) == []
        assert approvals.sync(PROJECT, client=client) == []
        body = models.RunCreate.from_dict({"experiment": "doomed"})
        run = create.sync(PROJECT, client=client, body=body)
        deleted = delete.sync(PROJECT, run.id, client=client)
        assert isinstance(deleted, models.RunDeletion)
        assert (deleted.id, deleted.experiment) == (run.id, "doomed")
        assert isinstance(deleted.deleted_at, int)
        again = delete.sync(PROJECT, run.id, client=client)
        assert isinstance(again, models.ErrorBody)
        assert "already deleted" in again.message
        assert restore.sync(PROJECT, run.id, client=client).deleted_at is None
        events = activity.sync(PROJECT, client=client)
        assert all(isinstance(e, models.ActivityEvent) for e in events)
        assert [e.action for e in events[:2]] == ["restore", "delete"]


def test_a_generated_client_reads_refusals_as_error_bodies(api, served) -> None:
    url, tokens = served
    models = _module(api, "models")
    create = _module(api, "api.tracking.tracking_create_run")
    get = _module(api, "api.tracking.tracking_get_run")
    body = models.RunCreate.from_dict({"experiment": "refused"})

    with api.AuthenticatedClient(base_url=url, token=tokens["reader"]) as reader:
        refused = create.sync(PROJECT, client=reader, body=body)
        assert isinstance(refused, models.ErrorBody)
        assert (refused.error, refused.status) == ("PermissionDenied", 403)
        assert "needs 'writer'" in refused.message
        missing = get.sync(PROJECT, "0" * 32, client=reader)
        assert isinstance(missing, models.ErrorBody)
        assert (missing.error, missing.status) == ("NotFound", 404)
        unknown = get.sync("nosuch", "0" * 32, client=reader)
        assert isinstance(unknown, models.ErrorBody)
        assert "No project named 'nosuch'" in unknown.message
    with api.AuthenticatedClient(base_url=url, token="not-a-token") as stranger:
        denied = create.sync(PROJECT, client=stranger, body=body)
        assert isinstance(denied, models.ErrorBody)
        assert denied.status == 401
