"""The evaluation request's arguments are spelled in five places (the SDK function, the
service and HTTP transports, the CLI and the REST schema); they must agree, names and
defaults, or one face silently drops or changes an argument."""

from __future__ import annotations

import inspect

from pydantic_core import PydanticUndefined

from keel.cli.models import evaluate as cli_evaluate
from keel.registry._evaluate import evaluate as core_evaluate
from keel.registry._http import HttpRegistry
from keel.registry._sdk import evaluate as sdk_evaluate
from keel.registry._service import RegistryService
from keel.server.routes.models import EvaluationRequest

REQUEST = {
    "data": inspect.Parameter.empty,
    "label": inspect.Parameter.empty,
    "against": None,
    "by": None,
    "gate": None,
    "backtest": None,
    "freq": "month",
}


def _arguments(fn) -> dict[str, object]:
    params = inspect.signature(fn).parameters
    return {name: params[name].default for name in params if name in REQUEST}


def test_every_python_face_takes_the_same_arguments_with_the_same_defaults() -> None:
    for fn in (sdk_evaluate, RegistryService.evaluate, HttpRegistry.evaluate, core_evaluate):
        assert _arguments(fn) == REQUEST, fn.__qualname__


def test_the_rest_schema_and_the_cli_take_the_same_arguments() -> None:
    fields = EvaluationRequest.model_fields
    assert set(fields) == set(REQUEST)
    for name, default in REQUEST.items():
        expected = ... if default is inspect.Parameter.empty else default
        got = fields[name].default
        assert (... if got is PydanticUndefined else got) == expected, name
    cli = inspect.signature(cli_evaluate).parameters
    assert set(REQUEST) <= set(cli)
    assert cli["freq"].default.default == "month"  # a typer.Option
    assert all(cli[n].default.default is None for n in ("against", "by", "gate", "backtest"))
