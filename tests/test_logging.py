"""keel logs under the 'keel' logger and never configures the root logger on import."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from keel._logging import JsonFormatter, configure_logging


def test_importing_keel_adds_no_handlers_and_writes_nothing(tmp_path) -> None:
    code = (
        "import logging, os; before = os.listdir('.'); import keel, keel.store, keel.config;"
        "assert logging.getLogger().handlers == [], logging.getLogger().handlers;"
        "assert logging.getLogger('keel').handlers == [];"
        "assert os.listdir('.') == before; print('clean')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "clean"
    assert list(tmp_path.iterdir()) == []


def test_json_lines_carry_message_level_and_extras() -> None:
    record = logging.LogRecord("keel.store", logging.INFO, __file__, 1, "migrated %s", ("x",), None)
    record.run_id = "abc"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "migrated x"
    assert entry["level"] == "info"
    assert entry["logger"] == "keel.store"
    assert entry["run_id"] == "abc"
    assert entry["time"].endswith("+00:00")


def test_configure_logging_touches_only_the_keel_logger() -> None:
    root_handlers = list(logging.getLogger().handlers)
    logger = configure_logging("INFO", "json")
    configure_logging("INFO", "json")  # idempotent: still one handler of ours
    ours = [h for h in logger.handlers if h.get_name() == "keel-cli"]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
    assert logging.getLogger().handlers == root_handlers
    logger.removeHandler(ours[0])


def test_cli_logs_json_lines_when_asked(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "keel", "init"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"KEEL_LOG_FORMAT": "json", "KEEL_LOG_LEVEL": "info", "PATH": ""},
        check=True,
    )
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert any(entry["message"].startswith("migrating store") for entry in lines), out.stderr
