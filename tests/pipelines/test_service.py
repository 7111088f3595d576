"""client.pipelines over the store: listing, runs, bad input; and each step run in the
lineage graph between the records it read and made."""

from __future__ import annotations

import pytest

from keel.client import Client
from keel.errors import InvalidInput, NotFound

from .flows import retrain


def test_list_get_and_runs(client: Client) -> None:
    assert client.pipelines.list() == []
    first = retrain.run({"month": 2}, client=client)
    second = retrain.run({"month": 3}, client=client)
    listed = client.pipelines.list()
    assert [p["name"] for p in listed] == ["retrain"]
    assert listed[0]["steps"] == ["load", "train", "score"]
    assert listed[0]["last_run"] == second.id
    assert listed[0]["last_status"] == "succeeded"
    assert client.pipelines.get("retrain")["spec"]["entrypoint"] == "tests.pipelines.flows:retrain"
    runs = client.pipelines.runs("retrain")
    assert [r["id"] for r in runs] == [second.id, first.id]
    assert runs[0]["params"] == {"month": 3, "c": 1.0}
    assert runs[0]["options"] == {"executor": "local", "cache": True}
    assert client.pipelines.runs(status="failed") == []
    assert len(client.pipelines.runs(limit=1)) == 1
    assert [s["step"] for s in client.pipelines.run(first.id)["steps"]] == [
        "load",
        "train",
        "score",
    ]


def test_bad_input_is_refused(client: Client) -> None:
    retrain.run({"month": 2}, client=client)
    with pytest.raises(NotFound, match="No pipeline named 'retrian'.*Did you mean 'retrain'"):
        client.pipelines.get("retrian")
    with pytest.raises(NotFound, match="No pipeline run 'nope'"):
        client.pipelines.run("nope")
    with pytest.raises(InvalidInput, match="status must be one of"):
        client.pipelines.runs(status="done")
    with pytest.raises(InvalidInput, match="limit must be"):
        client.pipelines.runs(limit=0)
    with pytest.raises(InvalidInput, match="no param 'monthh'"):
        client.pipelines.submit("retrain", {"monthh": 1})
    with pytest.raises(InvalidInput, match="must be an int"):
        client.pipelines.submit("retrain", {"month": "june"})
    with pytest.raises(InvalidInput, match="Unknown executor"):
        client.pipelines.submit("retrain", options={"executor": "spark"})
    run_id = client.pipelines.runs()[0]["id"]
    with pytest.raises(InvalidInput, match="only a failed, waiting or cancelled run"):
        client.pipelines.resume(run_id)
    with pytest.raises(NotFound, match="has no step 'trian'"):
        client.pipelines.logs(run_id, step="trian")
    assert len(client.pipelines.runs()) == 1  # nothing was queued


def test_step_runs_are_in_the_lineage_graph(client: Client) -> None:
    run = retrain.run({"month": 2}, client=client)
    load, train = run.step("load"), run.step("train")
    graph = client.lineage("retrain.load:v1", direction="both", depth=2)
    edges = {(e.src[0], e.relation, e.dst[0], e.dst[1]) for e in graph.edges}
    assert ("step_run", "produced", "dataset_version", load["outputs"]["return"]["id"]) in edges
    assert ("dataset_version", "input_to", "step_run", train["id"]) in edges
    model_id = train["outputs"]["return"]["id"]
    assert ("step_run", "produced", "model_version", model_id) in edges
    labels = {n.label for n in graph.nodes.values()}
    assert "step train of retrain" in labels
    assert "retrain.train:1" in labels


def test_every_submission_checks_params_against_the_recorded_pipeline(client) -> None:
    """Triggers and alert actions queue runs through submit_run too: a bad param is refused
    there, before a run exists, and defaults are filled in."""
    from keel.errors import InvalidInput
    from keel.pipelines._records import submit_run
    from tests.pipelines import flows

    client.pipelines.record("retrain", flows.retrain.spec())
    with pytest.raises(InvalidInput, match="no param 'monthz'.*Did you mean 'month'"):
        submit_run(client.store, "default", "retrain", params={"monthz": 3})
    assert client.pipelines.runs("retrain") == []
    run_id = submit_run(client.store, "default", "retrain", params={"month": 7})
    assert client.pipelines.run(run_id)["params"] == {"month": 7, "c": 1.0}
