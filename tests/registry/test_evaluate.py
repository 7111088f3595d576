"""Evaluation on SQLite and PostgreSQL: metrics equal scikit-learn's, baseline, segments,
gates, back-tests, and the recorded gate that a promotion policy reads."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeRegressor

from keel.data import DatasetService
from keel.errors import InvalidInput, PermissionDenied
from keel.registry import _metrics
from keel.registry._evaluate import Evaluation, evaluate
from keel.registry._gate import parse_gate
from keel.registry._metrics import FREQUENCIES, expected_calibration_error, time_windows
from keel.registry._service import Actor, RegistryService
from keel.store import Store

FEATURES = ["income", "debt"]


@pytest.fixture(autouse=True)
def _few_latency_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_metrics, "LATENCY_CALLS", 20)


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "debt": rng.uniform(0, 1, n),
            "region": rng.choice(["north", "east", "west"], n),
            "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 121, n), "D"),
        }
    )
    frame["default"] = (frame["debt"] + rng.normal(0, 0.25, n) > 0.5).astype(int)
    frame["amount"] = 3 * frame["debt"] + frame["income"] / 10 + rng.normal(0, 0.3, n)
    return frame


@pytest.fixture
def train() -> pd.DataFrame:
    return make_frame(400, 0)


@pytest.fixture
def holdout() -> pd.DataFrame:
    return make_frame(300, 1)


@pytest.fixture
def registry(store: Store, train: pd.DataFrame, holdout: pd.DataFrame) -> RegistryService:
    """credit:1 (C=1e-4, weak) and credit:2 (C=10); holdout:v1 in the same store."""
    service = RegistryService(store, actor=Actor("alice", "admin"))
    X, y = train[FEATURES], train["default"]
    for c in (1e-4, 10.0):
        service.register(LogisticRegression(C=c).fit(X, y), "credit", input_example=X.head())
    DatasetService(store).log(holdout, "holdout")
    return service


def models(train: pd.DataFrame) -> tuple[LogisticRegression, LogisticRegression]:
    X, y = train[FEATURES], train["default"]
    return LogisticRegression(C=1e-4).fit(X, y), LogisticRegression(C=10.0).fit(X, y)


def naive_ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (p >= lo) & ((p < hi) if b < bins - 1 else (p <= hi))
        if inside.any():
            total += inside.sum() / len(p) * abs(y[inside].mean() - p[inside].mean())
    return total


def test_classification_metrics_segments_and_windows_equal_sklearn(
    registry: RegistryService, train: pd.DataFrame, holdout: pd.DataFrame
) -> None:
    result = evaluate(
        registry,
        "credit:2",
        data="holdout:v1",
        label="default",
        against="credit:1",
        by="region",
        backtest="date",
        freq="month",
        record=False,
    )
    assert (result.candidate, result.against, result.data) == ("credit:2", "credit:1", "holdout:v1")
    assert result.task == "classification"
    weak, strong = models(train)
    X, y = holdout[FEATURES], holdout["default"].to_numpy()
    for side, model in (("candidate", strong), ("against", weak)):
        got, proba = result.metrics[side], model.predict_proba(X)
        predicted = model.predict(X)
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
        assert got["precision"] == pytest.approx(skm.precision_score(y, predicted, zero_division=0))
        assert got["recall"] == pytest.approx(skm.recall_score(y, predicted))
        assert got["f1"] == pytest.approx(skm.f1_score(y, predicted))
        assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
        assert got["log_loss"] == pytest.approx(skm.log_loss(y, proba))
        assert got["calibration_error"] == pytest.approx(naive_ece(y, proba[:, 1]))
        assert got["rows"] == len(holdout)
        assert got["latency_p50_ms"] <= got["latency_p99_ms"]
        assert got["throughput_rows_s"] > 0
    baseline = result.metrics["baseline"]
    assert baseline["accuracy"] == pytest.approx(max(y.mean(), 1 - y.mean()))
    assert baseline["roc_auc"] == pytest.approx(0.5)
    assert baseline["log_loss"] == pytest.approx(
        skm.log_loss(y, np.tile([1 - y.mean(), y.mean()], (len(y), 1)))
    )
    assert "latency_p99_ms" not in baseline
    assert result.beats_baseline
    assert result.metrics["candidate"]["roc_auc"] > result.metrics["against"]["roc_auc"]
    assert result.to_dict()["metrics"] == result.metrics

    # segments: each region's rows, scored from the same predictions
    assert result.segments is not None
    assert list(result.segments) == ["east", "north", "west"]
    for region, views in result.segments.items():
        part = holdout[holdout["region"] == region]
        proba = strong.predict_proba(part[FEATURES])[:, 1]
        assert set(views) == {"candidate", "against"}
        assert views["candidate"]["rows"] == len(part)
        assert views["candidate"]["roc_auc"] == pytest.approx(
            skm.roc_auc_score(part["default"], proba)
        )
        assert views["against"]["accuracy"] == pytest.approx(
            skm.accuracy_score(part["default"], weak.predict(part[FEATURES]))
        )

    # back-test: calendar months in order, both models in each
    assert result.backtest is not None
    assert [w["window"] for w in result.backtest] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    months = holdout["date"].dt.strftime("%Y-%m")
    for window in result.backtest:
        part = holdout[months == window["window"]]
        assert window["rows"] == len(part) == window["candidate"]["rows"]
        for side, model in (("candidate", strong), ("against", weak)):
            assert window[side]["accuracy"] == pytest.approx(
                skm.accuracy_score(part["default"], model.predict(part[FEATURES]))
            )
    report = result.to_markdown()
    assert "### Segments" in report
    assert "### Back-test" in report


def test_regression_metrics_equal_sklearn(
    store: Store, train: pd.DataFrame, holdout: pd.DataFrame
) -> None:
    registry = RegistryService(store)
    model = DecisionTreeRegressor(max_depth=4, random_state=0).fit(train[FEATURES], train["amount"])
    registry.register(model, "amount", input_example=train[FEATURES].head())
    DatasetService(store).log(holdout, "holdout")
    result = evaluate(registry, "amount:1", data="holdout", label="amount", record=False)
    assert result.task == "regression"
    y, predicted = holdout["amount"].to_numpy(), model.predict(holdout[FEATURES])
    got = result.metrics["candidate"]
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted))
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, predicted)))
    assert got["r2"] == pytest.approx(skm.r2_score(y, predicted))
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, predicted))
    assert result.metrics["baseline"]["rmse"] == pytest.approx(y.std())
    assert result.metrics["baseline"]["r2"] == pytest.approx(0.0)
    assert result.beats_baseline
    assert set(result.metrics) == {"candidate", "baseline"}


def test_a_dummy_model_does_not_beat_the_baseline(
    registry: RegistryService, train: pd.DataFrame
) -> None:
    dummy = DummyClassifier(strategy="prior").fit(train[FEATURES], train["default"])
    registry.register(dummy, "credit", input_example=train[FEATURES].head())
    result = evaluate(registry, "credit:3", data="holdout:v1", label="default", record=False)
    assert not result.beats_baseline
    assert any(
        re.search(r"credit:3 does not beat the trivial baseline \(the majority class.*roc_auc", w)
        for w in result.warnings
    )
    assert result.metrics["candidate"]["roc_auc"] == pytest.approx(0.5)


def test_gates_pass_and_fail_with_their_values(registry: RegistryService) -> None:
    def run(candidate: str, against: str, gate: str):
        return evaluate(
            registry,
            candidate,
            data="holdout:v1",
            label="default",
            against=against,
            gate=gate,
            record=False,
        )

    gate = "roc_auc >= champion.roc_auc - 0.005 and latency_p99_ms <= 10000"
    better = run("credit:2", "credit:1", gate)
    assert better.passed is True
    auc, champion = better.metrics["candidate"]["roc_auc"], better.metrics["against"]["roc_auc"]
    assert better.gate_detail[0] == (
        f"roc_auc {auc:.6g} >= champion.roc_auc {champion:.6g} - 0.005: true"
    )
    assert re.fullmatch(r"latency_p99_ms [\d.e+-]+ <= 10000: true", better.gate_detail[1])
    worse = run("credit:1", "credit:2", gate)
    assert worse.passed is False
    assert worse.gate_detail[0].endswith(": false")
    either = run(
        "credit:1", "credit:2", "roc_auc > champion.roc_auc or accuracy > baseline.accuracy / 2"
    )
    assert either.passed is True
    assert [d.rsplit(": ", 1)[1] for d in either.gate_detail] == ["false", "true"]


def test_errors_name_the_position_the_metrics_and_the_columns(registry: RegistryService) -> None:
    def run(gate: str, against: str | None = "credit:1") -> None:
        evaluate(
            registry,
            "credit:2",
            data="holdout:v1",
            label="default",
            against=against,
            gate=gate,
            record=False,
        )

    with pytest.raises(InvalidInput, match=r"syntax error at position 11: expected a number"):
        run("roc_auc >= and accuracy > 0")
    with pytest.raises(InvalidInput, match=r"position 8: unexpected character '='.*'=='"):
        run("roc_auc = 0.9")
    with pytest.raises(
        InvalidInput,
        match=r"Unknown metric 'roc_aux'.*Did you mean 'roc_auc'\?.*Available metrics: accuracy,",
    ):
        run("roc_aux >= 0.5")
    with pytest.raises(InvalidInput, match=r"Unknown metric 'rmse'.*calibration_error"):
        run("rmse <= champion.rmse")
    with pytest.raises(InvalidInput, match=r"names against.roc_auc.*no against model"):
        run("roc_auc >= champion.roc_auc", against=None)
    with pytest.raises(InvalidInput, match=r"Unknown model 'champ'.*Did you mean 'champion'"):
        run("roc_auc >= champ.roc_auc")
    with pytest.raises(InvalidInput, match=r"baseline metric 'latency_p99_ms'"):
        run("latency_p99_ms <= baseline.latency_p99_ms")
    with pytest.raises(InvalidInput, match=r"no label column 'defualt'.*Did you mean 'default'"):
        evaluate(registry, "credit:2", data="holdout:v1", label="defualt")
    with pytest.raises(InvalidInput, match=r"task must be one of classification, regression"):
        evaluate(registry, "credit:2", data="holdout:v1", label="default", task="ranking")
    with pytest.raises(InvalidInput, match=r"no segment column 'state'"):
        evaluate(registry, "credit:2", data="holdout:v1", label="default", by="state")
    with pytest.raises(InvalidInput, match=r"frequency 'monthly' is not one of.*'month'"):
        evaluate(
            registry, "credit:2", data="holdout", label="default", backtest="date", freq="monthly"
        )


def test_a_model_without_a_signature_is_scored_on_the_columns_it_was_fitted_on(
    registry: RegistryService, train: pd.DataFrame
) -> None:
    X, y = train[FEATURES], train["default"]
    unsigned = registry.register(LogisticRegression().fit(X, y), "bare")  # no input_example
    result = evaluate(registry, unsigned.ref, data="holdout:v1", label="default", record=False)
    assert result.metrics["candidate"]["roc_auc"] > 0.5  # region, date and amount left out
    fitted_on_arrays = LogisticRegression().fit(X.to_numpy(), y)  # no column names at all
    anonymous = registry.register(fitted_on_arrays, "anonymous")
    with pytest.raises(
        InvalidInput, match=r"anonymous:1 cannot score the evaluation rows.*input_example="
    ):
        evaluate(registry, anonymous.ref, data="holdout:v1", label="default", record=False)


def test_recorded_gate_lets_the_policy_promote(registry: RegistryService) -> None:
    registry.set_policy("credit", {"aliases": {"champion": {"approvals": 0, "gate": True}}})
    with pytest.raises(PermissionDenied, match="no passing evaluation gate"):
        registry.set_alias("credit:2", "champion")
    failing = evaluate(
        registry, "credit:2", data="holdout:v1", label="default", gate="roc_auc >= 0.999"
    )
    assert failing.passed is False
    with pytest.raises(PermissionDenied, match="no passing evaluation gate"):
        registry.set_alias("credit:2", "champion")
    evaluate(
        registry,
        "credit:2",
        data="holdout:v1",
        label="default",
        against="credit:1",
        gate="roc_auc >= champion.roc_auc - 0.005",
    )
    assert registry.set_alias("credit:2", "champion").aliases == ("champion",)
    stored = registry.evaluations("credit:2")
    assert [(e["gate"], e["passed"]) for e in stored] == [
        ("roc_auc >= 0.999", False),
        ("roc_auc >= champion.roc_auc - 0.005", True),
    ]
    assert stored[1]["data_ref"] == "holdout:v1"
    assert stored[1]["baseline_id"] == registry.get("credit:1").id
    assert stored[1]["metrics"]["metrics"]["candidate"]["rows"] == 300
    assert Evaluation.from_dict(stored[1]["metrics"]).gate_detail[0].endswith(": true")
    report = registry.store.objects.read_bytes(stored[1]["report_digest"]).decode()
    assert "Gate `roc_auc >= champion.roc_auc - 0.005`: **passed**" in report


# -- pure parts ---------------------------------------------------------------------------


def test_ece_is_zero_for_perfect_calibration_and_matches_a_loop() -> None:
    p = np.repeat([0.05, 0.35, 0.75], 20)
    y = np.concatenate(
        [np.zeros(19), [1], np.r_[np.ones(7), np.zeros(13)], np.r_[np.ones(15), np.zeros(5)]]
    )
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    assert expected_calibration_error(np.ones(4), np.zeros(4)) == pytest.approx(1.0)


@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1, allow_nan=False)), min_size=1, max_size=200)
)
def test_ece_property(rows: list[tuple[bool, float]]) -> None:
    y = np.array([r[0] for r in rows], dtype=float)
    p = np.array([r[1] for r in rows])
    assert expected_calibration_error(y, p) == pytest.approx(naive_ece(y, p), abs=1e-12)
    assert 0.0 <= expected_calibration_error(y, p) <= 1.0


numbers = st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def expressions(draw, depth: int = 3) -> tuple[str, float]:
    """An arithmetic expression over numbers and 'accuracy' (0.75), with its value."""
    if depth == 0 or draw(st.booleans()):
        if draw(st.booleans()):
            return "accuracy", 0.75
        value = abs(draw(numbers))
        return repr(value), value
    left, lv = draw(expressions(depth - 1))
    right, rv = draw(expressions(depth - 1))
    op = draw(st.sampled_from("+-*"))
    value = {"+": lv + rv, "-": lv - rv, "*": lv * rv}[op]
    return f"({left} {op} {right})", value


def test_time_windows_label_days_weeks_months_and_quarters() -> None:
    dates = pd.Series(pd.to_datetime(["2024-03-31 23:00", "2024-04-01 00:00", "2024-12-30 09:00"]))
    labels = {f: list(time_windows(dates, f).astype(str)) for f in FREQUENCIES}
    assert labels == {
        "day": ["2024-03-31", "2024-04-01", "2024-12-30"],
        "week": ["2024-03-25/2024-03-31", "2024-04-01/2024-04-07", "2024-12-30/2025-01-05"],
        "month": ["2024-03", "2024-04", "2024-12"],
        "quarter": ["2024Q1", "2024Q2", "2024Q4"],
    }
    utc = pd.Series(["2024-03-31T23:30:00-02:00"], name="at")
    assert list(time_windows(utc, "month").astype(str)) == ["2024-04"]
    with pytest.raises(
        InvalidInput, match=r"column 'at' holds .* not ISO 8601 dates \(Time data soon"
    ):
        time_windows(pd.Series(["soon"], name="at"), "month")


@settings(max_examples=60)
@given(expressions(), st.sampled_from([">=", "<=", ">", "<"]))
def test_gate_arithmetic_equals_python(expression: tuple[str, float], op: str) -> None:
    text, value = expression
    metrics = {"candidate": {"accuracy": 0.75, "rows": value}}
    result = parse_gate(f"rows {op} {text}").check(metrics)
    expected = op in (">=", "<=")
    assert result.passed is expected
    assert result.details[0].endswith(f": {str(expected).lower()}")


def test_gate_precedence_and_grouping() -> None:
    metrics = {"candidate": {"a": 1.0, "b": 2.0}, "against": {"a": 3.0}, "baseline": {}}
    assert parse_gate("a + b * 2 == 5").check(metrics).passed
    assert parse_gate("(a + b) * 2 == 6").check(metrics).passed
    assert parse_gate("a - b - 1 == -2").check(metrics).passed
    assert parse_gate("b / 2 / 2 == 0.5").check(metrics).passed
    assert parse_gate("a > 5 or b > 1 and a < 0").check(metrics).passed is False
    assert parse_gate("(a > 5 or b > 1) and against.a == 3").check(metrics).passed
    assert parse_gate("a >= 1 AND b <= 2").check(metrics).passed
    detail = parse_gate("(a + b) * 2 >= against.a").check(metrics).details
    assert detail == ["(a 1 + b 2) * 2 >= against.a 3: true"]
