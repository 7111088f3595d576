"""Packaging a deployment for a cluster: a Dockerfile and Kubernetes manifests.

The image installs keel (with PostgreSQL and S3 support) and runs ``keel serve`` on the
deployment file at ``/etc/keel/deployment.yaml``; on Kubernetes that file comes from a
ConfigMap, so applying a new spec is a ConfigMap change. The pods reach the platform with
``KEEL_URI`` and ``KEEL_TOKEN`` from a Secret the operator creates (it is never written
here: it holds credentials).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel.errors import InvalidInput

from .spec import DeploymentSpec

__all__ = ["BuildOptions", "build_manifests", "k8s_name", "write_manifests"]

PORT = 8080
SPEC_PATH = "/etc/keel/deployment.yaml"
READY, LIVE = "/v2/health/ready", "/v2/health/live"
_K8S_INVALID = re.compile(r"[^a-z0-9-]+")


def k8s_name(name: str) -> str:
    """``name`` as a Kubernetes object name (DNS-1123 label: lowercase letters, digits and
    '-', at most 63 characters, alphanumeric at both ends)."""
    label = _K8S_INVALID.sub("-", name.lower()).strip("-")[:63].rstrip("-")
    if not label:
        raise InvalidInput(
            f"Deployment name {name!r} has no letter or digit to name Kubernetes objects by."
        )
    return label


@dataclass(frozen=True)
class BuildOptions:
    """What the manifests leave to the operator: image, scale and resources."""

    image: str | None = None
    """The image the Deployment runs; ``keel-<name>:<revision>`` by default."""
    replicas: int = 2
    max_replicas: int = 10
    cpu_target: int = 70
    """Average CPU utilisation (percent of the request) the autoscaler keeps."""
    cpu: str = "500m"
    memory: str = "512Mi"
    memory_limit: str = "1Gi"

    def check(self) -> BuildOptions:
        if not 1 <= self.replicas <= self.max_replicas <= 1000:
            raise InvalidInput(
                f"Replicas must satisfy 1 <= replicas <= max_replicas <= 1000; got "
                f"{self.replicas} and {self.max_replicas}."
            )
        if not 1 <= self.cpu_target <= 100:
            raise InvalidInput(f"cpu_target is a percentage 1-100, not {self.cpu_target}.")
        if self.image is not None and not re.match(
            r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$", self.image
        ):
            raise InvalidInput(
                f"Image {self.image!r} is not an image reference such as 'registry/name:tag'."
            )
        return self


def build_manifests(
    spec: DeploymentSpec,
    *,
    project: str,
    revision: int,
    version: str | None = None,
    options: BuildOptions | None = None,
) -> dict[str, str]:
    """The files to write, by relative path: ``Dockerfile``, ``deployment.yaml`` and
    ``k8s/{configmap,deployment,service,hpa}.yaml``.

    Args:
        project: the keel project the pods serve from (``KEEL_PROJECT``).
        revision: the rollout revision the files are built from (labels and the image tag).
        version: the keelml version the image installs (this one by default).
    """
    import yaml

    from keel._version import __version__

    options = (options or BuildOptions()).check()
    name = k8s_name(spec.name)
    image = options.image or f"keel-{name}:{revision}"
    spec_yaml = yaml.safe_dump(spec.to_dict(), sort_keys=False)
    labels = {"app.kubernetes.io/name": "keel-serve", "app.kubernetes.io/instance": name}
    meta = {
        "name": name,
        "labels": {**labels, "keel.dev/revision": str(revision)},
        "annotations": {"keel.dev/deployment": spec.name, "keel.dev/project": project},
    }
    docs: dict[str, Any] = {
        "k8s/configmap.yaml": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "name": f"{name}-spec"},
            "data": {"deployment.yaml": spec_yaml},
        },
        "k8s/deployment.yaml": _deployment(meta, labels, name, image, project, options),
        "k8s/service.yaml": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "selector": labels,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        "k8s/hpa.yaml": {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": options.replicas,
                "maxReplicas": options.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": options.cpu_target,
                            },
                        },
                    }
                ],
            },
        },
    }
    files = {path: yaml.safe_dump(doc, sort_keys=False) for path, doc in docs.items()}
    files["Dockerfile"] = _dockerfile(version or __version__)
    files["deployment.yaml"] = spec_yaml
    return files


def write_manifests(
    spec: DeploymentSpec,
    out: str | Path,
    *,
    project: str,
    revision: int,
    options: BuildOptions | None = None,
) -> list[Path]:
    """Write :func:`build_manifests`' files under ``out``; returns their paths."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidInput(
            f"--out {out} is a file; give a folder for the Dockerfile and manifests."
        )
    written = []
    for relative, text in build_manifests(
        spec, project=project, revision=revision, options=options
    ).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _deployment(
    meta: dict, labels: dict, name: str, image: str, project: str, options: BuildOptions
) -> dict[str, Any]:
    secret = f"{name}-keel"

    def from_secret(key: str) -> dict[str, Any]:
        return {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}

    probe = {"httpGet": {"port": "http"}, "periodSeconds": 10, "timeoutSeconds": 2}
    container = {
        "name": "serve",
        "image": image,
        "args": ["serve", SPEC_PATH, "--host", "0.0.0.0", "--port", str(PORT)],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [
            from_secret("KEEL_URI"),
            from_secret("KEEL_TOKEN"),
            {"name": "KEEL_PROJECT", "value": project},
        ],
        "readinessProbe": {
            **probe,
            "httpGet": {"path": READY, "port": "http"},
            "initialDelaySeconds": 5,
        },
        "livenessProbe": {
            **probe,
            "httpGet": {"path": LIVE, "port": "http"},
            "initialDelaySeconds": 15,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": options.cpu, "memory": options.memory},
            "limits": {"memory": options.memory_limit},
        },
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
        "volumeMounts": [{"name": "spec", "mountPath": "/etc/keel", "readOnly": True}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": options.replicas,
            "selector": {"matchLabels": labels},
            # a new pod must be ready before an old one stops: no request is dropped
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [container],
                    "volumes": [{"name": "spec", "configMap": {"name": f"{name}-spec"}}],
                },
            },
        },
    }


def _dockerfile(version: str) -> str:
    # urlopen raises (exit 1) on a refused connection, a timeout or a 4xx/5xx answer
    url = f"http://127.0.0.1:{PORT}{READY}"
    check = f"import urllib.request; urllib.request.urlopen('{url}', timeout=2)"
    return f"""\
# keel model server: serves the deployment file at {SPEC_PATH}
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN pip install "keelml[postgres,s3]=={version}" \\
    && useradd --create-home --uid 10001 keel
COPY deployment.yaml {SPEC_PATH}
USER 10001
WORKDIR /home/keel
EXPOSE {PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \\
    CMD ["python", "-c", "{check}"]
ENTRYPOINT ["keel"]
CMD ["serve", "{SPEC_PATH}", "--host", "0.0.0.0", "--port", "{PORT}"]
"""
