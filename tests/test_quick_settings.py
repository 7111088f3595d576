"""keel._quick_settings gives the answers keel.config.resolve gives, or declines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from keel import _quick_settings
from keel._quick_settings import quick_settings
from keel.config import SETTINGS, resolve
from keel.errors import KeelError
from keel.store import init_project


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("quick-settings")
    folder = base / "proj"
    (folder / "sub" / "deeper").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    init_project(folder).close()
    (base / "elsewhere").mkdir()
    return folder


@pytest.fixture
def project(shared_project: Path):
    """The shared project, its keel.toml removed after each test."""
    yield shared_project
    (shared_project / "keel.toml").unlink(missing_ok=True)


ENVS = [
    {},
    {"KEEL_PROJECT": "credit"},
    {"KEEL_PROJECT": ""},  # empty: unset
    {"KEEL_OBJECTS": "../elsewhere"},
    {"KEEL_OBJECTS": "/tmp/abs-objects"},
    {"KEEL_OBJECTS": "s3://bucket/prefix"},
    {"KEEL_URI": "sqlite:////tmp/other/keel.db"},
    {"KEEL_URI": "sqlite:////tmp/other/keel.db", "KEEL_OBJECTS": "objs"},
    {"KEEL_URI": "."},  # a folder: its .keel/keel.db
    {"KEEL_URI": "../elsewhere"},
    {"KEEL_URI": "db.sqlite"},  # a file path
    {"KEEL_URI": "   "},  # malformed: resolve raises
    {"KEEL_URI": "http://127.0.0.1:5000"},  # a server: Workspace refuses it
    {"KEEL_URI": "postgresql+psycopg://u@h/db"},
    {"KEEL_URI": "sqlite:///./rel.db"},  # pathlib normalises: declined
    {"KEEL_FSYNC": "0", "KEEL_OBJECTS_LINK": "Hardlink"},  # checked, then unused
    {"KEEL_FSYNC": "maybe"},  # malformed: resolve raises
    {"KEEL_OBJECTS_LINK": "symlink"},
    {"KEEL_MAX_UPLOAD_MB": "5"},  # any other setting: declined
    {"KEEL_LOG_LEVEL": "loud"},
]
TOMLS = [
    None,
    'project = "from-toml"\n',
    '[keel]\nuri = "."\nobjects = "o"\n',
    'objects = "../elsewhere"\n',
    "project = 3\n",  # not a string: declined
    "fsync = false\n",  # another setting: declined
    "not toml = \n",
]
ANSWERED = [(0, 0), (1, 0), (3, 0), (6, 0), (8, 0), (10, 0), (15, 0), (0, 1), (0, 2), (1, 3)]


@pytest.mark.parametrize("toml", range(len(TOMLS)))
@pytest.mark.parametrize("env", range(len(ENVS)))
@pytest.mark.parametrize("where", ["", "sub/deeper"])
def test_quick_settings_agree_with_resolve_or_decline(
    project: Path, env: int, toml: int, where: str
) -> None:
    if TOMLS[toml] is not None:
        (project / "keel.toml").write_text(TOMLS[toml])
    cwd = project / where
    quick = quick_settings(str(cwd), ENVS[env])
    try:
        full = resolve(cwd=cwd, env=ENVS[env], require_store=False)
    except KeelError:
        assert quick is None
        return
    if (env, toml) in ANSWERED:
        assert quick is not None, (ENVS[env], TOMLS[toml])
    if quick is None:
        return
    assert not full.is_remote
    assert (quick.uri, quick.objects, quick.project) == (full.uri, full.objects, full.project)
    assert quick.project_root == str(full.project_root)


def test_outside_a_project_quick_settings_decline(tmp_path: Path) -> None:
    assert quick_settings(str(tmp_path), {}) is None


def test_quick_settings_use_keel_config_s_names_and_choices() -> None:
    declared = {s.name: s for s in SETTINGS}
    assert {name: declared[name].env for name in _quick_settings._ENV} == _quick_settings._ENV
    for variable, accepted in _quick_settings._CHECKED.items():
        (one,) = [s for s in SETTINGS if s.env == variable]
        for value in accepted:
            one.parse(value)  # accepted here: valid there
        with pytest.raises(ValueError, match="expected"):
            one.parse("not-a-" + variable.lower())
