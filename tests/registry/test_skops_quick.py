"""A cold load of a scikit-learn package skips skops' import-time scans, trusting no more.

See ``keel.registry.flavors._skops_quick``: skops' default trusted lists (every
scikit-learn estimator, every NumPy and SciPy ufunc) are computed only when something
reads them, and keel checks the names of a plain model itself. The crafted-file tests in
``tests/security/test_crafted_models.py`` run in both modes.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import all_estimators

from keel.registry.flavors._sklearn import MODEL_FILE, TYPES_FILE, SklearnFlavor
from keel.registry.flavors._skops_quick import (
    DEFERRED,
    defer_in_place,
    public_estimator,
    quick_defaults,
)


def _python(code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A saved scaled logistic regression, 5 rows to predict, and what it predicts."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 4)), columns=list("abcd"))
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, frame.a > 0)
    folder = tmp_path / "package"
    folder.mkdir()
    SklearnFlavor().save(model, folder)
    rows = rng.normal(size=(5, 4))
    np.save(tmp_path / "rows.npy", rows)
    return folder, rows, model.predict(pd.DataFrame(rows, columns=list("abcd")))


def test_a_fresh_process_loads_a_pipeline_without_skops_scans(package, tmp_path: Path) -> None:
    folder, _, expected = package
    out = _python(
        "import json, sys, numpy as np, pandas as pd\n"
        "from pathlib import Path\n"
        "from keel.registry.flavors._sklearn import SklearnFlavor\n"
        f"model = SklearnFlavor().load(Path({str(folder)!r}), trust=False)\n"
        "rows = pd.DataFrame(np.load('rows.npy'), columns=list('abcd'))\n"
        "lists = sys.modules['skops.io._trusted_types']\n"
        "print(json.dumps({'pred': model.predict(rows).tolist(),\n"
        "    'filled': [getattr(lists, n).filled for n in "
        f"{list(DEFERRED)!r}],\n"
        "    'pytest': 'pytest' in sys.modules}))\n",
        tmp_path,
    )
    result = json.loads(out)
    assert result["pred"] == expected.tolist()
    assert result["filled"] == [False, False, False]  # no estimator list, no ufunc scan
    assert result["pytest"] is False  # all_estimators() imports it through sklearn.utils._testing


def test_deferred_lists_fill_to_what_skops_computes(tmp_path: Path) -> None:
    """After a quick import, every list of skops.io._trusted_types reads as a plain import's."""
    dump = (
        "import json, sys\n"
        "t = sys.modules['skops.io._trusted_types']\n"
        "print(json.dumps({k: [str(x) for x in v] for k, v in sorted(vars(t).items()) "
        "if k.isupper() and isinstance(v, list)}))\n"
    )
    plain = _python("import skops.io\n" + dump, tmp_path)
    quick = _python(
        "from keel.registry.flavors._skops_quick import import_skops_io\n"
        "import_skops_io()\n" + dump,
        tmp_path,
    )
    assert json.loads(quick) == json.loads(plain)
    assert len(json.loads(plain)["SKLEARN_ESTIMATOR_TYPE_NAMES"]) > 100


def test_public_estimator_accepts_only_names_skops_trusts_by_default() -> None:
    listed = {f"{c.__module__}.{c.__qualname__}" for _, c in all_estimators()}
    candidates = set()
    for name, module in list(sys.modules.items()):  # all_estimators imported every module
        if name.startswith("sklearn") and module is not None:
            for _, cls in inspect.getmembers(module, inspect.isclass):
                candidates.add(f"{cls.__module__}.{cls.__qualname__}")
                candidates.add(f"{name}.{cls.__name__}")  # re-exports: not the canonical name
    accepted = {n for n in candidates if public_estimator(n)}
    assert accepted <= listed, sorted(accepted - listed)
    assert len(accepted) >= 0.9 * len(listed)  # the rest load through skops' own lists
    assert public_estimator("sklearn.linear_model._logistic.LogisticRegression")
    for name in (
        "sklearn.linear_model.LogisticRegression",  # a re-export, not the name skops writes
        "sklearn.base.BaseEstimator",
        "sklearn.utils._testing.TempMemmap",
        "sklearn.utils._testing.assert_run_python_script_without_output",
        "sklearn.utils.estimator_checks._NotAnArray",
        "sklearn.nope.Thing",
        "sklearn..linear_model.X",
        "sklearn.linear_model.LogisticRegression ",
        "os.system",
        "sklearn",
    ):
        assert not public_estimator(name), name


def test_a_plain_model_loads_without_filling_the_lists(
    package, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, rows, expected = package
    defer_in_place(monkeypatch.setattr)
    model = SklearnFlavor().load(folder, trust=False)
    np.testing.assert_array_equal(model.predict(pd.DataFrame(rows, columns=list("abcd"))), expected)
    with quick_defaults() as deferred:
        assert deferred  # nothing needed skops' own lists
    assert len(sio.get_untrusted_types(file=folder / MODEL_FILE)) == 0  # outside: all filled
    with quick_defaults() as deferred:
        assert not deferred


def test_a_model_naming_an_unknown_function_falls_back_to_skops_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A NumPy ufunc is trusted by skops' ufunc list, which keel does not re-derive: the
    quick path steps aside and the usual one loads it."""
    from sklearn.preprocessing import FunctionTransformer

    x = np.abs(np.random.default_rng(1).normal(size=(50, 3)))
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(x, x[:, 0] > 1)
    folder = tmp_path / "m"
    folder.mkdir()
    SklearnFlavor().save(model, folder)
    assert json.loads((folder / TYPES_FILE).read_text()) == []
    defer_in_place(monkeypatch.setattr)
    loaded = SklearnFlavor().load(folder, trust=False)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with quick_defaults() as deferred:
        assert not deferred  # the fallback computed skops' lists
