"""A parsed spec remembers the line of each field; lines are not part of the spec."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from keel.deploy import DeploymentSpec, parse_spec, parse_spec_text
from keel.errors import InvalidInput

from .conftest import CANARY, SPEC


def test_lines_of_fields_and_items(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(SPEC)
    spec = parse_spec(path)
    assert spec.source == str(path)
    assert spec.lines["name"] == 1
    assert spec.lines["routes.0"] == 4
    assert spec.lines["routes.1.version"] == 5
    assert spec.lines["shadow.0"] == 6
    assert spec.lines["batching.max_wait_ms"] == 7
    assert spec.locate("routes.1.version") == f"{path} line 5 (routes.1.version)"
    # a field the file does not hold is placed at its nearest parent
    assert spec.locate("batching.other") == f"{path} line 7 (batching.other)"
    assert spec.locate("limits.max_queue") == f"{path} (limits.max_queue)"


def test_lines_are_not_part_of_the_spec() -> None:
    parsed = parse_spec_text(CANARY, source="c.yaml")
    plain = DeploymentSpec.from_dict(parsed.to_dict())
    assert plain == parsed
    assert hash(plain) == hash(parsed)
    assert plain.lines == {}
    assert "lines" not in parsed.to_dict()
    assert "source" not in parsed.to_dict()
    assert "lines" not in repr(parsed)
    assert plain.locate("routes.0.version") == "Deployment field routes.0.version"
    assert replace(plain, source="x.yaml", lines={"routes": 3}).locate("routes.0") == (
        "x.yaml line 3 (routes.0)"
    )


def test_text_is_never_read_as_a_path(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(SPEC)
    with pytest.raises(InvalidInput, match="a deployment is a mapping"):
        parse_spec_text(str(tmp_path / "d.yaml"))
    with pytest.raises(InvalidInput, match="is YAML text, not bytes"):
        parse_spec_text(SPEC.encode())  # type: ignore[arg-type]
