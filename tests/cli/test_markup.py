"""The CLI prints stored values exactly as stored: never as rich markup or emoji codes.

Rich reads ``[red]`` as a style and ``:x:`` as an emoji, so without care a param ``[fast]``
prints blank, ``a:x:b`` prints ``a❌b`` and an install hint loses its ``[postgres]``. One
project holds such values as run names, params, tags, metric names, dataset columns and
values, a schema name, a model's metrics and signature, an approval and a token name; every
command that shows them must print them back unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._cli import run_keel, run_python

VALUES = ["[fast]", "a:x:b", "[red]alert[/red]", "[bold]", "\\[x]"]

SETUP = f"""\
import os
os.environ["USER"] = os.environ["LOGNAME"] = "[bold]"  # the local actor of the approval
import pandas as pd
from sklearn.linear_model import LogisticRegression
import keel
from keel.registry._sdk import registry
from keel.server.tokens import TokenService
from keel.store import Store

V = {VALUES!r}
frame = pd.DataFrame({{"[bold]": V, "a:x:b": [0.1, 0.9, 0.2, 0.8, 0.3], "y": [0, 1, 0, 1, 0]}})
params = {{v: v for v in V}}
with keel.start_run("[fast]", "[red]alert[/red]", params, params, capture=False) as run:
    for i, v in enumerate(V):
        run.log_metric(v, i / 10)
    keel.log_dataset(frame, "texts")
    model = LogisticRegression().fit(frame[["a:x:b"]], frame["y"])
    version = keel.register_model(
        model, "m", input_example=frame[["a:x:b"]], metrics={{v: 0.5 for v in V}}
    )
rotated = {{v: V[(i + 1) % len(V)] for i, v in enumerate(V)}}
with keel.start_run("[fast]", "a:x:b", rotated, capture=False) as other:
    pass
keel.validate("texts:v1", {{"schema": "a:x:b", "columns": {{"[bold]": {{"in_set": ["none"]}}}}}})
registry().approve(version.ref, "[red]alert[/red]")
TokenService(Store.open()).create("[red]alert[/red]", "reader", projects=[])
print(run.id, other.id)
"""

SCHEMA = """\
schema: "a:x:b"
columns:
  "[bold]":
    in_set: [none]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("markup")
    assert run_keel("init", cwd=folder).returncode == 0
    run_ids = run_python(SETUP, cwd=folder).stdout.split()
    (folder / "schema.yaml").write_text(SCHEMA)
    return folder, run_ids


def keel_out(folder: Path, *args: str, code: int = 0) -> str:
    done = run_keel(*args, cwd=folder)
    assert done.returncode == code, done.stderr
    return done.stdout


def assert_all_shown(out: str, values: list[str] = VALUES) -> None:
    missing = [v for v in values if v not in out]
    assert not missing, f"not printed as stored: {missing}\n{out}"


def test_runs_ls_show_and_compare(project) -> None:
    folder, (first, second) = project
    listed = keel_out(folder, "runs", "ls")
    assert_all_shown(listed)  # metric names as column headers, run names, the experiment
    shown = keel_out(folder, "runs", "show", first)
    assert "[red]alert[/red]  " + first in shown  # the heading: name, id, experiment
    assert_all_shown(shown)
    for value in VALUES:  # every param and tag row: the key, then the value
        assert shown.count(value) >= 4, value
    compared = keel_out(folder, "runs", "compare", first, second)
    assert_all_shown(compared)
    assert "│ a:x:b            │ a:x:b            │ [red]alert[/red] │" in compared


def test_data_show_and_lake_query(project) -> None:
    folder, _ = project
    shown = keel_out(folder, "data", "show", "texts")
    assert "│ [bold] │ string" in shown  # a column named [bold]
    assert "│ a:x:b  │ double" in shown
    assert "[bold]:1 [fast]:1 [red]alert[/red]:1" in shown  # its top values
    assert "against a:x:b: FAILED" in shown  # the schema's name in the validation line
    queried = keel_out(folder, "lake", "query", "SELECT * FROM texts")
    assert_all_shown(queried)


def test_validate_shows_failing_examples_as_stored(project) -> None:
    folder, _ = project
    out = keel_out(folder, "validate", "texts:v1", "--schema", "schema.yaml", "--no-record", code=3)
    assert "against schema a:x:b" in out
    assert "in_set([bold])" in out
    assert "examples failing in_set([bold])" in out
    assert_all_shown(out)


def test_models_show_and_history(project) -> None:
    folder, _ = project
    shown = keel_out(folder, "models", "show", "m:1")
    for value in VALUES:
        assert f"{value}: 0.5" in shown  # metric names
    assert "│ a:x:b │ float64 │" in shown  # the signature's input
    assert "approved by [bold]" in shown
    history = keel_out(folder, "models", "history", "m")
    assert "comment=[red]alert[/red]" in history
    assert "│ [bold] │ register │" in history


def test_lineage_and_token_ls(project) -> None:
    folder, (first, _) = project
    tree = keel_out(folder, "lineage", "texts:v1")
    assert f"produced run [red]alert[/red] ({first[:12]})" in tree
    assert "validation against a:x:b: FAILED" in tree
    tokens = keel_out(folder, "token", "ls")
    assert "│ [red]alert[/red] │ reader │" in tokens


def test_errors_keep_user_values_and_install_hints(project) -> None:
    folder, _ = project
    missing = run_keel("runs", "show", "[red]alert[/red]:x:", cwd=folder)
    assert missing.returncode == 1
    assert "'[red]alert[/red]:x:'" in missing.stderr
    # A KeelError with an install hint, as raised when an optional extra is missing,
    # through the CLI's own error printer.
    script = """\
import sys
from keel.cli._app import app, main
from keel.errors import ConfigError

@app.command("needs-postgres")
def needs_postgres() -> None:
    raise ConfigError("psycopg is not installed. Run: pip install 'keelml[postgres]'.")

sys.argv = ["keel", "needs-postgres"]
main()
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=folder,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "error: psycopg is not installed. Run: pip install 'keelml[postgres]'." in done.stderr
