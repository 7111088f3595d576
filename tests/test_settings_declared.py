"""Every setting is declared in keel/config.py and read through it: keel.config.setting for
one setting without a store, and no other module reading os.environ."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import keel
from keel.config import SETTINGS, setting
from keel.errors import ConfigError
from keel.store import Store
from keel.tracking import SqlTracking, Tracker
from keel.tracking._tracker import REPRODUCES_ENV
from tests._cli import run_keel

SRC = Path(keel.__file__).parent


def test_one_setting_environment_then_toml_then_default(tmp_path: Path) -> None:
    assert setting("log_level", cwd=tmp_path, env={}) == "WARNING"
    (tmp_path / "keel.toml").write_text('log_level = "info"\nproject = "credit"\n')
    assert setting("log_level", cwd=tmp_path, env={}) == "INFO"  # parsed: upper case
    assert setting("log_level", cwd=tmp_path, env={"KEEL_LOG_LEVEL": "error"}) == "ERROR"
    assert setting("log_level", cwd=tmp_path, env={}, toml=False) == "WARNING"
    assert setting("project", cwd=tmp_path / "sub" / "dir", env={}) == "credit"  # upward
    assert setting("max_lake_rows", cwd=tmp_path, env={"KEEL_MAX_LAKE_ROWS": "7"}) == 7


def test_one_setting_needs_no_store(tmp_path: Path) -> None:
    # no .keel/ and no KEEL_URI: resolve() would raise ProjectNotFound
    assert setting("uri", cwd=tmp_path, env={}) is None
    assert setting("uri", cwd=tmp_path, env={"KEEL_URI": "sqlite:///x.db"}) == "sqlite:///x.db"


def test_one_setting_says_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown setting 'log_levle'.*Did you mean 'log_level'"):
        setting("log_levle", cwd=tmp_path, env={})
    with pytest.raises(ConfigError, match="Setting log_level from KEEL_LOG_LEVEL is invalid"):
        setting("log_level", cwd=tmp_path, env={"KEEL_LOG_LEVEL": "loud"})
    (tmp_path / "keel.toml").write_text("log_level = \n")
    with pytest.raises(ConfigError, match="Cannot read .*keel.toml"):
        setting("log_level", cwd=tmp_path, env={})


def test_reproduces_is_a_declared_setting_the_tracker_reads(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {s.name: s.env for s in SETTINGS}["reproduces"] == REPRODUCES_ENV
    tracker = Tracker(SqlTracking(store), heartbeat=None)
    with tracker.start_run("credit", capture=False) as plain:
        pass
    monkeypatch.setenv(REPRODUCES_ENV, "0123456789abcdef0123456789abcdef")
    with tracker.start_run("credit", capture=False) as rerun:
        pass
    tracker.close()
    backend = SqlTracking(store)
    assert "keel.reproduces" not in backend.get_run(plain.id).tags
    assert backend.get_run(rerun.id).tags["keel.reproduces"] == "0123456789abcdef" * 2


def _environ_reads(tree: ast.AST) -> list[int]:
    """Lines that read os.environ or call os.getenv; writing a variable and copying the
    whole environment into a child's (``{**os.environ, ...}``) are not reads of a setting."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        if node.value.id != "os" or node.attr not in ("environ", "getenv", "environb"):
            continue
        parent = parents.get(node)
        if node.attr == "environ":
            if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store):
                continue
            if isinstance(parent, ast.Dict):
                spread = [v for k, v in zip(parent.keys, parent.values, strict=True) if k is None]
                if any(value is node for value in spread):
                    continue
        lines.append(node.lineno)
    return sorted(lines)


FOREIGN_VARIABLES = {
    # rich's own variables, read as rich reads them, to print exactly what rich would
    "cli/_plain.py": "FORCE_COLOR, TTY_COMPATIBLE, COLUMNS",
}
"""Modules that read another library's environment variables, not keel settings."""

QUICK_READERS = {
    # the settings a clean 'keel data status/add' needs, read without keel.config (start-up
    # time); tests/test_quick_settings.py checks its answers and names against keel.config's
    "_quick_settings.py": "KEEL_URI, KEEL_OBJECTS, KEEL_PROJECT, KEEL_FSYNC, KEEL_OBJECTS_LINK",
}
"""Modules that read keel settings as keel.config does, for a reason given here."""


def test_no_module_but_config_reads_the_environment() -> None:
    offenders = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if path != SRC / "config.py"
        and str(path.relative_to(SRC)) not in FOREIGN_VARIABLES
        and str(path.relative_to(SRC)) not in QUICK_READERS
        and (lines := _environ_reads(ast.parse(path.read_text(), str(path))))
    }
    assert offenders == {}, (
        "Declare these settings in keel/config.py and read them with keel.config.current() "
        f"or keel.config.setting(): {offenders}"
    )


def test_the_scan_finds_reads() -> None:
    code = (
        "import os\n"
        "a = os.environ.get('X')\n"
        "b = os.environ['Y']\n"
        "c = os.getenv('Z')\n"
        "os.environ['W'] = '1'\n"
        "env = {**os.environ, 'V': '2'}\n"
    )
    assert _environ_reads(ast.parse(code)) == [2, 3, 4]


def test_cli_logging_follows_keel_toml(tmp_path: Path) -> None:
    (tmp_path / "keel.toml").write_text('log_format = "json"\nlog_level = "info"\n')
    result = run_keel("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(entry["message"].startswith("migrating store") for entry in lines), result.stderr


def test_a_bad_log_setting_is_named_by_the_command_not_a_traceback(tmp_path: Path) -> None:
    result = run_keel("init", cwd=tmp_path, env={"KEEL_LOG_LEVEL": "loud"})
    assert result.returncode == 1
    assert "Setting log_level from KEEL_LOG_LEVEL is invalid" in result.stderr
    assert "Traceback" not in result.stderr
