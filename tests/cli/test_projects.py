"""Projects are made explicitly; a typo in a project name is an error that suggests the name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keel.client import Client
from keel.config import Config
from keel.errors import AlreadyExists, NotFound, PermissionDenied
from keel.server.tokens import TokenService
from keel.store import init_project
from tests._cli import run_keel
from tests.conftest import live_server


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    init_project(tmp_path).close()
    return tmp_path


def _counts(folder: Path) -> dict[str, int]:
    from keel.store import Store

    with Store.open(Client(f"sqlite:///{folder}/.keel/keel.db").config) as store:
        return store.counts()


@pytest.mark.parametrize("command", [["runs", "ls"], ["data", "ls"], ["models", "ls"]])
def test_a_typo_in_the_project_is_an_error_that_changes_nothing(
    folder: Path, command: list[str]
) -> None:
    before = _counts(folder)
    result = run_keel(*command, cwd=folder, env={"KEEL_PROJECT": "defualt"})
    assert result.returncode != 0
    assert "No project named 'defualt'. Projects: default. Did you mean 'default'?" in (
        " ".join(result.stderr.split())
    )
    assert "Traceback" not in result.stderr
    assert _counts(folder) == before


def test_projects_are_created_explicitly_and_listed(folder: Path) -> None:
    created = run_keel("projects", "create", "credit", "--json", cwd=folder)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "credit"
    listed = run_keel("projects", "ls", "--json", cwd=folder)
    assert [p["name"] for p in json.loads(listed.stdout)] == ["credit", "default"]
    again = run_keel("projects", "create", "credit", cwd=folder)
    assert again.returncode != 0
    assert "exists already" in again.stderr
    shown = run_keel("runs", "ls", "--json", cwd=folder, env={"KEEL_PROJECT": "credit"})
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == []


def test_sdk_writes_to_an_unknown_project_fail_and_default_is_made_on_first_write(
    tmp_path: Path,
) -> None:
    uri = f"sqlite:///{tmp_path}/keel.db"
    from keel.store import Store
    from keel.store._database import create_sqlite_file

    create_sqlite_file(tmp_path / "keel.db")  # a store no project was made in yet
    Store.open(Client(uri, objects=str(tmp_path / "objects")).config).close()
    with Client(uri, objects=str(tmp_path / "objects"), project="typo") as typo:
        with pytest.raises(NotFound, match="No project named 'typo'"):
            typo.runs.create_run("baseline")
        assert typo.projects() == []
    with Client(uri, objects=str(tmp_path / "objects")) as client:
        client.runs.create_run("baseline")
        assert [p["name"] for p in client.projects()] == ["default"]


def test_over_a_server_only_admins_create_projects(store_config: Config, tmp_path: Path) -> None:
    with init_project(tmp_path, store_config) as store:
        tokens = TokenService(store)
        _, admin = tokens.create("ada", "admin")
        _, writer = tokens.create("wes", "writer")
    with live_server(store_config, auth=True) as url:
        with Client(url, token=writer, project="credit") as client:
            with pytest.raises(PermissionDenied):
                client.create_project("credit")
            with pytest.raises(NotFound, match="No project named 'credit'"):
                client.runs.create_run("baseline")
        with Client(url, token=admin, project="credit") as client:
            assert client.create_project("credit")["name"] == "credit"
            with pytest.raises(AlreadyExists):
                client.create_project("credit")
            assert client.runs.create_run("baseline").name
            assert {p["name"] for p in client.projects()} == {"credit", "default"}
