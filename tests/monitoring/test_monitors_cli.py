"""``keel monitor`` as a user runs it: apply, ls, run (exit 3 when not passed), backfill,
report (a self-contained HTML page), and files with mistakes naming the line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests._cli import run_keel

from .conftest import HOUR, T0, log_window, make_project
from .test_monitors import SPEC


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("cli")
    client = make_project(folder)
    log_window(client, T0, 1000, 1, labels=0.5)
    log_window(client, T0 + HOUR, 1000, 2, shift=0.5)
    client.close()
    (folder / "monitor.yaml").write_text(SPEC.replace("ranges: {debt: {min: 0, max: 0.9}}\n", ""))
    env = {"KEEL_URI": f"sqlite:///{folder / 'keel.db'}", "KEEL_OBJECTS": str(folder / "objects")}
    return folder, env


def keel(folder, *args: str, stdin: str | None = None):
    return run_keel(*args, cwd=folder[0], env=folder[1], stdin=stdin)


def test_apply_run_backfill_report(folder) -> None:
    applied = keel(folder, "monitor", "apply", "monitor.yaml")
    assert applied.returncode == 0, applied.stderr
    assert "monitor credit-drift watches credit-scoring" in applied.stdout
    healthy = keel(folder, "monitor", "run", "credit-drift", "--at", str(T0 + HOUR))
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "passed" in healthy.stdout
    drifted = keel(folder, "monitor", "run", "credit-drift", "--at", "2027-01-15T10:00", "--json")
    assert drifted.returncode == 3
    result = json.loads(drifted.stdout)
    assert result["passed"] is False
    assert any(f["subject"] == "income" and f["breached"] for f in result["findings"])
    table = keel(folder, "monitor", "run", "credit-drift", "--at", str(T0 + 2 * HOUR))
    assert table.returncode == 3
    assert "FAILED" in table.stdout
    assert "income" in table.stdout
    filled = keel(
        folder, "monitor", "backfill", "credit-drift", "--from", str(T0), "--to", str(T0 + 2 * HOUR)
    )
    assert filled.returncode == 0, filled.stderr
    assert "2 windows of credit-drift" in filled.stdout
    listed = keel(folder, "monitor", "ls", "--json")
    assert json.loads(listed.stdout)[0]["last_window_end"] == T0 + 2 * HOUR
    page = folder[0] / "report.html"
    written = keel(folder, "monitor", "report", "credit-drift", "--html", str(page))
    assert written.returncode == 0, written.stderr
    html = page.read_text()
    assert "reference vs current" in html
    assert "drift score per input over time" in html
    # self-contained: plotly's script inline, nothing loaded from elsewhere
    assert not re.search(r"<script[^>]+src=", html)
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)  # inline code aside
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert "Plotly.newPlot" in html
    data = json.loads(keel(folder, "monitor", "report", "credit-drift", "--json").stdout)
    assert set(data["distributions"]) == {"income", "debt"}
    assert len(data["results"]) >= 3


def test_mistakes_name_the_line_and_change_nothing(folder) -> None:
    (folder[0] / "bad.yaml").write_text(SPEC.replace("min: 0.6", "max: 0.6"))
    bad = keel(folder, "monitor", "apply", "bad.yaml")
    assert bad.returncode == 1
    assert "bad.yaml line 7 (performance.max)" in bad.stderr
    unknown = keel(folder, "monitor", "run", "credit-drfit")
    assert unknown.returncode == 1
    assert "No monitor 'credit-drfit'" in unknown.stderr
    when = keel(folder, "monitor", "backfill", "x", "--from", "yesterday", "--to", "1")
    assert when.returncode == 1
    assert "--from must be epoch milliseconds or an ISO time" in when.stderr
