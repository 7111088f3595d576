"""Crafted skops files: every way skops can construct or call an object, refused unless trusted.

Each crafted file is a real attack: loaded with ``trust=True`` its payload runs (a marker
file appears), which proves the test would catch a loader that let it through. Without
trust, loading refuses it with a message naming the type, and the payload never runs.
"""

from __future__ import annotations

import datetime
import io
import json
import operator
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeClassifier

from keel.errors import IntegrityError, PermissionDenied
from keel.registry.flavors._sklearn import MODEL_FILE, TYPES_FILE, SklearnFlavor, loads_checked
from keel.registry.flavors._skops_quick import defer_in_place

RUN_SCRIPT = ("sklearn.utils._testing", "assert_run_python_script_without_output")
"""A function under ``sklearn.`` that runs a Python script: the deny-list let it through."""

X, Y = make_classification(120, 4, n_informative=3, n_redundant=0, random_state=0)
X = np.abs(X)


@pytest.fixture(autouse=True, params=["skops as imported", "skops defaults deferred"])
def skops_defaults(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: with skops' default lists computed, and deferred as a fresh
    process's first load leaves them (keel then checks each name itself)."""
    if request.param == "skops defaults deferred":
        defer_in_place(monkeypatch.setattr)
    return request.param


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "payload-ran"


def _schema(raw: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return json.loads(files.pop("schema.json")), files


def _pack(schema: dict[str, Any], files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "__loader__" in node:
            yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def _craft(model: object, loader: str, change: Callable[[dict[str, Any]], None]) -> bytes:
    """Dump ``model``, apply ``change`` to its first node loaded by ``loader``, repack."""
    schema, files = _schema(sio.dumps(model))
    node = next(n for n in _nodes(schema) if n["__loader__"] == loader)
    change(node)
    return _pack(schema, files)


def _json_str(value: str) -> dict[str, Any]:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
        "__id__": id(value),
    }


def _payload(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def _load(raw: bytes, folder: Path, *, trust: bool, listed: list[str] | None = None) -> Any:
    """Load through the flavor as a package would; ``listed`` is what the attacker claims."""
    folder.mkdir(exist_ok=True)
    (folder / MODEL_FILE).write_bytes(raw)
    (folder / TYPES_FILE).write_text(json.dumps(listed or []))
    return SklearnFlavor().load(folder, trust=trust)


# -- construction at load time --------------------------------------------------------------


def _empty_dict() -> dict[str, Any]:
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": {},
        "key_types": {
            "__class__": "list",
            "__module__": "builtins",
            "__loader__": "ListNode",
            "content": [],
        },
    }


def _with_extra_attribute() -> Any:
    model = SGDClassifier(random_state=0).fit(X, Y)
    model.extra_ = datetime.timezone(datetime.timedelta(hours=1))  # a constructor call
    return model


@pytest.mark.parametrize("loader", ["ConstructorFromReduceNode", "LossNode"])
def test_constructor_runs_a_script_at_load_only_when_trusted(
    tmp_path: Path, marker: Path, loader: str
) -> None:
    """Both nodes call the type they name with stored arguments: name a script runner."""
    model = _with_extra_attribute()

    def change(node: dict[str, Any]) -> None:
        node["__module__"], node["__class__"] = RUN_SCRIPT
        if loader == "LossNode":
            node["__reduce__"]["args"]["content"] = [_json_str(_payload(marker))]
            node["content"] = _empty_dict()
        else:
            node["content"]["content"] = [_json_str(_payload(marker))]

    raw = _craft(model, loader, change)
    for listed in ([], [".".join(RUN_SCRIPT)]):
        with pytest.raises(PermissionDenied, match="assert_run_python_script_without_output"):
            _load(raw, tmp_path / "a", trust=False, listed=listed)
        with pytest.raises(PermissionDenied, match=r"trust=True"):
            loads_checked(raw, trust=False, source="artifact")
    assert not marker.exists()
    loaded = _load(raw, tmp_path / "b", trust=True)
    assert marker.read_text() == "ran"  # the crafted file is a real attack...
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))  # ...and still predicts


def test_a_tree_node_always_constructs_a_tree(tmp_path: Path, marker: Path) -> None:
    """skops fixes the tree node's constructor: renaming it names an untrusted type."""
    model = DecisionTreeClassifier(max_depth=2).fit(X, Y)
    raw = _craft(
        model,
        "TreeNode",
        lambda node: node.update({"__module__": RUN_SCRIPT[0], "__class__": RUN_SCRIPT[1]}),
    )
    with pytest.raises(PermissionDenied, match="assert_run_python_script_without_output"):
        _load(raw, tmp_path / "a", trust=False)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("loader", "target"),
    [
        ("ObjectNode", ("subprocess", "Popen")),
        ("DictNode", ("collections", "UserDict")),
        ("RandomStateNode", ("sklearn.utils._testing", "TempMemmap")),
        ("NdArrayNode", ("numpy", "memmap")),
        ("ListNode", ("collections", "UserList")),
        ("TupleNode", ("sklearn.utils._testing", "TempMemmap")),
        ("RandomGeneratorNode", ("sklearn.utils._testing", "TempMemmap")),
    ],
)
def test_constructed_types_outside_the_allow_list_are_refused(
    tmp_path: Path, loader: str, target: tuple[str, str]
) -> None:
    """Object, container, random-state, generator and array nodes construct the type they name."""
    model = make_pipeline(
        FunctionTransformer(np.log1p),
        RandomForestClassifier(n_estimators=2, random_state=np.random.RandomState(0)),
    ).fit(X, Y)
    model.rng_ = np.random.default_rng(0)

    def change(node: dict[str, Any]) -> None:
        node["__module__"], node["__class__"] = target

    raw = _craft(model, loader, change)
    with pytest.raises(PermissionDenied, match=".".join(target).replace(".", r"\.")):
        _load(raw, tmp_path / "m", trust=False)


# -- callables the model calls when it predicts ----------------------------------------------


def _transformer_with(func: object) -> Any:
    return make_pipeline(FunctionTransformer(func), DecisionTreeClassifier(max_depth=2)).fit(X, Y)


def test_function_node_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    """A function under sklearn. is no longer trusted for its prefix."""
    raw = _craft(
        _transformer_with(np.log1p),
        "FunctionNode",
        lambda node: node.update({"__module__": RUN_SCRIPT[0], "__class__": RUN_SCRIPT[1]}),
    )
    with pytest.raises(PermissionDenied, match="assert_run_python_script_without_output"):
        _load(raw, tmp_path / "m", trust=False)


def test_partial_runs_a_script_at_predict_only_when_trusted(tmp_path: Path, marker: Path) -> None:
    """partial(script_runner, payload) as a transformer's function runs at predict time."""
    import functools

    model = _transformer_with(functools.partial(np.add, 0))

    def change(node: dict[str, Any]) -> None:
        func = node["content"]["func"]
        func["__module__"], func["__class__"] = RUN_SCRIPT
        node["content"]["args"]["content"] = [_json_str(_payload(marker))]

    raw = _craft(model, "PartialNode", change)
    with pytest.raises(PermissionDenied, match=r"functools\.partial"):
        _load(raw, tmp_path / "a", trust=False)
    assert not marker.exists()
    loaded = _load(raw, tmp_path / "b", trust=True)
    with pytest.raises(TypeError):  # the runner treats the data as its output pattern
        loaded.predict(X[:2])
    assert marker.read_text() == "ran"


def test_methodcaller_writes_a_file_at_predict_only_when_trusted(
    tmp_path: Path, marker: Path
) -> None:
    """operator.methodcaller('tofile', path) as a transformer's function writes a file."""
    model = _transformer_with(operator.methodcaller("copy"))

    def change(node: dict[str, Any]) -> None:
        node["attrs"]["content"] = [_json_str("tofile"), _json_str(str(marker))]

    raw = _craft(model, "OperatorFuncNode", change)
    with pytest.raises(PermissionDenied, match=r"operator\.methodcaller"):
        _load(raw, tmp_path / "a", trust=False)
    assert not marker.exists()
    loaded = _load(raw, tmp_path / "b", trust=True)
    with pytest.raises(ValueError, match="Expected 2D array"):  # tofile returned None
        loaded.predict(X[:2])
    assert marker.exists()


def test_type_and_method_nodes_outside_the_allow_list_are_refused(tmp_path: Path) -> None:
    """A class as a transformer's function is called with the data; so is a bound method."""
    raw = _craft(
        _transformer_with(np.log1p),
        "FunctionNode",
        lambda node: node.update(
            {"__module__": "subprocess", "__class__": "Popen", "__loader__": "TypeNode"}
        ),
    )
    with pytest.raises(PermissionDenied, match=r"subprocess\.Popen"):
        _load(raw, tmp_path / "t", trust=False)

    helper = DecisionTreeClassifier(max_depth=1).fit(X, Y)
    raw = _craft(_transformer_with(helper.predict_proba), "MethodNode", lambda node: None)
    with pytest.raises(PermissionDenied, match=r"DecisionTreeClassifier\.predict_proba"):
        _load(raw, tmp_path / "m", trust=False)


# -- what fitted models hold loads without trust -----------------------------------------------


def test_common_fitted_models_load_without_trust(tmp_path: Path) -> None:
    from sklearn.feature_selection import SelectKBest
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import SplineTransformer

    models = [
        make_pipeline(SelectKBest(k=2), LogisticRegression()),
        GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1, 2]}, cv=3),
        HistGradientBoostingClassifier(max_iter=3),
        KNeighborsClassifier(n_neighbors=3, algorithm="kd_tree"),
        KNeighborsClassifier(n_neighbors=3, algorithm="ball_tree"),
        make_pipeline(SplineTransformer(), LogisticRegression()),
    ]
    for i, model in enumerate(models):
        model.fit(X, Y)
        raw = sio.dumps(model)
        loaded = _load(
            raw, tmp_path / str(i), trust=False, listed=sio.get_untrusted_types(data=raw)
        )
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# -- structure: arrays scikit-learn follows without bounds checks -------------------------------


def test_tree_with_a_child_outside_the_node_array_is_refused(tmp_path: Path) -> None:
    model = DecisionTreeClassifier(max_depth=3).fit(X, Y)
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = 10**8  # scikit-learn's predict segfaults on this
    state["nodes"] = nodes
    model.tree_.__setstate__(state)
    with pytest.raises(IntegrityError, match="node 0 has left child 100000000"):
        _load(sio.dumps(model), tmp_path / "m", trust=True)


def test_tree_with_a_cycle_is_refused(tmp_path: Path) -> None:
    model = RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(X, Y)
    tree = model.estimators_[1].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    internal = int(np.flatnonzero(nodes["left_child"] != -1)[-1])
    nodes["right_child"][internal] = internal  # predict would loop for ever
    state["nodes"] = nodes
    tree.__setstate__(state)
    with pytest.raises(IntegrityError, match=f"node {internal} has right child {internal}"):
        loads_checked(sio.dumps(model), trust=False, source="artifact 'model.skops'")


def test_boosting_predictor_with_an_unknown_feature_is_refused(tmp_path: Path) -> None:
    model = HistGradientBoostingClassifier(max_iter=2).fit(X, Y)
    predictor = model._predictors[0][0]
    internal = int(np.flatnonzero(predictor.nodes["is_leaf"] == 0)[0])
    predictor.nodes["feature_idx"][internal] = 4000
    with pytest.raises(IntegrityError, match="splits on feature 4000 of 4"):
        _load(
            sio.dumps(model),
            tmp_path / "m",
            trust=False,
            listed=sio.get_untrusted_types(data=sio.dumps(model)),
        )


def test_neighbour_tree_with_indices_outside_the_data_is_refused(tmp_path: Path) -> None:
    model = KNeighborsClassifier(n_neighbors=3, algorithm="kd_tree").fit(X, Y)
    state = list(model._tree.__getstate__())
    idx = state[1].copy()
    idx[0] = 10**7
    state[1] = idx
    model._tree.__setstate__(tuple(state))
    raw = sio.dumps(model)
    with pytest.raises(IntegrityError, match="an index outside"):
        _load(raw, tmp_path / "m", trust=False, listed=sio.get_untrusted_types(data=raw))
