"""The model server's FastAPI side: model metadata, ``/feedback`` and the OpenAPI document.

The hot routes (infer, predict, health, metrics) are declared here with their schemas so
``/docs`` and ``/openapi.json`` describe them, but :class:`keel.serving.app.ServingApp`
answers them before a request reaches FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from keel._version import __version__
from keel.errors import InvalidInput, KeelError, NotFound, did_you_mean

if TYPE_CHECKING:
    from .app import ServingApp

__all__ = ["build_api"]

MAX_FEEDBACK_ROWS = 10_000


class Tensor(BaseModel):
    name: str = Field(description="The column name (or any name for one 2-D tensor).")
    shape: list[int] = Field(description="[n] or [n, 1] per column; [n, k] for one tensor.")
    datatype: str = Field(description="BOOL, INT8..INT64, UINT8..UINT64, FP16..FP64 or BYTES.")
    data: list[Any]
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[Tensor] = Field(min_length=1)
    outputs: list[dict[str, Any]] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str = Field(description="The version that answered, e.g. credit:4.")
    id: str = Field(description="The request id (x-request-id, or a new one).")
    outputs: list[Tensor]


class PredictColumns(BaseModel):
    columns: dict[str, list[Any]]


class PredictRecords(BaseModel):
    records: list[dict[str, Any]] = Field(min_length=1)


class PredictResponse(BaseModel):
    model_version: str = Field(description="The version that answered, e.g. credit:4.")
    request_id: str
    predictions: list[Any]


class FeedbackRow(BaseModel):
    request_id: str | None = None
    key: str | None = Field(None, description="The sticky key's value, instead of request_id.")
    label: Any = Field(description="The ground truth.")


class FeedbackAccepted(BaseModel):
    accepted: int


def build_api(app: ServingApp) -> FastAPI:
    """The FastAPI app behind ``app``'s fast path."""
    api = FastAPI(
        title=f"keel model server: {app.server.spec.name}",
        version=__version__,
        description="Open Inference Protocol v2 and plain JSON predictions for a keel deployment.",
    )
    _errors(api)

    def model(name: str) -> dict[str, Any]:
        models = app.server.models
        if name not in models.names:
            raise NotFound(
                f"No model {name[:100]!r} is served here.{did_you_mean(name, list(models.names))} "
                f"This server answers to: {', '.join(sorted(models.names))}."
            )
        first = next(iter(models.served.values()))
        signature = first.model.signature
        inputs = [
            {"name": c.name, "datatype": _oip_type(c.dtype), "shape": [-1]}
            for c in (signature.inputs if signature is not None else ())
        ]
        output = (signature.output if signature is not None else {}) or {}
        return {
            "name": name,
            "versions": sorted({s.version for s in models.served.values()}),
            "platform": f"keel-{first.model.flavor}",
            "inputs": inputs,
            "outputs": [
                {"name": "predict", "datatype": _oip_type(output.get("dtype", "")), "shape": [-1]}
            ],
            "routes": {ref: s.version for ref, s in models.served.items()},
            "shadows": [s.version for s in models.shadows],
        }

    @api.get("/v2/health/live", tags=["health"])
    def live() -> dict[str, bool]:
        """Liveness: the process answers."""
        return {"live": True}

    @api.get("/v2/health/ready", tags=["health"])
    def ready() -> dict[str, bool]:
        """Readiness: every version is loaded (503 while shutting down)."""
        return {"ready": app.ready}

    @api.get("/v2", tags=["v2"])
    def server_metadata() -> dict[str, Any]:
        """Server metadata (Open Inference Protocol v2)."""
        return {"name": "keel", "version": __version__, "extensions": []}

    @api.get("/v2/models/{name}", tags=["v2"])
    def model_metadata(name: str) -> dict[str, Any]:
        """A served model's metadata: versions, inputs and outputs."""
        return model(name)

    @api.get("/v2/models/{name}/ready", tags=["v2"])
    def model_ready(name: str) -> dict[str, Any]:
        """Whether a served model is ready to answer."""
        model(name)
        return {"name": name, "ready": app.ready}

    @api.post("/v2/models/{name}/infer", tags=["v2"], response_model=InferResponse)
    def infer(name: str, request: InferRequest) -> Any:
        """Predict with named input tensors (served by the fast path)."""
        raise KeelError("served by the fast path")  # pragma: no cover

    @api.post("/predict", tags=["predict"], response_model=PredictResponse)
    def predict(
        body: list[dict[str, Any]] | PredictRecords | PredictColumns = Body(...),  # noqa: B008
    ) -> Any:
        """Predict JSON records ``[{...}]``, ``{"records": [...]}`` or ``{"columns": {...}}``
        (served by the fast path). The answer's ``model_version`` (and the header
        ``keel-model-version``) names the version that answered."""
        raise KeelError("served by the fast path")  # pragma: no cover

    @api.get("/metrics", tags=["metrics"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics (served by the fast path)."""
        raise KeelError("served by the fast path")  # pragma: no cover

    @api.post("/feedback", tags=["feedback"], status_code=202)
    def feedback(
        rows: list[FeedbackRow] = Body(..., max_length=MAX_FEEDBACK_ROWS),  # noqa: B008
    ) -> FeedbackAccepted:
        """Ground truth for served predictions, by request id or sticky key value."""
        plain = []
        for i, row in enumerate(rows):
            if not row.request_id and not row.key:
                raise InvalidInput(
                    f"feedback[{i}] names neither request_id nor key: give the request id a "
                    "prediction answered with, or the value of the deployment's sticky key."
                )
            plain.append(row.model_dump(exclude_none=True))
        app.logging.feedback(plain)
        return FeedbackAccepted(accepted=len(plain))

    return api


_OIP = {"bool": "BOOL", "string": "BYTES", "object": "BYTES", "category": "BYTES"}


def _oip_type(dtype: str) -> str:
    if dtype in _OIP:
        return _OIP[dtype]
    for prefix, name in (("uint", "UINT"), ("int", "INT"), ("float", "FP")):
        if dtype.startswith(prefix) and dtype[len(prefix) :].isdigit():
            return f"{name}{dtype[len(prefix) :]}"
    return "BYTES"


def _json(status: int, error: str, message: str) -> Response:
    body = orjson.dumps({"error": error, "message": message, "status": status})
    return Response(body, status_code=status, media_type="application/json")


def _errors(api: FastAPI) -> None:
    @api.exception_handler(KeelError)
    async def keel_error(request: Request, exc: KeelError) -> Response:
        return _json(exc.status_code, type(exc).__name__, exc.message)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for err in exc.errors()[:10]:
            where = ".".join(str(part) for part in err.get("loc", ()))
            problems.append(f"{where}: {err.get('msg')}")
        message = "Invalid request: " + "; ".join(problems) + ". See /docs for the schema."
        status = 400 if any(e.get("type") == "json_invalid" for e in exc.errors()) else 422
        return _json(status, "InvalidInput", message)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        name = {404: "NotFound", 405: "InvalidInput"}.get(exc.status_code, "KeelError")
        return _json(exc.status_code, name, str(exc.detail))
