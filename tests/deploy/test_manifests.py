"""Dockerfile and Kubernetes manifests: parsed back, their essentials agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from keel.deploy import parse_spec_text
from keel.deploy._manifests import BuildOptions, build_manifests, k8s_name, write_manifests
from keel.errors import InvalidInput

from .conftest import CANARY, SPEC


@pytest.fixture(params=[SPEC, CANARY], ids=["routes", "canary"])
def files(request: pytest.FixtureRequest) -> dict[str, str]:
    return build_manifests(parse_spec_text(request.param), project="credit", revision=4)


def _docs(files: dict[str, str]) -> dict[str, dict]:
    return {path: yaml.safe_load(text) for path, text in files.items() if path.startswith("k8s/")}


def test_the_configmap_holds_the_same_spec(files: dict[str, str], request) -> None:
    docs = _docs(files)
    spec = parse_spec_text(docs["k8s/configmap.yaml"]["data"]["deployment.yaml"])
    original = parse_spec_text(request.node.callspec.params["files"])
    assert spec == original
    assert parse_spec_text(files["deployment.yaml"]) == original


def test_ports_probes_and_names_agree(files: dict[str, str]) -> None:
    docs = _docs(files)
    deployment, service = docs["k8s/deployment.yaml"], docs["k8s/service.yaml"]
    hpa, config = docs["k8s/hpa.yaml"], docs["k8s/configmap.yaml"]
    assert {d["kind"] for d in docs.values()} == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ConfigMap",
    }
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (port,) = container["ports"]
    dockerfile = files["Dockerfile"]
    assert f"EXPOSE {port['containerPort']}" in dockerfile
    listen = ["--host", "0.0.0.0", "--port", str(port["containerPort"])]
    assert container["args"] == ["serve", "/etc/keel/deployment.yaml", *listen]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == service["spec"]["selector"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"] == 2
    (volume,) = pod["volumes"]
    assert volume["configMap"]["name"] == config["metadata"]["name"]
    assert container["volumeMounts"][0]["mountPath"] == "/etc/keel"
    env = {e["name"]: e for e in container["env"]}
    assert env["KEEL_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "credit-scoring-keel",
        "key": "KEEL_URI",
    }
    assert env["KEEL_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "KEEL_TOKEN"
    assert env["KEEL_PROJECT"]["value"] == "credit"
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["image"] == "keel-credit-scoring:4"
    assert deployment["metadata"]["labels"]["keel.dev/revision"] == "4"


def test_the_dockerfile_runs_keel_serve_as_a_non_root_user(files: dict[str, str]) -> None:
    dockerfile = files["Dockerfile"]
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.M)
    assert re.search(r'pip install "keelml\[postgres,s3\]==\d', dockerfile)
    assert "useradd --create-home --uid 10001 keel" in dockerfile
    user = dockerfile.index("USER 10001")
    assert user > dockerfile.index("RUN pip install")
    assert "HEALTHCHECK" in dockerfile
    assert "/v2/health/ready" in dockerfile
    assert 'ENTRYPOINT ["keel"]' in dockerfile
    assert (
        'CMD ["serve", "/etc/keel/deployment.yaml", "--host", "0.0.0.0", "--port", "8080"]'
        in dockerfile
    )
    assert "COPY deployment.yaml /etc/keel/deployment.yaml" in dockerfile


def test_options_and_names(tmp_path: Path) -> None:
    spec = parse_spec_text(SPEC.replace("credit-scoring", "Credit_Scoring.v2"))
    options = BuildOptions(image="registry.local/credit:7", replicas=3, max_replicas=5)
    written = write_manifests(spec, tmp_path / "out", project="p", revision=1, options=options)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "Dockerfile",
        "deployment.yaml",
        "k8s/configmap.yaml",
        "k8s/deployment.yaml",
        "k8s/hpa.yaml",
        "k8s/service.yaml",
    ]
    deployment = yaml.safe_load((tmp_path / "out" / "k8s" / "deployment.yaml").read_text())
    assert deployment["metadata"]["name"] == "credit-scoring-v2"
    assert deployment["metadata"]["annotations"]["keel.dev/deployment"] == "Credit_Scoring.v2"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == options.image
    hpa = yaml.safe_load((tmp_path / "out" / "k8s" / "hpa.yaml").read_text())
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 5)
    assert k8s_name("a" * 80 + "-b") == "a" * 63
    with pytest.raises(InvalidInput, match="no letter or digit"):
        k8s_name("___")
    with pytest.raises(InvalidInput, match="replicas <= max_replicas"):
        build_manifests(
            spec, project="p", revision=1, options=BuildOptions(replicas=5, max_replicas=2)
        )
    with pytest.raises(InvalidInput, match="not an image reference"):
        build_manifests(spec, project="p", revision=1, options=BuildOptions(image="bad image"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput, match="is a file"):
        write_manifests(spec, tmp_path / "file", project="p", revision=1)
