"""The DSL: steps, DAGs from calls, typed params, and bad input refused before anything runs."""

from __future__ import annotations

import pytest

import keel
from keel.errors import InvalidInput
from keel.pipelines._dsl import Graph, Node
from keel.pipelines._params import check_params, parse_assignments

from .flows import branches, load, retrain


def test_a_step_outside_a_pipeline_is_the_plain_function() -> None:
    frame = load(2)
    assert len(frame) == 22


def test_the_dag_comes_from_the_calls() -> None:
    spec = retrain.spec()
    assert spec["entrypoint"] == "tests.pipelines.flows:retrain"
    assert [s["name"] for s in spec["steps"]] == ["load", "train", "score"]
    steps = {s["name"]: s for s in spec["steps"]}
    assert steps["load"]["params"] == {"month": {"$param": "month"}}
    assert steps["train"]["inputs"] == {"data": "load.return"}
    assert steps["train"]["params"] == {"c": {"$param": "c"}}
    assert steps["score"]["inputs"] == {"model": "train.return", "data": "load.return"}
    assert spec["params"] == {
        "month": {"type": "int", "default": 6},
        "c": {"type": "float", "default": 1.0},
    }
    assert spec["triggers"] == [{"kind": "schedule", "cron": "0 3 * * *"}]
    assert spec["output"] == "score.return"


def test_a_step_called_twice_gets_a_second_name() -> None:
    spec = branches.spec()
    assert [s["name"] for s in spec["steps"]] == ["numbers", "pid_of", "pid_of_2", "join"]
    assert spec["steps"][2]["params"] == {"tag": "b"}


def test_params_are_coerced_from_text_and_checked() -> None:
    assert retrain.check_params({"month": "7", "c": "0.5"}) == {"month": 7, "c": 0.5}
    assert retrain.check_params({}) == {"month": 6, "c": 1.0}
    assert retrain.check_params({"c": 2}) == {"month": 6, "c": 2.0}
    with pytest.raises(InvalidInput, match="'month' must be an int .*Got 'seven'"):
        retrain.check_params({"month": "seven"})
    with pytest.raises(InvalidInput, match=r"must be an int .*Got 1.5"):
        retrain.check_params({"month": 1.5})
    with pytest.raises(InvalidInput, match="must be an int .*Got True"):
        retrain.check_params({"month": True})
    with pytest.raises(InvalidInput, match="no param 'mnth'. Did you mean 'month'"):
        retrain.check_params({"mnth": 7})


def test_bool_list_and_required_params() -> None:
    declared = {
        "flag": {"type": "bool", "default": False},
        "cols": {"type": "list", "default": []},
        "name": {"type": "str", "required": True},
    }
    assert check_params("p", declared, {"flag": "yes", "cols": '["a", "b"]', "name": "x"}) == {
        "flag": True,
        "cols": ["a", "b"],
        "name": "x",
    }
    with pytest.raises(InvalidInput, match="needs the param 'name'"):
        check_params("p", declared, {})
    with pytest.raises(InvalidInput, match="'cols' must be a list"):
        check_params("p", declared, {"cols": "[1,", "name": "x"})
    with pytest.raises(InvalidInput, match="'flag' must be a bool"):
        check_params("p", declared, {"flag": "maybe", "name": "x"})
    assert parse_assignments(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(InvalidInput, match="name=value"):
        parse_assignments(["oops"])


def test_a_missing_input_is_refused_naming_the_step() -> None:
    @keel.step
    def needs_two(a: int, b: int) -> int:
        return a + b

    @keel.pipeline
    def broken(a: int = 1):
        return needs_two(a)

    with pytest.raises(InvalidInput, match="Step 'needs_two' is called with the wrong arguments"):
        broken.spec()


def test_a_cycle_is_refused() -> None:
    step = keel.step(lambda x: x, name="s")  # a lambda with a name
    graph = Graph()
    from keel.pipelines._dsl import Handle

    graph.nodes["a"] = Node("a", step, inputs={"x": Handle("b")})
    graph.nodes["b"] = Node("b", step, inputs={"x": Handle("a")})
    with pytest.raises(InvalidInput, match="form a cycle: a -> b -> a"):
        graph.order()
    graph.nodes["b"] = Node("b", step, inputs={"x": Handle("ghost")})
    with pytest.raises(InvalidInput, match="input from 'ghost', which is not a step"):
        graph.order()


def test_a_param_that_is_not_json_is_refused() -> None:
    @keel.step
    def takes(value: object) -> int:
        return 1

    @keel.pipeline
    def odd():
        return takes(object())

    with pytest.raises(InvalidInput, match="neither a step's output nor a JSON value"):
        odd.spec()


def test_branching_on_a_param_while_building_is_refused() -> None:
    @keel.step
    def one(x: int) -> int:
        return x

    @keel.pipeline
    def branchy(flag: bool = True):
        if flag:
            return one(1)
        return one(2)

    with pytest.raises(InvalidInput, match="has no value while the DAG is built"):
        branchy.spec()


def test_bad_step_options_are_refused() -> None:
    with pytest.raises(InvalidInput, match="retries must be a whole number"):
        keel.step(retries=-1)(lambda: 1)
    with pytest.raises(InvalidInput, match="resource 'gpu'"):
        keel.step(resources={"gpu": 1}, name="x")(lambda: 1)
    with pytest.raises(InvalidInput, match="save\\(value, ctx\\)"):
        keel.step(materializer=object())(lambda: 1)
    with pytest.raises(InvalidInput, match="Step name '<lambda>' is not valid"):
        keel.step(lambda: 1)
    with pytest.raises(InvalidInput, match="Pipeline name"):
        keel.pipeline(name="bad name!")(lambda: None)


def test_several_outputs_give_several_handles() -> None:
    @keel.step(outputs=("low", "high"))
    def split(n: int):
        return list(range(n)), list(range(n, 2 * n))

    @keel.step
    def total(a: list, b: list) -> int:
        return sum(a) + sum(b)

    @keel.pipeline
    def halves(n: int = 3):
        low, high = split(n)
        return total(low, high)

    spec = halves.spec()
    assert spec["steps"][1]["inputs"] == {"a": "split.low", "b": "split.high"}


def test_computing_with_a_param_in_the_pipeline_function_is_refused() -> None:
    @keel.step
    def one(x: int) -> int:
        return x

    @keel.pipeline
    def arithmetic(n: int = 1):
        return one(n + 1)

    with pytest.raises(InvalidInput, match="failed while its DAG was built: .*inside a step"):
        arithmetic.run()


def test_triggers_are_checked_when_the_pipeline_is_made() -> None:
    import keel
    from keel.errors import InvalidInput

    def body(data_ref: str = "") -> None:
        return None

    made = keel.pipeline(name="ok", triggers=[keel.on_dataset("credit", param="data_ref")])(body)
    assert made.triggers == [{"kind": "dataset", "dataset": "credit", "param": "data_ref"}]
    with pytest.raises(InvalidInput, match="passes param 'month'.*Params: data_ref"):
        keel.pipeline(name="bad", triggers=[keel.on_dataset("credit", param="month")])(body)
    with pytest.raises(InvalidInput, match="Pipeline 'odd': .*keel.cron"):
        keel.pipeline(name="odd", triggers=["0 3 * * *"])(body)
    with pytest.raises(InvalidInput, match="Pipeline 'odd2': "):
        keel.pipeline(name="odd2", triggers=[{"kind": "nightly"}])(body)
