"""A deployment that serves class probabilities: the answer, the OIP tensor, the prediction
log (which a monitor reads for ROC AUC), and the refusals."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from keel.client import Client
from keel.deploy import DeploymentSpec, parse_spec_text
from keel.errors import InvalidInput
from keel.serving import create_app

from .conftest import serving, training_data

SPEC = """\
name: scored
model: credit
routes: [{version: "@champion", weight: 100}]
probabilities: true
"""


def test_a_classifier_answers_and_logs_its_class_probabilities(project: Client) -> None:
    X, _ = training_data()
    expected = project.models.load("credit@champion").native.predict_proba(X.head(3))
    app = create_app(parse_spec_text(SPEC), project, follow=False)
    with serving(app) as url:
        rows = X.head(3).to_dict("records")
        answer = httpx.post(f"{url}/predict", json=rows)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        oip = httpx.post(
            f"{url}/v2/models/scored/infer",
            json={
                "inputs": [
                    {"name": c, "shape": [1], "datatype": "FP64", "data": [float(X[c].iloc[0])]}
                    for c in X.columns
                ]
            },
        )
        assert oip.status_code == 200, oip.text
    assert np.allclose(body["predictions"], expected)  # one row of P(0), P(1) per input
    (tensor,) = oip.json()["outputs"]
    assert tensor["shape"] == [1, 2]
    assert np.allclose(tensor["data"], expected[0])
    log = project.predictions.read("predictions", deployment="scored").to_pandas()
    logged = log[log["request_id"] == body["request_id"]].sort_values("row")
    assert np.allclose(np.stack(logged["probabilities"].to_numpy()), expected)
    assert logged["prediction"].tolist() == expected.argmax(axis=1).tolist()


def test_without_it_the_answer_is_the_class_and_the_spec_records_nothing_new(
    project: Client,
) -> None:
    spec = parse_spec_text(SPEC.replace("probabilities: true\n", ""))
    assert spec.probabilities is False
    assert "probabilities" not in spec.to_dict()  # rollouts recorded before it stay equal
    assert parse_spec_text(SPEC).to_dict()["probabilities"] is True
    assert DeploymentSpec.from_dict(parse_spec_text(SPEC).to_dict()).probabilities is True
    X, _ = training_data()
    with serving(create_app(spec, project, follow=False)) as url:
        body = httpx.post(f"{url}/predict", json=X.head(2).to_dict("records")).json()
    assert body["predictions"] in ([0, 0], [0, 1], [1, 0], [1, 1])


def test_a_model_without_probabilities_is_refused_when_the_server_is_made(
    project: Client,
) -> None:
    spec = parse_spec_text(SPEC.replace("model: credit", "model: price").replace("@champion", "1"))
    with pytest.raises(
        InvalidInput, match=r"price:1 \(sklearn flavor, \w+\) gives no class probabilities"
    ):
        create_app(spec, project, follow=False)


@pytest.mark.parametrize("value", ["maybe", "1", "[true]"])
def test_probabilities_must_be_true_or_false(value: str) -> None:
    text = SPEC.replace("probabilities: true", f"probabilities: {value}")
    with pytest.raises(InvalidInput, match=r"line 4 \(probabilities\): expected true or false"):
        parse_spec_text(text)
