"""Monitors over real prediction logs: drift, no data, delayed labels, CBPE, segments, backfill."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import roc_auc_score

from keel.errors import InvalidInput, NotFound
from keel.monitoring import MonitorResult, MonitorSpec, evaluate, parse_monitor_text
from keel.monitoring._checks import cbpe

from .conftest import DEPLOYMENT, HOUR, T0

SPEC = f"""\
name: credit-drift
deployment: {DEPLOYMENT}
window: {{size: 1h}}
drift: {{share_of_columns: 0.3}}
prediction: {{drift: true, bias: {{max: 0.05}}, range: {{min: 0, max: 1}}}}
ranges: {{debt: {{min: 0, max: 0.9}}}}
performance: {{metric: accuracy, min: 0.6, label_delay: 1h}}
service: {{max_p99_ms: 50, max_error_rate: 0.01}}
"""


def spec(**changes) -> MonitorSpec:
    data = parse_monitor_text(SPEC).to_dict()
    data.update(changes)
    return MonitorSpec.from_dict(data)


def found(result: MonitorResult, kind: str, subject: str = ""):
    return next(f for f in result.findings if f.kind == kind and f.subject == subject)


def test_a_window_like_training_passes(project):
    result = evaluate(project, spec(ranges={}), now_ms=T0 + HOUR, record=False)
    assert result.passed, [f.message for f in result.breaches]
    assert (result.window_start, result.window_end) == (T0, T0 + HOUR)
    assert result.scores["rows"] == 2000
    assert not found(result, "data_drift", "income").breached
    assert found(result, "new_column", "region").breached is False
    assert result.scores["reference"]["dataset"] == "credit-train:v1"  # through lineage


def test_shifted_inputs_are_flagged_and_fail_the_result(project):
    result = evaluate(project, spec(), now_ms=T0 + 2 * HOUR, record=False)
    assert not result.passed
    assert found(result, "data_drift", "income").breached
    assert not found(result, "data_drift", "debt").breached
    assert found(result, "data_drift").breached  # the dataset verdict (1 of 2 >= 30%)
    assert found(result, "prediction_drift", "probability").breached
    assert result.scores["drift"]["income"] > 0.1 > result.scores["drift"]["debt"]


def test_a_window_without_logs_is_a_no_data_finding(project):
    result = evaluate(project, spec(), now_ms=T0 + 10 * HOUR, record=False)
    assert result.passed
    assert [f.kind for f in result.findings] == ["no_data"]
    assert "no predictions of deployment 'credit-scoring'" in result.findings[0].message


def test_performance_waits_for_delayed_labels(project):
    # At the end of the first hour its labels (given at T0 + 1h) have not come back...
    early = evaluate(project, spec(), now_ms=T0 + HOUR, record=False)
    waiting = found(early, "performance", "accuracy")
    assert waiting.score is None
    assert not waiting.breached
    assert "predictions labelled" in waiting.message
    # ... an hour later the window a label delay back has 1,000 labels of 2,000.
    later = evaluate(project, spec(), now_ms=T0 + 2 * HOUR, record=False)
    realised = found(later, "performance", "accuracy")
    assert realised.score is not None
    assert 0.65 < realised.score < 0.85
    assert later.scores["labels"]["all"] == 1000
    bias = found(later, "bias", "prediction")
    assert bias.score is not None
    assert bias.score < 0.05
    assert not bias.breached


def test_a_metric_below_its_bound_breaches(project):
    strict = spec(performance={"metric": "accuracy", "min": 0.95, "label_delay": "1h"})
    result = evaluate(project, strict, now_ms=T0 + 2 * HOUR, record=False)
    assert found(result, "performance", "accuracy").breached


def test_cbpe_estimates_the_realised_metrics_of_a_calibrated_model():
    rng = np.random.default_rng(0)
    p1 = rng.beta(2, 2, 50_000)
    label = rng.uniform(size=p1.size) < p1  # calibrated: P(label) is the probability
    accuracy = np.mean((p1 >= 0.5) == label)
    assert cbpe("accuracy", p1) == pytest.approx(accuracy, abs=0.01)
    assert cbpe("roc_auc", p1) == pytest.approx(roc_auc_score(label, p1), abs=0.01)
    assert cbpe("rmse", p1) is None


def test_estimated_accuracy_is_shown_beside_the_realised_one(project):
    result = evaluate(project, spec(), now_ms=T0 + 2 * HOUR, record=False)
    estimated = found(result, "estimated_performance", "accuracy")
    realised = found(result, "performance", "accuracy")
    assert abs(estimated.score - realised.score) < 0.06
    assert "realised" in estimated.message


def test_ranges_on_inputs_and_predictions(project):
    result = evaluate(project, spec(), now_ms=T0 + HOUR, record=False)
    debt = found(result, "range", "debt")
    assert debt.breached
    assert 0.05 < debt.score < 0.15
    assert not found(result, "range", "prediction").breached


def test_segments_find_a_drift_confined_to_one_region(project):
    segmented = spec(segments=["region"])
    result = evaluate(project, segmented, now_ms=T0 + 3 * HOUR, record=False)
    north = found(result, "data_drift", "income[region=north]")
    south = found(result, "data_drift", "income[region=south]")
    assert north.breached
    assert north.score is not None
    assert not south.breached


def test_service_p99_and_the_error_rate_it_cannot_see(project):
    result = evaluate(project, spec(), now_ms=T0 + HOUR, record=False)
    assert found(result, "service", "p99_ms").score == pytest.approx(5.0)
    unmeasured = found(result, "service", "error_rate")
    assert unmeasured.score is None
    assert "not in the prediction log" in unmeasured.message
    tight = spec(service={"max_p99_ms": 1})
    assert found(
        evaluate(project, tight, now_ms=T0 + HOUR, record=False), "service", "p99_ms"
    ).breached


def test_a_missing_input_is_a_finding(project):
    rows = 200
    at = pa.array(np.full(rows, T0 + 5 * HOUR), pa.timestamp("ms", tz="UTC"))
    income = pa.array(np.random.default_rng(0).normal(50, 10, rows))
    table = pa.table(
        {
            "request_id": pa.array([f"thin-{i}" for i in range(rows)]),
            "at": at,
            "deployment": pa.array(["thin"] * rows),
            "model_version": pa.array(["credit:1"] * rows),
            "latency_ms": pa.array(np.ones(rows)),
            "input": pa.StructArray.from_arrays([income], ["income"]),  # debt not logged
            "prediction": pa.array(np.zeros(rows)),
        }
    )
    project.predictions.write("predictions", "thin", table)
    result = evaluate(project, spec(deployment="thin"), now_ms=T0 + 6 * HOUR, record=False)
    missing = found(result, "missing_column", "debt")
    assert missing.breached
    assert "not in the served data" in missing.message
    assert found(result, "data_drift", "income").score is not None


def test_last_n_window(project):
    result = evaluate(project, spec(window={"last": 500}), now_ms=T0 + 2 * HOUR, record=False)
    assert result.scores["rows"] == 500
    assert T0 + HOUR < result.window_start < T0 + 2 * HOUR


def test_run_records_results_with_lineage_and_backfill_walks_windows(project):
    monitors = project.monitors
    monitors.apply(spec(name="recorded"))
    assert [m["name"] for m in monitors.list()] == ["recorded"]
    results = monitors.backfill("recorded", T0, T0 + 3 * HOUR)
    assert [(r.window_start, r.window_end) for r in results] == [
        (T0, T0 + HOUR),
        (T0 + HOUR, T0 + 2 * HOUR),
        (T0 + 2 * HOUR, T0 + 3 * HOUR),
    ]
    assert not results[1].passed  # the shifted hour (the debt range fails every hour)
    stored = monitors.results("recorded")
    assert [r.window_end for r in stored] == [T0 + 3 * HOUR, T0 + 2 * HOUR, T0 + HOUR]
    assert stored[1].findings == results[1].findings
    # the second evaluation read the stored baseline, the same one the first built
    assert stored[0].scores["reference"]["object"] == stored[2].scores["reference"]["object"]
    graph = project.lineage("credit-train:v1", direction="down", depth=6)
    assert ("monitor_result", results[0].id) in graph.nodes
    listed = monitors.list()[0]
    assert listed["last_window_end"] == T0 + 3 * HOUR


def test_bad_input_is_refused_clearly(project):
    monitors = project.monitors
    with pytest.raises(NotFound, match="No monitor 'nope'"):
        monitors.run("nope")
    monitors.apply(spec(name="bounded"))
    with pytest.raises(InvalidInput, match="at most 1000"):
        monitors.backfill("bounded", 0, 2000 * HOUR)
    with pytest.raises(InvalidInput, match="must come after"):
        monitors.backfill("bounded", T0, T0)
    with pytest.raises(InvalidInput, match="window must be"):
        evaluate(project, spec(), window=(5, 1), record=False)
    with pytest.raises(InvalidInput, match="Expected a MonitorSpec"):
        evaluate(project, {"name": "x"}, record=False)  # type: ignore[arg-type]


def test_a_reference_that_cannot_be_found_is_a_finding(project):
    result = evaluate(project, spec(reference="nothing@latest"), now_ms=T0 + HOUR, record=False)
    assert "no reference to compare with" in found(result, "data_drift").message
    assert found(result, "service", "p99_ms").score is not None  # the other checks still ran
