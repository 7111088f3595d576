"""The quickstart's parts on their own: the stage timer, waiting for the prediction log,
and the retraining steps that must refuse to act without what they need."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.client import Client
from keel.errors import KeelError
from keel.quickstart._retrain import promote, recent_data
from keel.quickstart._serve import wait_logged
from keel.quickstart._stages import Stages
from keel.store import init_project


@pytest.fixture
def client(tmp_path: Path):
    init_project(tmp_path).close()
    made = Client(str(tmp_path))
    yield made
    made.close()


def test_a_stage_that_fails_is_marked_failed_and_raises() -> None:
    stages = Stages([("data", "ingest"), ("train", "train")])
    with stages.run("data") as stage:
        stage.doing("reading")
        stage.result, stage.refs = "ok", ["credit:v1"]
    with pytest.raises(ValueError, match="boom"), stages.run("train"):
        raise ValueError("boom")
    data, train = (s.to_dict() for s in stages)
    assert (data["status"], data["result"], data["refs"]) == ("done", "ok", ["credit:v1"])
    assert train["status"] == "failed"
    assert stages.__rich__() is not None  # the live view draws every state


def test_waiting_for_a_log_that_never_comes_says_what_is_missing(client: Client) -> None:
    with pytest.raises(KeelError, match=r"logged 0 of 5 predictions and 0 of 2 labels in 0.2 s"):
        wait_logged(client, predictions=5, feedback=2, timeout=0.2)


def test_retraining_refuses_without_labels_or_a_canary(client: Client) -> None:
    with pytest.raises(KeelError, match=r"Only 0 applications of months \[7, 8, 9\] have"):
        recent_data([7, 8, 9], 150, client=client)
    with pytest.raises(KeelError, match="was never applied, so credit-default:2 has no canary"):
        promote("credit-default:2", timeout=0.1, client=client)
