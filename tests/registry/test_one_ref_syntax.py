"""One reference syntax (issue 16): a dataset version is ``credit:v1`` and a model version
``credit:1``; each accepts the other's form and prints its own, locally and through a
server, in the SDK and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel.client import default_client, reset_default_client
from keel.data._versions import parse_ref
from keel.errors import InvalidInput, NotFound
from keel.registry import parse_model_ref
from keel.store import init_project
from tests._cli import run_keel
from tests.conftest import live_server

FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})


@pytest.mark.parametrize("ref", ["credit:v3", "credit:3", "credit:V3"])
def test_both_forms_parse_to_the_same_version(ref: str) -> None:
    assert parse_ref(ref).version == 3
    assert parse_model_ref(ref).version == 3


@pytest.mark.parametrize("ref", ["credit:x3", "credit:", "credit:v", "a:b:c", "credit:3.0"])
def test_malformed_references_are_refused_by_both(ref: str) -> None:
    with pytest.raises(InvalidInput, match="Cannot read the dataset reference"):
        parse_ref(ref)
    with pytest.raises(InvalidInput, match="Cannot read the model reference"):
        parse_model_ref(ref)


@pytest.fixture(params=["store", "server"])
def sdk(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    init_project(tmp_path).close()
    monkeypatch.chdir(tmp_path)
    reset_default_client()
    if request.param == "store":
        yield "store"
    else:
        with live_server(default_client().config) as url:
            monkeypatch.setenv("KEEL_URI", url)
            reset_default_client()
            yield "server"
    reset_default_client()


def test_the_sdk_takes_either_form_and_prints_its_own(sdk: str) -> None:
    keel.log_dataset(FRAME, "credit")
    assert keel.load_dataset("credit:1").equals(keel.load_dataset("credit:v1"))
    assert default_client().datasets.resolve("credit:1").ref == "credit:v1"
    model = LogisticRegression().fit(FRAME[["x"]], FRAME.y)
    version = keel.register_model(model, "scorer", input_example=FRAME[["x"]])
    assert version.ref == "scorer:1"
    assert keel.load_model("scorer:v1").ref == "scorer:1"
    assert keel.set_alias("scorer:v1", "champion").ref == "scorer:1"
    assert default_client().models.get("scorer:V1").aliases == ("champion",)
    with pytest.raises(NotFound, match="no version 2"):
        keel.load_model("scorer:v2")
    with pytest.raises(NotFound, match="no version v2"):
        keel.load_dataset("credit:2")


def test_the_cli_takes_either_form_and_prints_its_own(tmp_path: Path) -> None:
    assert run_keel("init", cwd=tmp_path).returncode == 0
    script = (
        "import keel, pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "df = pd.DataFrame({'x': [0.0, 1.0, 2.0, 3.0], 'y': [0, 0, 1, 1]})\n"
        "keel.log_dataset(df, 'credit')\n"
        "keel.register_model(LogisticRegression().fit(df[['x']], df.y), 'scorer',"
        " input_example=df[['x']])\n"
    )
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, capture_output=True)
    shown = json.loads(run_keel("data", "show", "credit:1", "--json", cwd=tmp_path).stdout)
    assert shown["ref"] == "credit:v1"
    model = json.loads(run_keel("models", "show", "scorer:v1", "--json", cwd=tmp_path).stdout)
    assert model["ref"] == "scorer:1"
    approved = run_keel("models", "approve", "scorer:v1", cwd=tmp_path)
    assert approved.stdout.strip() == "approved scorer:1"
