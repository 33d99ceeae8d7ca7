"""``POST /predict`` and ``GET /predict/schema``: the scikit-learn model, served from the registry.

The body is validated against the request model built from the served model's schema (so it
follows a reload); ``/openapi.json`` shows that model's real fields once the app has started.
Errors: 422 names the field, 413 above ``classic.max_batch`` records, 503 without a model.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pydantic_core
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.deps import ClassicDep
from classic_ml.api_models import PredictResponse, SchemaResponse, schema_response

INLINE_RECORDS = 32  # larger batches are scored in the thread pool so they never stall the event loop
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_GENERIC_BODY = {
    "description": "One record or a list of records; fields are those of GET /predict/schema.",
    "required": True,
    "content": {
        "application/json": {
            "schema": {"anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}, "minItems": 1}]}
        }
    },
}


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    install_openapi(app)
    yield


router = APIRouter(tags=["classic"], lifespan=_lifespan)


@router.post(
    "/predict",
    response_model=PredictResponse,
    openapi_extra={"requestBody": _GENERIC_BODY},
    responses={
        413: {"description": "Too many records"},
        422: {"description": "A record that is not JSON, lacks a field or holds an impossible value (names the field)"},
        503: {"description": "No model: run `genaiops train`"},
    },
)
async def predict(request: Request, classic: ClassicDep) -> JSONResponse:
    """Predict one record or a batch (``X-Request-ID`` is echoed as ``request_id`` when given)."""
    try:
        body = pydantic_core.from_json(await request.body())
    except ValueError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"invalid JSON: {exc}"}]
        ) from exc
    records = classic.parse(body)  # errors: 503 / 413 / 422, mapped in app/errors.py
    header = request.headers.get("x-request-id", "")
    request_id = header if _REQUEST_ID.match(header) else uuid.uuid4().hex
    if len(records) > INLINE_RECORDS:
        result = await run_in_threadpool(classic.predict, records, request_id)
    else:
        result = classic.predict(records, request_id)
    return JSONResponse(result)


@router.get("/predict/schema", response_model=SchemaResponse)
def predict_schema(classic: ClassicDep) -> SchemaResponse:
    """The fields /predict expects (names, types, known categories, training ranges) and the classes."""
    state = classic.state
    return schema_response(state.model.schema, state.ref)


def install_openapi(app: FastAPI) -> None:
    """Make /openapi.json describe /predict's body with the served model's fields (regenerated after a reload)."""
    if getattr(app.state, "classic_openapi_installed", False):
        return
    app.state.classic_openapi_installed = True
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _inject_request_model(generate(), app)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _inject_request_model(schema: dict[str, Any], app: FastAPI) -> None:
    service = getattr(app.state, "classic", None)
    model = getattr(service, "request_model", None)
    operation = schema.get("paths", {}).get("/predict", {}).get("post")
    if model is None or operation is None:
        return
    record = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(record.pop("$defs", {}))
    components["PredictRecord"] = record
    ref = {"$ref": "#/components/schemas/PredictRecord"}
    limit = app.state.settings.classic.max_batch
    many = {"type": "array", "items": ref, "minItems": 1, "maxItems": limit}
    operation["requestBody"] = {
        "description": f"One record or a list of 1 to {limit} records.",
        "required": True,
        "content": {"application/json": {"schema": {"anyOf": [ref, many]}}},
    }
