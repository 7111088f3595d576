"""``keel pipeline`` as a user runs it: a pipeline file, params, the cache, a tree of the
run, logs, resume, and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests._cli import run_keel

PIPELINE = """
from pathlib import Path

import keel


@keel.step
def count(n: int) -> list:
    print(f"counting to {n}")
    with keel.start_run("counting"):
        keel.log_metric("n", n)
    return list(range(n))


@keel.step(retries=1, retry_backoff=0)
def total(values: list, must: str) -> int:
    if not Path(must).exists():
        raise RuntimeError(f"{must} is missing")
    return sum(values)


@keel.pipeline
def summing(n: int = 3, must: str = "ok"):
    return total(count(n), must)
"""


def _keel(tmp_path: Path, *args: str):
    return run_keel(*args, cwd=tmp_path)


def test_run_show_logs_and_resume(tmp_path: Path) -> None:
    assert _keel(tmp_path, "init").returncode == 0
    (tmp_path / "flow.py").write_text(PIPELINE)
    (tmp_path / "ok").write_text("")

    done = _keel(tmp_path, "pipeline", "run", "flow.py:summing", "--param", "n=4", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "succeeded"
    assert record["params"] == {"n": 4, "must": "ok"}

    again = _keel(tmp_path, "pipeline", "run", "summing", "-p", "n=4")  # by its recorded name
    assert again.returncode == 0, again.stderr
    assert "count cached" in again.stdout
    assert "total cached" in again.stdout

    fresh = _keel(tmp_path, "pipeline", "run", "summing", "-p", "n=4", "--no-cache", "--json")
    assert [s["cached_from"] for s in json.loads(fresh.stdout)["steps"]] == [None, None]

    listed = json.loads(_keel(tmp_path, "pipeline", "ls", "--json").stdout)
    assert [(p["name"], p["steps"]) for p in listed] == [("summing", ["count", "total"])]

    failed = _keel(tmp_path, "pipeline", "run", "summing", "-p", "must=absent", "--json")
    assert failed.returncode == 1
    run_id = json.loads(failed.stdout)["id"]
    count_run, total_run = (s["run_id"] for s in json.loads(failed.stdout)["steps"][:2])
    assert total_run is None  # total starts no tracking run
    tracked = json.loads(_keel(tmp_path, "runs", "show", count_run, "--json").stdout)
    assert tracked["experiment"] == "counting"

    shown = _keel(tmp_path, "pipeline", "show", run_id)
    assert shown.returncode == 0
    assert "summing run" in shown.stdout
    assert f"count succeeded run {count_run}" in shown.stdout
    assert "total failed (attempt 2)" in shown.stdout

    logs = _keel(tmp_path, "pipeline", "logs", run_id, "--step", "total")
    assert "absent is missing" in logs.stdout
    assert "attempt 1 failed" in logs.stdout
    out = json.loads(
        _keel(tmp_path, "pipeline", "logs", run_id, "--step", "count", "--json").stdout
    )
    assert out[0]["log"] == "counting to 3\n" or out[0]["status"] == "succeeded"

    (tmp_path / "absent").write_text("")
    resumed = _keel(tmp_path, "pipeline", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"
    runs = json.loads(_keel(tmp_path, "pipeline", "runs", "summing", "--json").stdout)
    assert [r["status"] for r in runs].count("succeeded") == 4


def test_bad_input_exits_1_with_one_line(tmp_path: Path) -> None:
    assert _keel(tmp_path, "init").returncode == 0
    (tmp_path / "flow.py").write_text(PIPELINE)
    for args, message in [
        (["flow.py:summing", "-p", "n=three"], "The param 'n' must be an int"),
        (["flow.py:summing", "-p", "mst=3"], "has no param 'mst'. Did you mean 'must'"),
        (["flow.py:summing", "-p", "n"], "name=value"),
        (["flow.py:summing", "--executor", "spark"], "Unknown executor 'spark'"),
        (["flow.py:nothing"], "Cannot import pipeline"),
        (["missing.py:summing"], "No pipeline file 'missing.py'"),
        (["summing"], "No pipeline named 'summing'"),
    ]:
        result = _keel(tmp_path, "pipeline", "run", *args)
        assert result.returncode == 1, (args, result.stderr)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert json.loads(_keel(tmp_path, "pipeline", "runs", "--json").stdout) == []
