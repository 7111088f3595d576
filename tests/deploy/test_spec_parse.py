"""Deployment specs: the issue's example parses; every mistake names its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.deploy import DeploymentSpec, parse_duration, parse_spec, qualify
from keel.errors import InvalidInput

EXAMPLE = """\
name: credit-scoring
model: credit
routes:                      # A/B split; weights sum to 100
  - {version: "@champion", weight: 90}
  - {version: "@challenger", weight: 10}
shadow: ["credit:7"]         # runs on live traffic, never answers, is logged
sticky_key: customer_id
canary: {steps: [5, 25, 50, 100], interval: 5m, max_error_rate: 0.01, max_p99_ms: 50}
batching: {max_batch_size: 64, max_wait_ms: 2}
logging: {sample: 1.0, exclude: [ssn], hash: [customer_id]}
limits: {max_body_bytes: 1048576, max_queue: 1024}
"""


def test_the_issue_example_parses_into_every_field(tmp_path: Path) -> None:
    path = tmp_path / "credit.yaml"
    path.write_text(EXAMPLE)
    spec = parse_spec(path)
    assert spec.name == "credit-scoring"
    assert [(r.version, r.weight) for r in spec.routes] == [("@champion", 90), ("@challenger", 10)]
    assert spec.refs == ("credit@champion", "credit@challenger", "credit:7")
    assert spec.sticky_key == "customer_id"
    assert spec.canary is not None
    assert spec.canary.steps == (5, 25, 50, 100)
    assert spec.canary.interval == 300
    assert spec.canary.max_p99_ms == 50
    assert spec.batching.max_batch_size == 64
    assert spec.logging.exclude == ("ssn",)
    assert spec.logging.hash == ("customer_id",)
    assert spec.limits.max_queue == 1024
    assert DeploymentSpec.from_dict(spec.to_dict()) == spec
    assert parse_spec(str(path)) == parse_spec(EXAMPLE)


def test_a_model_reference_becomes_a_one_route_deployment() -> None:
    spec = DeploymentSpec.for_model("credit@champion")
    assert (spec.name, spec.model, spec.refs) == ("credit", "credit", ("credit@champion",))
    assert spec.routes[0].weight == 100
    assert spec.canary is None


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("name: a\nmodel: b\nroutes:\n  - {version: 3, weight: 50}\n", 4, "sum to 50"),
        ("name: a\nmodel: b\nroutes:\n  - {version: 3, weight: 100}\n  - 4\n", 5, "weight"),
        ("name: a\nmodel: b\ncanary: {steps: [5, 2, 100]}\n", 3, "rise strictly"),
        ("name: a\nmodel: b\ncanary: {interval: soon}\n", 3, "duration"),
        ("name: a\nmodel: b\nbatching:\n  max_batch_size: 0\n", 4, "out of range"),
        ("name: a\nmodel: b\nlogging: {exclude: [x], hash: [x]}\n", 3, "both excluded"),
        ("name: a\nmodel: b\nroutes: [{version: 'credit::4', weight: 100}]\n", 3, "reference"),
        ("name: a\nmodel: b\nwieghts: 3\n", 3, "unknown field 'wieghts'"),
        ("name: a\n", 1, "missing field 'model'"),
        ("name: a\nmodel: b\n  x: [\n", 3, "not valid YAML"),
        ("name: a\nmodel: b\nshadow: ['@champion']\n", 3, "already answers"),
        ("- 1\n- 2\n", None, "mapping"),
    ],
)
def test_each_mistake_names_its_line_and_reason(text: str, line: int | None, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_spec(text)
    message = str(caught.value)
    assert words in message
    if line is not None:
        assert f"line {line}" in message


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="No deployment file"):
        parse_spec(tmp_path / "nope.yaml")


def test_durations_and_qualified_references() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("5m") == 300
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration(2) == 2
    for bad in ("-1s", "0", "soon", True, float("nan")):
        with pytest.raises(InvalidInput):
            parse_duration(bad)
    assert qualify("@champion", "credit") == "credit@champion"
    assert qualify("7", "credit") == "credit:7"
    assert qualify("other:3", "credit") == "other:3"
