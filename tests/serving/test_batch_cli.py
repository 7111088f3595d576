"""``keel predict`` as a user runs it: a summary for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests._cli import run_keel, run_python

SETUP = """
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
import keel

rng = np.random.default_rng(0)
frame = pd.DataFrame({"id": range(1_000), "x": rng.normal(size=1_000)})
keel.register_model(
    LogisticRegression().fit(frame[["x"]], frame["x"] > 0), "credit", input_example=frame[["x"]]
)
keel.log_dataset(frame, "applications")
"""


def test_keel_predict_prints_a_summary_or_json_and_refuses_bad_input(tmp_path: Path) -> None:
    assert run_keel("init", cwd=tmp_path).returncode == 0
    run_python(SETUP, cwd=tmp_path)

    done = run_keel(
        "predict", "credit", "applications", "--keep", "id", "--batch-rows", "100", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "scored 1,000 rows of applications:v1 with credit:1" in done.stdout
    assert "predictions: credit-predictions:v1" in done.stdout
    assert "peak memory of this process" in done.stdout

    scripted = run_keel(
        "predict", "credit@latest", "applications:v1", "-o", "scores", "--json", cwd=tmp_path
    )
    assert scripted.returncode == 0, scripted.stderr
    summary = json.loads(scripted.stdout)
    assert summary["output"] == "scores:v1"
    assert (summary["rows"], summary["model"], summary["engine"]) == (1_000, "credit:1", "local")
    assert summary["peak_memory_mib"] > 0
    assert [c["name"] for c in summary["version"]["schema"]] == [
        "prediction",
        "proba_False",
        "proba_True",
    ]

    refused = run_keel("predict", "credit", "applications", "--keep", "[red]x[/red]", cwd=tmp_path)
    assert refused.returncode == 1
    assert "has no column ['[red]x[/red]'] to keep" in refused.stderr  # printed, not markup
    assert "Traceback" not in refused.stderr

    usage = run_keel("predict", "credit", "applications", "--batch-rows", "many", cwd=tmp_path)
    assert usage.returncode == 2


def test_plain_forms_of_keel_predict_skip_typer_and_the_rest_go_to_it() -> None:
    from keel.cli._fast import plain_command

    refs_and_options = ["-o", "scores", "credit@champion", "--keep", "id", "applications:v2"]
    more = ["--batch-rows=1000", "--keep=region", "--json", "--trust"]
    command = plain_command(["predict", *refs_and_options, *more])
    assert command is not None
    assert command.args == ("credit@champion", "applications:v2")
    assert command.keywords == {
        "output": "scores",
        "batch_rows": 1_000,
        "keep": ["id", "region"],
        "ray": False,
        "trust": True,
        "json": True,
    }
    defaults = plain_command(["predict", "credit", "applications"])
    assert defaults is not None
    assert defaults.keywords["batch_rows"] == 65_536
    assert defaults.keywords["output"] is None
    for argv in (
        ["predict", "credit"],  # a reference missing
        ["predict", "credit", "applications", "more"],
        ["predict", "credit", "applications", "--help"],
        ["predict", "--debug", "credit", "applications"],
        ["predict", "credit", "applications", "--batch-rows", "many"],
        ["predict", "credit", "applications", "--batch-rows", "1_000"],
        ["predict", "credit", "applications", "--output"],  # no value
        ["predict", "credit", "applications", "-o", "--json"],
        ["predict", "credit", "applications", "--json=yes"],
        ["predict", "credit", "applications", "--", "x"],
    ):
        assert plain_command(argv) is None, argv


def test_keel_predict_without_typer_scores_as_the_typer_command_does(tmp_path: Path) -> None:
    assert run_keel("init", cwd=tmp_path).returncode == 0
    run_python(SETUP, cwd=tmp_path)
    plain = run_keel("predict", "credit", "applications", "--json", "-o", "a", cwd=tmp_path)
    # --debug is not a plain form: the typer app runs this one
    typed = run_keel(
        "--debug", "predict", "credit", "applications", "--json", "-o", "b", cwd=tmp_path
    )
    assert plain.returncode == typed.returncode == 0, plain.stderr + typed.stderr
    one, two = json.loads(plain.stdout), json.loads(typed.stdout)
    assert (one["output"], two["output"]) == ("a:v1", "b:v1")
    assert one["version"]["schema"] == two["version"]["schema"]
    assert one["version"]["manifest_digest"] == two["version"]["manifest_digest"]
    missing = run_keel("predict", "credit", "nosuch", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error:")
    assert "Traceback" not in missing.stderr


def test_keel_predict_of_a_linear_model_does_not_import_scikit_learn(tmp_path: Path) -> None:
    """The native scorer answers classes, probabilities and labels: scoring a covered
    model never loads the estimator (the import of scikit-learn is most of a cold run),
    and its output equals the estimator's own predictions."""
    assert run_keel("init", cwd=tmp_path).returncode == 0
    run_python(SETUP, cwd=tmp_path)
    traced = run_python(
        "import atexit, runpy, sys\n"
        "names = ('sklearn', 'scipy', 'skops')\n"
        "atexit.register(lambda: print('LOADED', sorted(set(names) & set(sys.modules)),"
        " file=sys.stderr, flush=True))\n"
        "sys.argv = ['keel', 'predict', 'credit', 'applications', '--keep', 'id', '--json']\n"
        "runpy.run_module('keel', run_name='__main__')\n",
        cwd=tmp_path,
    )
    assert "LOADED []" in traced.stderr, traced.stderr[-2000:]
    check = run_python(
        "import numpy as np, keel\n"
        "out = keel.load_dataset('credit-predictions')\n"
        "src = keel.load_dataset('applications')\n"
        "model = keel.load_model('credit', native=False).native\n"
        "expected = model.predict(src[['x']])\n"
        "assert (out['prediction'].to_numpy() == expected).all()\n"
        "assert np.allclose(out['proba_True'], model.predict_proba(src[['x']])[:, 1], rtol=1e-12)\n"
        "print('SAME')\n",
        cwd=tmp_path,
    )
    assert "SAME" in check.stdout
