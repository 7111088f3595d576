"""What the REST API answers, as Pydantic models: the schemas of the OpenAPI document.

One module per concept. Route modules name these as ``response_model=`` and still return
keel's orjson ``JSONResponse`` themselves, so the models describe the body without FastAPI
validating or re-serialising it.
"""

from .bodies import BINARY_ANSWER, binary_answer, raw_body
from .errors import AUTH_ERRORS, PROJECT_ERRORS, ErrorBody, errors, page_errors

__all__ = [
    "AUTH_ERRORS",
    "BINARY_ANSWER",
    "PROJECT_ERRORS",
    "ErrorBody",
    "binary_answer",
    "errors",
    "page_errors",
    "raw_body",
]
