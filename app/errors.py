"""Every error the API answers with, mapped once: domain exceptions to statuses, OpenAI's shape under ``/v1``.

RAG: bad question 422, busy model 429, shutting down / index empty / backend down 503. Classic model: no model
503, too many records 413, records breaking the schema 422 (one entry per field). Prompts: unknown version 404,
registry down 503. Documents: the status the document error carries (413, 415, 422).

Routes raise what the packages raise (``InvalidRequestError``, ``OverloadedError``, ...) and never
map errors themselves. Under ``/v1`` every error has OpenAI's shape (``{"error": {"message",
"type", "code"}}``, validation errors as 400) so OpenAI clients report it properly; elsewhere
FastAPI's ``{"detail": ...}``. An overload is a 429 and a shutdown a 503, both with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from classic_ml.drift import NoReferenceError
from classic_ml.serving import BatchTooLargeError, ModelUnavailableError, RecordsInvalidError
from prompts.catalog import RegistryUnavailableError as PromptRegistryUnavailableError
from prompts.catalog import VersionNotFoundError
from rag.documents import DocumentError
from rag.service import InvalidRequestError
from rag.serving import ClientGoneError, ShuttingDownError
from rag.store import VectorStoreUnavailableError
from rag.types import EmptyIndexError, LlmUnavailableError, OverloadedError

OPENAI_PREFIX = "/v1/"
CLIENT_CLOSED = 499  # nginx's "client closed request": nobody reads it, the log does


class ApiError(Exception):
    """An error with a status, a message and OpenAI's ``type`` / ``code`` (rendered per path)."""

    def __init__(
        self, status: int, message: str, *, type_: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.headers = status, message, type_, code, headers or {}


def rate_limited(reason: str, retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        f"rate limit reached: {reason}; retry in {retry_after_s} s",
        type_="rate_limit_exceeded",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(retry_after_s)},
    )


def as_api_error(exc: Exception) -> ApiError:
    """A domain exception as the status, message and headers the API answers with."""
    if isinstance(exc, ShuttingDownError):
        return ApiError(
            503, str(exc), type_="server_error", code="shutting_down", headers={"Retry-After": str(exc.retry_after_s)}
        )
    if isinstance(exc, OverloadedError):
        return ApiError(
            429,
            str(exc),
            type_="rate_limit_exceeded",
            code="model_busy",
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    if isinstance(exc, InvalidRequestError):
        return ApiError(422, str(exc), type_="invalid_request_error", code=exc.field)
    if isinstance(exc, EmptyIndexError | LlmUnavailableError | VectorStoreUnavailableError):
        return ApiError(503, str(exc), type_="server_error", code="service_unavailable")
    if isinstance(exc, ModelUnavailableError | NoReferenceError | PromptRegistryUnavailableError):
        return ApiError(503, str(exc), type_="server_error", code="service_unavailable")
    if isinstance(exc, BatchTooLargeError):
        return ApiError(413, str(exc), type_="invalid_request_error", code="too_many_records")
    if isinstance(exc, VersionNotFoundError):
        return ApiError(404, str(exc), type_="invalid_request_error", code="not_found")
    if isinstance(exc, DocumentError):
        return ApiError(exc.status, str(exc), type_="invalid_request_error", code="bad_document")
    raise exc


def _is_openai(request: Request) -> bool:
    return request.url.path.startswith(OPENAI_PREFIX)


def _openai_error(status: int, message: str, type_: str, code: str | None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(status_code=status, content=body, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    if _is_openai(request):
        return _openai_error(exc.status, exc.message, exc.type, exc.code, exc.headers)
    return JSONResponse(status_code=exc.status, content={"detail": exc.message}, headers=exc.headers or None)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    error = as_api_error(exc)
    if isinstance(exc, InvalidRequestError):
        if _is_openai(request):
            return _openai_error(400, f"{exc.field}: {exc}", "invalid_request_error", None)
        detail = [{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]
        return JSONResponse(status_code=422, content={"detail": detail})
    return await _api_error(request, error)


async def _records_invalid(request: Request, exc: Exception) -> Any:
    """Records that break the model's schema: FastAPI's own 422 shape, one entry per bad field."""
    assert isinstance(exc, RecordsInvalidError)
    return await _validation_error(request, RequestValidationError(exc.errors))


async def _client_gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=CLIENT_CLOSED)


async def _http_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, StarletteHTTPException)
    if not _is_openai(request):
        return await http_exception_handler(request, exc)
    type_ = "invalid_request_error" if exc.status_code < 500 else "server_error"
    code = "model_not_found" if exc.status_code == 404 else None
    return _openai_error(exc.status_code, str(exc.detail), type_, code, dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, RequestValidationError)
    if not _is_openai(request):
        return await request_validation_exception_handler(request, exc)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{where}: {first.get('msg', 'invalid request')}" if where else str(first.get("msg", "invalid request"))
    return _openai_error(400, message, "invalid_request_error", None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for domain in (
        InvalidRequestError,
        OverloadedError,
        EmptyIndexError,
        LlmUnavailableError,
        VectorStoreUnavailableError,
        ModelUnavailableError,
        NoReferenceError,
        PromptRegistryUnavailableError,
        BatchTooLargeError,
        VersionNotFoundError,
        DocumentError,
    ):
        app.add_exception_handler(domain, _domain_error)
    app.add_exception_handler(RecordsInvalidError, _records_invalid)
    app.add_exception_handler(ClientGoneError, _client_gone)
