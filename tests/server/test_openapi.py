"""The OpenAPI document describes the API well enough for a generated client: every JSON
answer has its schema (never a bare string), every operation a summary and a description,
every protected one the bearer scheme and keel's error body, every raw body its media type,
and every operation a short, unique id."""

from __future__ import annotations

import re
from typing import Any

import pytest

from keel.config import resolve
from keel.server import create_app
from keel.store import init_project

METHODS = ("get", "put", "post", "patch", "delete", "head")
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
UNPROTECTED = {("get", "/api/v1/health")}
UPLOADS = {
    ("put", "/api/v1/projects/{project}/runs/{run_id}/artifacts/{name}"),
    ("put", "/api/v1/objects/{digest}"),
    ("post", "/api/v1/objects/batch"),
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("openapi")
    config = resolve(
        uri=f"sqlite:///{folder / 'keel.db'}", objects=str(folder / "objects"), fsync=False
    )
    init_project(folder, config).close()
    return create_app(config, auth=True).openapi()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_the_document_lists_every_concept(spec: dict[str, Any]) -> None:
    tags = {tag for _, _, op in operations(spec) for tag in op.get("tags", ())}
    assert {"tracking", "objects", "datasets", "models", "lineage", "validation"} <= tags
    assert len(operations(spec)) >= 60


def test_no_json_answer_is_typed_as_a_bare_string(spec: dict[str, Any]) -> None:
    untyped = []
    for method, path, op in operations(spec):
        for status, answer in op["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if schema is not None and schema in ({}, {"type": "string"}):
                untyped.append(f"{method.upper()} {path} {status}: {schema}")
    assert untyped == []


def test_every_successful_json_answer_names_a_model_or_a_typed_collection(
    spec: dict[str, Any],
) -> None:
    loose = []
    for method, path, op in operations(spec):
        for status, answer in op["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if not status.startswith("2") or schema is None:
                continue
            typed = (
                "$ref" in schema
                or "anyOf" in schema
                or (schema.get("type") == "array" and schema.get("items"))
                or (schema.get("type") == "object" and schema.get("additionalProperties"))
            )
            if not typed:
                loose.append(f"{method.upper()} {path} {status}: {schema}")
    assert loose == []


def test_every_operation_has_a_summary_and_a_description(spec: dict[str, Any]) -> None:
    bare = [
        f"{method.upper()} {path}"
        for method, path, op in operations(spec)
        if not op.get("summary") or not op.get("description", "").strip()
    ]
    assert bare == []


def test_protected_operations_declare_the_bearer_scheme_and_its_refusals(
    spec: dict[str, Any],
) -> None:
    assert spec["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    missing = []
    for method, path, op in operations(spec):
        if (method, path) in UNPROTECTED:
            assert "security" not in op
            continue
        if op.get("security") != [{"token": []}]:
            missing.append(f"{method.upper()} {path}: security {op.get('security')}")
        for status in ("401", "403", "422"):
            if status not in op["responses"]:
                missing.append(f"{method.upper()} {path}: no {status}")
        if "/projects/{project}/" in path and "404" not in op["responses"]:
            missing.append(f"{method.upper()} {path}: no 404 for an unknown project")
    assert missing == []


def test_every_error_answer_is_keels_error_body(spec: dict[str, Any]) -> None:
    body = spec["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"error", "message", "status"}
    wrong = []
    for method, path, op in operations(spec):
        for status, answer in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema != ERROR_BODY:
                    wrong.append(f"{method.upper()} {path} {status}: {schema}")
    assert wrong == []
    # FastAPI's own validation error shape is not what keel answers, so it is not documented
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_uploads_document_their_raw_body(spec: dict[str, Any]) -> None:
    for method, path in UPLOADS:
        body = spec["paths"][path][method]["requestBody"]
        assert body["required"] is True
        assert body["content"] == {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }
    artifact = spec["paths"]["/api/v1/projects/{project}/runs/{run_id}/artifacts/{name}"]["put"]
    headers = [p["name"] for p in artifact["parameters"] if p["in"] == "header"]
    assert headers == ["Content-Digest"]


def test_downloads_document_their_bytes(spec: dict[str, Any]) -> None:
    for path in (
        "/api/v1/projects/{project}/runs/{run_id}/artifacts/{name}",
        "/api/v1/objects/{digest}",
    ):
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert content == {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }


def test_operation_ids_are_unique_and_read_as_names(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"[a-z]+_[a-z_]+", i)] == []
    run = spec["paths"]["/api/v1/projects/{project}/runs"]["post"]
    assert run["operationId"] == "tracking_create_run"


def test_component_names_are_the_concepts(spec: dict[str, Any]) -> None:
    names = set(spec["components"]["schemas"])
    assert {"Run", "Experiment", "Artifact", "DatasetVersion", "Dataset", "ModelVersion"} <= names
    assert {"Model", "Rollout", "Deployment", "Monitor", "MonitorResult", "Alert"} <= names
    assert {"Project", "ErrorBody", "RunCreate", "RunBatch", "RunSearch"} <= names
    # no name that only says where FastAPI found it
    assert [n for n in names if n.startswith(("Response", "Body_")) or "__" in n] == []


def test_record_schemas_list_every_field_their_records_answer(spec: dict[str, Any]) -> None:
    from keel.data._versions import DatasetVersion
    from keel.registry._records import ModelVersion
    from keel.tracking._records import RunRecord

    schemas = spec["components"]["schemas"]
    for name, fields in (
        ("Run", set(RunRecord.__dataclass_fields__)),
        ("DatasetVersion", {*DatasetVersion.__dataclass_fields__, "ref"}),
        ("ModelVersion", {*ModelVersion.__dataclass_fields__, "ref"}),
    ):
        assert set(schemas[name]["properties"]) == fields, name
        assert set(schemas[name]["required"]) == fields, name  # always sent, maybe null


def test_pipeline_and_deletion_schemas_list_every_field_their_services_answer(
    spec: dict[str, Any],
) -> None:
    from keel.data._diff import DataDiff
    from keel.pipelines._approval_records import Approval
    from keel.pipelines._service import STEP_FIELDS
    from keel.store.deletion import Deletion

    schemas = spec["components"]["schemas"]
    run = {"id", "pipeline", "status", "trigger", "params", "options", "error"}
    run |= {"created_at", "started_at", "ended_at"}
    for name, fields in (
        ("PipelineApproval", set(Approval.__dataclass_fields__)),
        ("Deletion", set(Deletion.__dataclass_fields__)),
        ("StepRun", set(STEP_FIELDS)),
        ("PipelineRun", run),
        ("PipelineRunDetail", run | {"steps"}),
        ("DatasetDiff", set(DataDiff("a:v1", "a:v2").to_dict())),
    ):
        assert set(schemas[name]["properties"]) == fields, name
        assert set(schemas[name]["required"]) == fields, name  # always sent, maybe null
