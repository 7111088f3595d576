"""The tracking contract: the same tests on SQLite and PostgreSQL, directly and over HTTP."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.tracking import RunQuery, RunStatus, Tracker, TrackingBackend


def test_run_lifecycle_params_tags_and_experiment(
    tracker: Tracker, backend: TrackingBackend
) -> None:
    with tracker.start_run(
        "credit", name="baseline", params={"C": 1.0, "model": "lr"}, tags={"team": "risk"}
    ) as run:
        assert run.info.status == RunStatus.RUNNING
        run.set_tag("team", "fraud")  # tags: last write wins
        run.log_param("penalty", "l2")
    record = backend.get_run(run.id)
    assert record.status == RunStatus.FINISHED
    assert record.name == "baseline"
    assert record.experiment == "credit"
    assert record.params == {"C": "1.0", "model": "lr", "penalty": "l2"}
    assert record.tags["team"] == "fraud"
    assert record.ended_at is not None
    assert record.ended_at >= record.started_at
    assert [(e.name, e.run_count) for e in backend.list_experiments()] == [("credit", 1)]


def test_metrics_are_buffered_then_all_written(tracker: Tracker, backend: TrackingBackend) -> None:
    with tracker.start_run("credit", capture=False) as run:
        for i in range(2_500):
            run.log_metric("loss", 1.0 / (i + 1))
        run.log_metrics({"auc": 0.8, "f1": 0.5}, step=7)
        run.log_metric("auc", 0.9, step=9)
        run.log_metric("auc", 0.1, step=3)  # an older step does not replace the latest
    history = backend.metric_history(run.id, "loss")
    assert [p[2] for p in history] == list(range(2_500))
    assert history[-1][1] == pytest.approx(1 / 2_500)
    record = backend.get_run(run.id)
    assert record.metrics == {"loss": pytest.approx(1 / 2_500), "auc": 0.9, "f1": 0.5}


def test_nan_and_infinities_are_stored_as_such(tracker: Tracker, backend: TrackingBackend) -> None:
    with tracker.start_run("credit", capture=False) as run:
        run.log_metric("nan", math.nan)
        run.log_metric("inf", math.inf)
        run.log_metric("-inf", -math.inf)
    metrics = backend.get_run(run.id).metrics
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == math.inf
    assert metrics["-inf"] == -math.inf
    assert math.isnan(backend.metric_history(run.id, "nan")[0][1])
    found = backend.search_runs(RunQuery(filter="metrics.nan = nan and metrics.inf > 1e308"))
    assert [r.id for r in found] == [run.id]
    assert backend.search_runs(RunQuery(filter="metrics.nan > 0")) == []


@pytest.mark.parametrize("value", ["0.9", None, [1.0], {"a": 1}])
def test_non_numeric_metric_is_invalid_input(tracker: Tracker, value: object) -> None:
    with (
        tracker.start_run("credit", capture=False) as run,
        pytest.raises(InvalidInput, match="must be a number"),
    ):
        run.log_metric("auc", value)  # type: ignore[arg-type]


def test_backend_refuses_malformed_points(backend: TrackingBackend, tracker: Tracker) -> None:
    with tracker.start_run("credit", capture=False) as run, pytest.raises(InvalidInput):
        backend.log_batch(run.id, metrics=[("auc", "high", 0, 0)])  # type: ignore[list-item]
    assert backend.get_run(run.id).metrics == {}


def test_params_are_immutable(tracker: Tracker, backend: TrackingBackend) -> None:
    with tracker.start_run("credit", params={"C": 1.0}, capture=False) as run:
        run.log_param("C", 1.0)  # the same value again is fine
        with pytest.raises(
            InvalidInput, match="Param 'C' .* is already '1.0'; it cannot become '2'"
        ):
            run.log_param("C", 2)
        with pytest.raises(InvalidInput, match="already '1.0'"):
            backend.log_batch(run.id, params={"C": "3"})
    assert backend.get_run(run.id).params == {"C": "1.0"}


def test_runs_nest_and_resume(tracker: Tracker, backend: TrackingBackend) -> None:
    parent = tracker.start_run("credit", capture=False)
    child = tracker.start_run("credit", parent_id=parent.id, capture=False)
    child.end()
    parent.end()
    assert backend.get_run(child.id).parent_id == parent.id
    resumed = tracker.start_run(run_id=parent.id)
    assert resumed.info.status == RunStatus.RUNNING
    resumed.log_metric("late", 1.0)
    resumed.end()
    record = backend.get_run(parent.id)
    assert record.status == RunStatus.FINISHED
    assert record.metrics == {"late": 1.0}


def test_exception_marks_failed_with_traceback(tracker: Tracker, backend: TrackingBackend) -> None:
    def train() -> str:
        with tracker.start_run("credit", capture=False) as run:
            run.log_metric("loss", 0.5)
            raise ZeroDivisionError("learning rate too high")

    with pytest.raises(ZeroDivisionError):
        train()
    (record,) = backend.search_runs(RunQuery(("credit",)))
    assert record.status == RunStatus.FAILED
    assert "ZeroDivisionError: learning rate too high" in record.error
    assert "Traceback" in record.error
    assert record.metrics == {"loss": 0.5}  # flushed before the run was marked failed


def test_artifacts_round_trip(tracker: Tracker, backend: TrackingBackend, tmp_path: Path) -> None:
    file = tmp_path / "weights.bin"
    file.write_bytes(b"\x00\x01" * 5000)
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    with tracker.start_run("credit", capture=False) as run:
        run.log_artifact(b"accuracy 0.9", "notes/summary.txt")
        record = run.log_artifact(file)
        run.log_artifact(file)  # same name, same bytes: idempotent
        run.log_artifact(folder)
        with pytest.raises(AlreadyExists, match="already has an artifact named 'weights.bin'"):
            run.log_artifact(b"other bytes", "weights.bin")
        with pytest.raises(InvalidInput, match="relative path"):
            run.log_artifact(b"x", "../escape.txt")
    assert record.size == 10_000
    with backend.open_artifact(run.id, "weights.bin") as fh:
        assert fh.read() == file.read_bytes()
    with backend.open_artifact(run.id, "plots/sub/b.txt") as fh:
        assert fh.read() == b"b"
    names = [a.name for a in backend.get_run(run.id).artifacts]
    assert names == ["notes/summary.txt", "plots/a.txt", "plots/sub/b.txt", "weights.bin"]
    # a listing reports them when asked (a list of runs does not show them)
    query = RunQuery(experiments=("credit",), include=("artifacts",))
    (listed,) = [r for r in backend.search_runs(query) if r.id == run.id]
    assert [a.name for a in listed.artifacts] == names
    assert {a.name: a.size for a in listed.artifacts}["weights.bin"] == 10_000
    with pytest.raises(
        NotFound, match="no artifact named 'weight.bin'.*Did you mean 'weights.bin'"
    ):
        backend.open_artifact(run.id, "weight.bin")


def test_tables_predictions_and_figures(tracker: Tracker, backend: TrackingBackend) -> None:
    import plotly.graph_objects as go

    frame = pd.DataFrame({"y_true": [0, 1, 1], "y_pred": [0, 1, 0], "score": [0.1, 0.8, 0.4]})
    with tracker.start_run("credit", capture=False) as run:
        run.log_table(frame, "holdout")
        run.log_predictions(frame)
        run.log_figure(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])), "curve")
        with pytest.raises(InvalidInput, match="'y_true' column"):
            run.log_predictions(frame.drop(columns="y_true"))
        with pytest.raises(InvalidInput, match="matplotlib or plotly figure"):
            run.log_figure("not a figure", "x")
    kinds = {a.name: a.kind for a in backend.get_run(run.id).artifacts}
    assert kinds == {
        "holdout.parquet": "table",
        "predictions.parquet": "predictions",
        "curve.plotly.json": "figure",
    }
    with backend.open_artifact(run.id, "predictions.parquet") as fh:
        assert pd.read_parquet(fh).equals(frame)


def test_unknown_run_and_experiment_are_not_found(backend: TrackingBackend) -> None:
    with pytest.raises(NotFound, match="No run with id 'nope'"):
        backend.get_run("nope")
    with pytest.raises(NotFound):
        backend.log_batch("nope", metrics=[("a", 1.0, 0, 0)])
    backend.create_run("credit")
    with pytest.raises(NotFound, match="No experiment named 'credits'.*Did you mean 'credit'"):
        backend.search_runs(RunQuery(("credits",)))


def test_bad_names_and_status(backend: TrackingBackend) -> None:
    with pytest.raises(InvalidInput, match="experiment"):
        backend.create_run("")
    run = backend.create_run("credit")
    with pytest.raises(InvalidInput):
        backend.set_status(run.id, "DONE")
    with pytest.raises(InvalidInput, match="param 'C' has no value"):
        backend.create_run("credit", params={"C": None})  # type: ignore[dict-item]


def test_capture_records_code_environment_and_seed(
    tracker: Tracker, backend: TrackingBackend
) -> None:
    from keel.tracking import seed_everything

    seed_everything(1234)
    with tracker.start_run("credit") as run:
        pass
    record = backend.get_run(run.id)
    assert record.environment["seed"] == 1234
    assert record.tags["keel.seed"] == "1234"
    assert "numpy" in record.environment["packages"]
    assert record.code["argv"]
    assert record.tags["keel.user"]


def test_log_input_records_the_dataset_reference(
    tracker: Tracker, backend: TrackingBackend
) -> None:
    with tracker.start_run("credit", capture=False) as run:
        run.log_input("credit:v3")
        with pytest.raises(InvalidInput, match="dataset version or a reference"):
            run.log_input(42)
    assert backend.get_run(run.id).tags["keel.input.training"] == "credit:v3"


def test_a_new_run_is_answered_as_it_reads_back(backend: TrackingBackend) -> None:
    parent = backend.create_run("answers", name="parent")
    created = backend.create_run(
        "answers",
        name="child",
        parent_id=parent.id,
        params={"lr": "0.1", "depth": "3"},
        tags={"team": "risk"},
        code={"commit": "abc", "argv": ["train.py", "--fast"]},
        environment={"python": "3.11", "packages": {"numpy": "2.4"}},
    )
    assert created == backend.get_run(created.id)
    unnamed = backend.create_run("answers")
    assert unnamed == backend.get_run(unnamed.id)
    with pytest.raises(NotFound, match="No run with id 'nope'"):
        backend.set_status("nope", RunStatus.FINISHED)
