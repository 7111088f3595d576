"""``init_project`` on a store that is not new gives the same answer on SQLite and
PostgreSQL: it refuses, says what the store holds, and changes nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from keel.config import Config, sqlite_path
from keel.errors import AlreadyExists
from keel.store import Store, init_project
from keel.store._database import create_sqlite_file


def _names(config: Config) -> list[str]:
    with Store.open(config, create=False) as store:
        return [str(p["name"]) for p in store.projects()]


def test_a_second_init_refuses_and_names_the_project(store_config: Config, tmp_path: Path) -> None:
    init_project(tmp_path, store_config).close()
    with pytest.raises(AlreadyExists, match="already holds a keel store with project 'default'"):
        init_project(tmp_path, store_config)
    assert _names(store_config) == ["default"]


def test_init_does_not_add_a_project_to_a_store_in_use(
    store_config: Config, tmp_path: Path
) -> None:
    init_project(tmp_path, store_config).close()
    credit = dataclasses.replace(store_config, project="credit")
    with pytest.raises(
        AlreadyExists, match="with project 'default' but not 'credit'.*keel projects create credit"
    ):
        init_project(tmp_path, credit)
    assert _names(store_config) == ["default"]  # as Store.project_id and keel init refuse


def test_init_finishes_a_store_with_no_project_yet(store_config: Config, tmp_path: Path) -> None:
    db_file = sqlite_path(store_config.uri)
    if db_file is not None:
        create_sqlite_file(db_file)
    Store.open(store_config).close()  # the schema only: an init stopped half-way
    credit = dataclasses.replace(store_config, project="credit")
    with init_project(tmp_path, credit) as store:
        assert store.find_project_id("credit") is not None
    assert _names(store_config) == ["credit"]
