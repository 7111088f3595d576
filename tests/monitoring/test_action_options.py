"""Options beside an on_alert action (a webhook's timeout, a trigger's params) are checked
once, by the code that runs the actions, whether the monitor comes from YAML or from code."""

from __future__ import annotations

import pytest

from keel.errors import InvalidInput
from keel.monitoring import parse_monitor_text
from keel.monitoring._actions import parse_actions

HEAD = """\
name: credit-drift
deployment: credit-scoring
reference: credit:v1
window: {last: 500}
drift: {method: psi, threshold: 0.2}
on_alert:
"""


def test_trigger_pipeline_params_are_kept_for_the_queued_run() -> None:
    spec = parse_monitor_text(
        HEAD + "  - {trigger_pipeline: retrain, params: {months: [7, 8], c: 0.5}}\n"
    )
    assert spec.on_alert == (
        {"trigger_pipeline": "retrain", "params": {"months": [7, 8], "c": 0.5}},
    )
    (action,) = parse_actions(list(spec.on_alert))
    assert action.target == "retrain"
    assert action.options["params"] == {"months": [7, 8], "c": 0.5}
    (plain,) = parse_actions([{"trigger_pipeline": "retrain"}])
    assert plain.options["params"] is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{trigger_pipeline: retrain, params: 3}", "params must be a mapping"),
        ("{webhook: 'https://hooks.example/k', retries: 3}", "webhook has no option retries"),
        ("{log: true, webhook: 'https://hooks.example/k'}", "exactly one of"),
        ("{webhook: 'https://hooks.example/k', timeout: 0}", "timeout must be a number"),
    ],
)
def test_a_bad_option_is_refused_with_its_line(entry: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        parse_monitor_text(HEAD + f"  - {entry}\n")
    assert "line 7" in refused.value.message
