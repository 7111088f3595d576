"""Property: sequences of linked requests (create a run, then read, log to, upload to and end
that very run) never get a server error, on SQLite and PostgreSQL, through token auth.

The stateless fuzz test (tests/server/test_fuzz.py) mostly meets unknown runs and answers
404; here schemathesis follows the links it infers from the OpenAPI schema (the run id a
``POST /runs`` answers feeds the routes under ``/runs/{run_id}``), so generated bodies reach
real runs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from keel.config import Config
from keel.server import create_app
from keel.server.tokens import TokenService
from keel.store import init_project

PROJECT = "fuzzed"


def test_linked_request_sequences_never_get_a_server_error(
    store_config: Config, tmp_path: Path
) -> None:
    with init_project(tmp_path, store_config) as store:
        store.create_project(PROJECT)
        _, secret = TokenService(store).create("fuzzer", "writer")
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(store_config, auth=True))
    # Only the routes the run links chain (the stateless fuzz covers every route): each new
    # concept's routes would otherwise thin out the sequences that reach a real run.
    schema = schema.include(tag="tracking")
    seen: Counter[tuple[str, str, int]] = Counter()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case) -> None:
            # One project for the whole sequence, so a linked run id names a real run.
            if "project" in (case.path_parameters or {}):
                case.path_parameters["project"] = PROJECT

        def get_call_kwargs(self, case) -> dict:
            return {"headers": {"Authorization": f"Bearer {secret}"}}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            seen[(case.method, case.operation.path, response.status_code)] += 1
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:500]}"
            )

    Workflow.run(
        settings=settings(
            max_examples=100,  # enough that the exploration reaches linked runs whatever ran before
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    reached = {
        (method, path)
        for (method, path, status), _ in seen.items()
        if "{run_id}" in path and status < 300
    }
    # The links led somewhere: existing runs were read and written, not only 404s (which
    # routes the exploration reaches depends on the request schemas: run creation takes a
    # client-chosen id, start time and status since deferred runs, so fewer bodies create
    # one; a run itself, read or updated, must be among them)
    run = "/api/v1/projects/{project}/runs/{run_id}"
    assert {("GET", run), ("PATCH", run)} & reached, seen
    assert len(reached) >= 3, seen
