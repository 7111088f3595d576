"""keel runs ls/show/compare/reproduce, keel token and keel server, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests._cli import run_keel, run_python

TRAIN = """\
import sys
import keel

keel.seed_everything(42)
lr = float(sys.argv[1])
with keel.start_run(experiment="credit", params={"lr": lr}) as run:
    run.log_metric("auc", BASE + lr)
    run.log_metric("loss", 1 - lr)
print(run.id)
"""


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture
def repo(keel, tmp_path: Path) -> Path:
    """A git repository with a keel project and a committed training script."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("BASE = 0.5\n" + TRAIN)
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "train")
    assert keel("init", cwd=repo).returncode == 0
    return repo


def _train(repo: Path, lr: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    out = subprocess.run(
        [os.sys.executable, "train.py", lr], cwd=repo, capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_ls_show_and_compare(keel, repo: Path) -> None:
    first, second = _train(repo, "0.1"), _train(repo, "0.3")
    listed = json.loads(keel("runs", "ls", "--json", cwd=repo).stdout)
    assert [r["id"] for r in listed] == [second, first]
    filtered = json.loads(
        keel("runs", "ls", "--filter", "metrics.auc > 0.7", "--json", cwd=repo).stdout
    )
    assert [r["id"] for r in filtered] == [second]
    table = keel("runs", "ls", cwd=repo)
    assert second[:12] in table.stdout
    assert "FINISHED" in table.stdout
    shown = keel("runs", "show", second[:10], cwd=repo)
    assert shown.returncode == 0, shown.stderr
    assert "lr" in shown.stdout
    assert "keel.git.commit" in shown.stdout
    compared = json.loads(keel("runs", "compare", first, second, "--json", cwd=repo).stdout)
    assert compared["params"] == {"lr": ["0.1", "0.3"]}
    assert compared["metrics"]["auc"] == [pytest.approx(0.6), pytest.approx(0.8)]
    human = keel("runs", "compare", first, second, cwd=repo)
    assert "params that differ" in human.stdout


def test_bad_filter_and_unknown_run_exit_1_with_a_message(keel, repo: Path) -> None:
    bad = keel("runs", "ls", "--filter", "metrics.auc >> 1", cwd=repo)
    assert bad.returncode == 1
    assert "^" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = keel("runs", "show", "0123456789abcdef", cwd=repo)
    assert missing.returncode == 1
    assert "No run with id" in missing.stderr


def test_reproduce_reruns_the_recorded_commit_and_diff(keel, repo: Path) -> None:
    (repo / "train.py").write_text("BASE = 0.25\n" + TRAIN)  # uncommitted change
    original = _train(repo, "0.2")
    (repo / "train.py").write_text("BASE = 9.0\n" + TRAIN)  # the tree moves on
    _git(repo, "commit", "-qam", "later work")
    declined = run_keel("runs", "reproduce", original, cwd=repo, stdin="n\n")
    assert declined.returncode == 1
    assert "command  python train.py 0.2" in declined.stderr  # what would run, shown first
    assert "diff     1 file changed since the commit:" in declined.stderr
    assert "train.py +1 -1" in declined.stderr
    assert "Nothing was run." in declined.stderr
    assert _run_count(keel, repo) == 1
    result = keel("runs", "reproduce", original, "--json", "--yes", cwd=repo)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["original"] == original
    assert len(report["reproductions"]) == 1
    assert report["metrics"]["auc"] == {
        "original": pytest.approx(0.45),
        "reproduced": pytest.approx(0.45),
    }
    shown = json.loads(keel("runs", "show", report["reproductions"][0], "--json", cwd=repo).stdout)
    assert shown["tags"]["keel.reproduces"] == original
    assert shown["params"] == {"lr": "0.2"}


def _run_count(keel, repo: Path) -> int:
    return len(json.loads(keel("runs", "ls", "--json", cwd=repo).stdout))


def _forge_run(repo: Path, code: dict) -> str:
    """A run whose code record a writer made by hand (as any writer can over HTTP)."""
    script = (
        "from keel.client import default_client\n"
        "backend = default_client().runs\n"
        f"print(backend.create_run('credit', code={code!r}).id)\n"
    )
    return run_python(script, cwd=repo).stdout.strip()


def test_reproduce_refuses_code_records_keel_did_not_capture(keel, repo: Path) -> None:
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    git = {"commit": head, "root": str(repo)}
    outside = _forge_run(
        repo,
        {"git": git, "entry_point": "http.server", "argv": ["x", "8765"], "captured_by": "keel"},
    )
    refused = keel("runs", "reproduce", outside, "--yes", cwd=repo)
    assert refused.returncode == 1
    assert "the module http.server is not in commit" in refused.stderr
    assert "python -m http.server 8765" in refused.stderr
    unmarked = _forge_run(repo, {"git": git, "entry_point": "train.py", "argv": ["t", "0.1"]})
    before = _run_count(keel, repo)
    refused = keel("runs", "reproduce", unmarked, "--yes", cwd=repo)
    assert refused.returncode == 1
    assert "no mark of keel's own capture" in refused.stderr
    assert _run_count(keel, repo) == before  # nothing ran
    allowed = keel("runs", "reproduce", unmarked, "--yes", "--allow-foreign-code", cwd=repo)
    assert allowed.returncode == 0, allowed.stderr
    assert _run_count(keel, repo) == before + 1


def test_token_create_ls_revoke(keel, repo: Path) -> None:
    created = json.loads(keel("token", "create", "--role", "reader", "--json", cwd=repo).stdout)
    assert created["token"].startswith("keel_")
    listed = json.loads(keel("token", "ls", "--json", cwd=repo).stdout)
    assert [t["role"] for t in listed] == ["reader"]
    assert "token" not in listed[0]
    assert keel("token", "revoke", created["id"], cwd=repo).returncode == 0
    again = keel("token", "revoke", created["id"], cwd=repo)
    assert again.returncode == 1
    assert "No active token" in again.stderr
    bad_role = keel("token", "create", "--role", "owner", cwd=repo)
    assert bad_role.returncode == 1
    assert "is not one of reader, writer, approver, admin" in bad_role.stderr


def test_server_refuses_non_loopback_without_auth(keel, repo: Path) -> None:
    result = keel("server", "--host", "0.0.0.0", "--port", "1", cwd=repo)
    assert result.returncode == 1
    assert "Refusing to listen on 0.0.0.0 without authentication" in result.stderr


def test_ls_says_which_metric_columns_did_not_fit(keel, tmp_path: Path) -> None:
    assert keel("init").returncode == 0
    run_python(
        "import keel\n"
        "with keel.start_run(experiment='wide') as run:\n"
        "    run.log_metrics({f'm{i:02d}': float(i) for i in range(20)})\n",
        cwd=tmp_path,
    )
    listed = keel("runs", "ls")  # on 200 columns some fit, the rest are named as hidden
    assert listed.returncode == 0, listed.stderr
    keys = [f"m{i:02d}" for i in range(20)]
    header = next(line for line in listed.stdout.splitlines() if " id " in line)
    shown = [k for k in keys if f" {k} " in header]
    hidden = re.search(r"(\d+) metric columns hidden for width: (m\d\d)", listed.stdout)
    assert hidden is not None, listed.stdout
    assert shown
    assert shown == keys[: len(shown)]
    assert int(hidden[1]) == 20 - len(shown)
    assert hidden[2] == keys[len(shown)]
    assert all(len(line) <= 200 for line in listed.stdout.splitlines())
    every = json.loads(keel("runs", "ls", "--json").stdout)
    assert len(every[0]["metrics"]) == 20


@pytest.mark.parametrize(
    ("limit", "message"),
    [("0", "at least 1. Got 0"), ("999999", "999999 runs were asked for")],
)
def test_ls_limit_errors_name_the_cli_option(keel, limit: str, message: str) -> None:
    assert keel("init").returncode == 0
    result = keel("runs", "ls", "--limit", limit)
    assert result.returncode == 1
    assert message in result.stderr
    assert "--limit" in result.stderr
