"""Settings resolve once, in one precedence order, and bad ones say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.config import SETTINGS, current, find_project_root, reset, resolve
from keel.errors import ConfigError, ProjectNotFound


def test_finds_the_nearest_project_upward(tmp_path: Path) -> None:
    (tmp_path / ".keel").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == tmp_path
    cfg = resolve(cwd=deep, env={})
    assert cfg.uri == f"sqlite:///{tmp_path / '.keel' / 'keel.db'}"
    assert cfg.objects == str(tmp_path / ".keel" / "objects")
    assert cfg.project_root == tmp_path


def test_outside_a_project_the_error_says_run_keel_init(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFound, match="No keel project found.*Run 'keel init'"):
        resolve(cwd=tmp_path, env={})


def test_precedence_argument_env_toml_default(tmp_path: Path) -> None:
    (tmp_path / ".keel").mkdir()
    (tmp_path / "keel.toml").write_text('project = "from-toml"\nlog_format = "json"\n')
    assert resolve(cwd=tmp_path, env={}).project == "from-toml"
    env = {"KEEL_PROJECT": "from-env"}
    assert resolve(cwd=tmp_path, env=env).project == "from-env"
    cfg = resolve(cwd=tmp_path, env=env, project="from-arg")
    assert cfg.project == "from-arg"
    assert cfg.sources["project"] == "argument"
    assert cfg.log_format == "json"
    assert cfg.sources["log_format"] == str(tmp_path / "keel.toml")
    assert cfg.fsync is True  # default
    assert cfg.sources["fsync"] == "default"


def test_keel_uri_as_a_folder_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "proj" / ".keel").mkdir(parents=True)
    by_folder = resolve(cwd=tmp_path, env={"KEEL_URI": "proj"})
    assert by_folder.uri == f"sqlite:///{tmp_path / 'proj' / '.keel' / 'keel.db'}"
    assert by_folder.objects == str(tmp_path / "proj" / ".keel" / "objects")
    by_file = resolve(cwd=tmp_path, env={"KEEL_URI": "meta.db", "KEEL_OBJECTS": "objs"})
    assert by_file.uri == f"sqlite:///{tmp_path / 'meta.db'}"
    assert by_file.objects == str(tmp_path / "objs")


def test_postgres_without_objects_asks_for_keel_objects(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Set KEEL_OBJECTS"):
        resolve(cwd=tmp_path, env={"KEEL_URI": "postgresql+psycopg://h/db"})
    cfg = resolve(
        cwd=tmp_path,
        env={"KEEL_URI": "postgresql+psycopg://h/db", "KEEL_OBJECTS": "s3://bucket/keel"},
    )
    assert cfg.objects == "s3://bucket/keel"


def test_remote_uri_needs_no_objects(tmp_path: Path) -> None:
    cfg = resolve(cwd=tmp_path, env={"KEEL_URI": "http://127.0.0.1:8080"})
    assert cfg.is_remote


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"KEEL_FSYNC": "maybe"},
            "Setting fsync from KEEL_FSYNC is invalid: expected true or false",
        ),
        ({"KEEL_LOG_FORMAT": "xml"}, "expected one of text, json, got 'xml'"),
        ({"KEEL_MAX_UPLOAD_MB": "-3"}, "expected a positive integer"),
        ({"KEEL_URI": "   "}, "KEEL_URI is empty"),
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, env: dict, message: str) -> None:
    (tmp_path / ".keel").mkdir()
    with pytest.raises(ConfigError, match=message):
        resolve(cwd=tmp_path, env=env)


def test_unknown_toml_key_suggests_the_right_one(tmp_path: Path) -> None:
    (tmp_path / ".keel").mkdir()
    (tmp_path / "keel.toml").write_text('objets = "/data"\n')
    with pytest.raises(ConfigError, match="Unknown setting 'objets'.*Did you mean 'objects'"):
        resolve(cwd=tmp_path, env={})


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / ".keel").mkdir()
    (tmp_path / "keel.toml").write_text("project = \n")
    with pytest.raises(ConfigError, match="Cannot read .*keel.toml"):
        resolve(cwd=tmp_path, env={})


def test_current_is_cached_until_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".keel").mkdir()
    monkeypatch.setenv("KEEL_PROJECT", "one")
    first = current()
    monkeypatch.setenv("KEEL_PROJECT", "two")
    assert current() is first
    reset()
    assert current().project == "two"


def test_every_setting_has_an_env_var_and_a_doc() -> None:
    for setting in SETTINGS:
        assert setting.env == "KEEL_" + setting.name.upper()
        assert len(setting.doc) > 20
