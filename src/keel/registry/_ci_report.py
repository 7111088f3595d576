"""``keel ci report``: what a pull request that trains a model needs to know before merging.

:func:`ci_report` evaluates a candidate version against the version it would replace (the
model's ``@champion`` by default) with :func:`~keel.registry._evaluate.evaluate` and decides
the gate with :mod:`keel.registry._gate`; nothing is re-implemented. It adds what the
registry already records: the versions' registered metrics, the candidate's recorded
evaluations (their segments and back-test windows when the run asked for none), and the
validation verdicts of the data the candidate's run was trained on.

Where the evaluation comes from: ``gate``, ``data`` and ``label`` as given, else those of
the candidate's latest evaluation with a gate, else those of the champion's (the gate the
champion passed is the bar). With no champion yet, the comparisons that name it are left
out and the rest of the gate decides alone (:meth:`~keel.registry._gate.Gate.without`).
The report itself is not recorded: promoting still needs ``keel models evaluate``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from keel.errors import InvalidInput, NotFound

from ._evaluate import SUMMARY, Evaluation, evaluate
from ._gate import parse_gate
from ._records import parse_model_ref

__all__ = ["CiReport", "ci_report"]

LOWER_IS_BETTER = frozenset(
    {"log_loss", "calibration_error", "mae", "rmse", "mape"}
    | {"latency_p50_ms", "latency_p95_ms", "latency_p99_ms"}
)
RECORDED_SHOWN = 5


@dataclass
class CiReport:
    """The comparison of a candidate with the version it would replace, and the verdict.

    ``passed`` is the gate's decision; ``comparison`` holds each metric on the evaluation
    data for ``candidate``, ``against`` (absent with no champion) and ``baseline``, with
    ``delta`` = candidate - against. ``segments`` and ``backtest`` rows carry the same
    per group; ``*_source`` says whether they come from this evaluation or a recorded one.
    """

    candidate: str
    against: str | None
    asked_against: str
    data: str
    label: str
    task: str
    gate: str
    passed: bool
    gate_detail: list[str]
    comparison: list[dict[str, Any]]
    registered: list[dict[str, Any]]
    segments: list[dict[str, Any]] = field(default_factory=list)
    segments_source: str | None = None
    backtest: list[dict[str, Any]] = field(default_factory=list)
    backtest_source: str | None = None
    training_data: list[dict[str, Any]] = field(default_factory=list)
    recorded: list[dict[str, Any]] = field(default_factory=list)
    beats_baseline: bool = True
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``keel ci report --json`` prints)."""
        return asdict(self)

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown for a pull request comment."""
        from ._ci_markdown import render

        return render(self)


def ci_report(
    client: Any,
    candidate: str,
    *,
    against: str | None = None,
    gate: str | None = None,
    data: str | None = None,
    label: str | None = None,
    by: str | None = None,
    backtest: str | None = None,
    freq: str = "month",
    trust: bool = False,
) -> CiReport:
    """Compare ``candidate`` with ``against`` and decide the gate (see the module).

    Args:
        client: a :class:`keel.Client` (on a store or a keel server).
        candidate: the version under review, e.g. ``credit:7`` or ``credit@latest``.
        against: what it would replace: ``@champion`` (the default), ``@alias``, ``N``, or
            a full reference; an alias of the model that is not set yet means "none yet".
        gate: e.g. ``roc_auc >= champion.roc_auc - 0.005``; by default the gate of the
            candidate's (else the champion's) latest gated evaluation.
        data: the evaluation dataset (``holdout:v3``); by default that evaluation's.
        label: the target column; by default that evaluation's.
        by: a column to compare the versions per value of (segments).
        backtest: a date column to compare them per ``freq`` window.
        freq: ``day``, ``week``, ``month`` or ``quarter``.
        trust: allow loading pyfunc packages (they unpickle code).

    Returns:
        The report; a failing gate is ``passed=False``, not an exception.

    Raises:
        InvalidInput: a malformed reference, gate or column, or no gate, data or label to
            be found.
        NotFound: the candidate (or an explicitly named version) does not exist.
    """
    models = client.models
    version = models.get(_ref(candidate))
    asked = _qualify(against or "@champion", version.model)
    notes: list[str] = []
    other = _against(models, asked, version.model, notes)
    recorded = list(models.evaluations(version))
    spec = _spec(models, version, other, recorded, gate, data, label)
    parsed = parse_gate(spec["gate"])
    applied = parsed if other is not None else parsed.without("against")
    if other is None:
        if applied is None:
            notes.append(
                "Every comparison of the gate names the champion: with none to beat, the "
                "gate passes."
            )
        elif applied.tree != parsed.tree:
            notes.append("The gate's comparisons with the champion are left out.")
    result = evaluate(
        models,
        version.ref,
        data=spec["data"],
        label=spec["label"],
        against=other.ref if other is not None else None,
        by=by,
        gate=spec["gate"] if other is not None else None,
        backtest=backtest,
        freq=freq,
        trust=trust,
        datasets=client.datasets,
        record=False,
    )
    if other is None:
        verdict = applied.check(result.metrics) if applied is not None else None
        result.passed = True if verdict is None else verdict.passed
        result.gate_detail = [] if verdict is None else verdict.details
    segments, segments_source = _grouped_views(result, recorded, "segments", by)
    windows, windows_source = _grouped_views(result, recorded, "backtest", backtest)
    return CiReport(
        candidate=version.ref,
        against=other.ref if other is not None else None,
        asked_against=asked,
        data=result.data,
        label=result.label,
        task=result.task,
        gate=spec["gate"],
        passed=bool(result.passed),
        gate_detail=list(result.gate_detail),
        comparison=_side_by_side(result.metrics),
        registered=_side_by_side(
            {"candidate": version.metrics, **({"against": other.metrics} if other else {})}
        ),
        segments=segments,
        segments_source=segments_source,
        backtest=windows,
        backtest_source=windows_source,
        training_data=_training_data(client, version, notes),
        recorded=[_summary(r) for r in recorded[-RECORDED_SHOWN:]],
        beats_baseline=result.beats_baseline,
        notes=[*spec["notes"], *notes],
        warnings=list(result.warnings),
    )


# -- what to compare ------------------------------------------------------------------------


def _ref(value: object) -> str:
    parse_model_ref(value)  # InvalidInput naming the accepted forms
    return str(value).strip()


def _qualify(against: str, model: str) -> str:
    """``@champion`` -> ``credit@champion``, ``3`` -> ``credit:3``; full references stay."""
    text = str(against).strip()
    if text.startswith("@"):
        text = f"{model}{text}"
    elif text.isdigit():
        text = f"{model}:{text}"
    return _ref(text)


def _against(models: Any, asked: str, model: str, notes: list[str]) -> Any:
    ref = parse_model_ref(asked)
    try:
        return models.get(asked)
    except NotFound:
        if ref.alias is None or ref.name != model:
            raise
    notes.append(
        f"{model} has no @{ref.alias} yet: nothing to compare with, the gate decides alone."
    )
    return None


def _spec(
    models: Any,
    version: Any,
    other: Any,
    recorded: list[dict[str, Any]],
    gate: str | None,
    data: str | None,
    label: str | None,
) -> dict[str, Any]:
    """The gate, data and label: as given, else from the latest gated evaluation of the
    candidate, else of the version compared with."""
    notes: list[str] = []
    source = None
    if gate is None or data is None or label is None:
        gated = [r for r in recorded if r.get("gate")]
        if not gated and other is not None:
            gated = [r for r in models.evaluations(other) if r.get("gate")]
        if gated:
            source = gated[-1]
    if source is not None:
        metrics = source.get("metrics") or {}
        taken = [n for n, v in (("gate", gate), ("data", data), ("label", label)) if v is None]
        gate = gate or source["gate"]
        data = data or source.get("data_ref")
        label = label or metrics.get("label")
        words = ", ".join(f"the {n}" for n in taken[:-1])
        words = f"{words} and the {taken[-1]}" if words else f"the {taken[-1]}"
        notes.append(
            f"{words[0].upper()}{words[1:]} {'come' if len(taken) > 1 else 'comes'} from the "
            "evaluation of "
            f"{metrics.get('candidate')} "
            f"recorded {_day(source.get('created_at'))}."
        )
    missing = [n for n, v in (("--gate", gate), ("--data", data), ("--label", label)) if not v]
    if missing:
        raise InvalidInput(
            f"No {', '.join(missing)} for the CI report of {version.ref}: no evaluation with a "
            f"gate is recorded for it or its champion. Give {' and '.join(missing)} (e.g. "
            "--gate 'roc_auc >= champion.roc_auc - 0.005' --data holdout:v1 --label default), "
            "or record one with 'keel models evaluate ... --gate ...'."
        )
    return {"gate": gate, "data": data, "label": label, "notes": notes}


# -- shaping the results -------------------------------------------------------------------


def _side_by_side(metrics: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per metric: each side's value and the candidate's change on ``against``."""
    names = list(dict.fromkeys(k for side in metrics.values() for k in side))
    rows = []
    for name in names:
        row: dict[str, Any] = {"metric": name}
        for side, values in metrics.items():
            row[side] = values.get(name)
        row["delta"] = None if name == "rows" else _delta(row.get("candidate"), row.get("against"))
        row["better"] = _better(name, row["delta"])
        rows.append(row)
    return rows


def _delta(candidate: Any, against: Any) -> float | None:
    if isinstance(candidate, int | float) and isinstance(against, int | float):
        return float(candidate) - float(against)
    return None


def _better(metric: str, delta: float | None) -> bool | None:
    """Whether the change is an improvement; None when there is none or no direction."""
    if delta is None or delta == 0 or metric in ("rows", "throughput_rows_s"):
        return None
    return delta < 0 if metric in LOWER_IS_BETTER else delta > 0


def _grouped_views(
    result: Evaluation, recorded: list[dict[str, Any]], kind: str, asked: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Segments or back-test windows as rows of summary metrics with their deltas: this
    evaluation's when asked for, else the latest recorded evaluation's that has them."""
    groups = _groups_of(result.to_dict(), kind)
    source = f"this evaluation, by {asked!r} on {result.data}" if groups else None
    if not groups and asked is None:
        for row in reversed(recorded):
            groups = _groups_of(row.get("metrics") or {}, kind)
            if groups:
                stored = row.get("metrics") or {}
                source = (
                    f"the recorded evaluation of {stored.get('candidate')} against "
                    f"{stored.get('against') or 'nothing'} on {row.get('data_ref')}, "
                    f"{_day(row.get('created_at'))}"
                )
                break
    summary = SUMMARY.get(result.task, ())
    rows = []
    for key, views in groups:
        candidate, other = views.get("candidate") or {}, views.get("against") or {}
        row: dict[str, Any] = {"group": key, "rows": candidate.get("rows")}
        for metric in summary:
            row[metric] = {
                "candidate": candidate.get(metric),
                "against": other.get(metric),
                "delta": _delta(candidate.get(metric), other.get(metric)),
            }
        rows.append(row)
    return rows, source


def _groups_of(evaluation: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    if kind == "segments":
        return list((evaluation.get("segments") or {}).items())
    return [(w["window"], w) for w in evaluation.get("backtest") or [] if "window" in w]


def _training_data(client: Any, version: Any, notes: list[str]) -> list[dict[str, Any]]:
    """The dataset versions the candidate's run read, each with its latest validation."""
    if not version.run_id:
        notes.append(f"{version.ref} has no source run, so its training data is unknown.")
        return []
    graph = client.lineage(f"run:{version.run_id}", direction="up", depth=1)
    refs = sorted(
        graph.nodes[e.src].label
        for e in graph.edges
        if e.dst == ("run", version.run_id) and e.src[0] == "dataset_version"
    )
    if not refs:
        notes.append(f"The run of {version.ref} recorded no input dataset.")
    out = []
    for ref in refs:
        reports = client.reports(ref, limit=20)
        latest = reports[0] if reports else {}
        out.append(
            {
                "dataset": ref,
                "reports": len(reports),
                "passed": latest.get("passed"),
                "summary": _verdict_summary(latest.get("summary")),
                "report": latest.get("id"),
                "validated_at": latest.get("created_at"),
            }
        )
    return out


def _verdict_summary(summary: Any) -> str | None:
    """A report's summary in words: ``21 checks, 1 failed (1 error, 0 warnings), 400 rows``."""
    if not isinstance(summary, dict):
        return None if summary is None else str(summary)
    words = f"{summary.get('checks', '?')} checks, {summary.get('failed', '?')} failed"
    if "errors" in summary or "warnings" in summary:
        words += f" ({summary.get('errors', 0)} errors, {summary.get('warnings', 0)} warnings)"
    if isinstance(summary.get("rows"), int):
        words += f", {summary['rows']:,} rows"
    return words


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    metrics = row.get("metrics") or {}
    return {
        "id": row.get("id"),
        "created_at": row.get("created_at"),
        "data": row.get("data_ref"),
        "against": metrics.get("against"),
        "gate": row.get("gate"),
        "passed": row.get("passed"),
    }


def _day(ms: Any) -> str:
    from datetime import UTC, datetime

    if not isinstance(ms, int | float):
        return "at an unknown time"
    return "on " + datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
