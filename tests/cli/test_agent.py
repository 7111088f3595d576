"""``keel agent``: one pass with a table (or JSON) of what it did, the foreground loop that
Ctrl-C stops giving the lease up, and its mistakes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

import keel
from keel.client import Client
from keel.config import resolve
from keel.pipelines._records import claim_run, record_pipeline, submit_run
from keel.server.agent import LEASE
from keel.store import init_project, leases, now_ms
from keel.store import schema as t
from tests._cli import KEEL, run_keel


def _project(folder: Path) -> tuple[Client, dict[str, str]]:
    uri, objects = f"sqlite:///{folder / 'keel.db'}", str(folder / "objects")
    config = resolve(uri=uri, objects=objects, fsync=False)
    init_project(folder, config).close()
    return Client(config=config), {"KEEL_URI": uri, "KEEL_OBJECTS": objects}


def test_once_does_one_pass_and_says_what_it_did(tmp_path: Path) -> None:
    client, env = _project(tmp_path)
    trigger = keel.on_dataset("credit-train", param="data")
    spec = {"triggers": [trigger.to_dict()], "params": {"data": {"type": "str", "default": ""}}}
    record_pipeline(client.store, "default", "retrain", spec)
    dead = submit_run(client.store, "default", "retrain")
    claim_run(client.store, dead, "gone:1:abc", 60_000)
    with client.store.write() as conn:
        r = t.pipeline_runs
        conn.execute(r.update().where(r.c.id == dead).values(lease_expires_at=now_ms() - 1))
    done = run_keel("agent", "--once", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "expired run" in done.stdout
    assert dead in done.stdout
    client.datasets.log(pd.DataFrame({"x": [1, 2]}), "credit-train")
    second = run_keel("agent", "--once", "--json", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["leader"] is True
    [fired] = [row for row in report["did"] if row["what"] == "trigger (dataset)"]
    assert (fired["project"], fired["name"]) == ("default", "retrain")
    r = t.pipeline_runs
    with client.store.read() as conn:
        params = conn.execute(sa.select(r.c.params).where(r.c.id != dead)).scalars().all()
    assert params == [{"data": "credit-train:v1"}]
    assert fired["detail"].startswith("queued run ")
    # nothing due: it says so
    third = run_keel("agent", "--once", cwd=tmp_path, env=env)
    assert "leading: nothing was due" in third.stdout
    assert leases.holder(client.store, LEASE) is None  # each pass gave the lease up
    client.close()


def test_once_while_another_agent_leads_does_nothing(tmp_path: Path) -> None:
    client, env = _project(tmp_path)
    assert leases.acquire(client.store, LEASE, "other-host:7:abc", 3_600_000)
    done = run_keel("agent", "--once", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "not leading: agent other-host:7:abc leads; nothing done" in done.stdout
    as_json = json.loads(run_keel("agent", "--once", "--json", cwd=tmp_path, env=env).stdout)
    assert (as_json["leader"], as_json["did"]) == (False, [])
    assert leases.holder(client.store, LEASE) == "other-host:7:abc"
    client.close()


def _as_from_a_terminal() -> None:
    """In the child before exec: Ctrl-C delivered as a shell's foreground job gets it,
    whatever the test worker's own signal state is (in the full suite the agent started
    here once never saw the SIGINT, ran until killed, and left a zombie behind)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_agent_and_gives_the_lease_up(tmp_path: Path) -> None:
    client, env = _project(tmp_path)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    process = subprocess.Popen(
        [*KEEL, "agent", "--tick", "0.1"],
        cwd=tmp_path,
        env={**full_env, **env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_from_a_terminal,
    )
    try:
        deadline = time.monotonic() + 60
        while leases.holder(client.store, LEASE) is None:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the agent never took the lease"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "keel agent" in out
    assert "stopping" in out
    assert "Traceback" not in err
    assert leases.holder(client.store, LEASE) is None
    client.close()


def test_mistakes_are_one_clear_line(tmp_path: Path) -> None:
    _, env = _project(tmp_path)
    bad_tick = run_keel("agent", "--tick", "0", cwd=tmp_path, env=env)
    assert bad_tick.returncode == 2
    assert "--tick" in bad_tick.stderr
    remote = run_keel("agent", "--once", cwd=tmp_path, env={"KEEL_URI": "http://127.0.0.1:9"})
    assert remote.returncode == 1
    assert "The agent works on the store itself" in remote.stderr
    assert "Traceback" not in remote.stderr
