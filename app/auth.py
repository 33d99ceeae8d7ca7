"""Client API keys on the routes that answer users (``/ask*``, ``/v1/*``, ``/predict*``, ``/feedback``,
``/conversations*``), and the error shapes those routes answer with.

With ``api.require_api_key`` off (``make run``) every caller is the anonymous client and nothing is
checked. On, a key comes as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``: none or one we
never issued is a 401, a revoked one a 403, a key over ``api.rate_limit_per_minute`` a 429 with
``Retry-After``. Under ``/v1`` every error has OpenAI's shape (``{"error": {"message", "type",
"code"}}``, validation errors as 400) so OpenAI clients report it properly; elsewhere FastAPI's
``{"detail": ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.deps import SettingsDep

OPENAI_PREFIX = "/v1/"
_bearer = HTTPBearer(auto_error=False, scheme_name="ClientKeyBearer", description="a key from `genaiops keys create`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ClientKeyHeader")


class ApiError(Exception):
    """An error with a status, a message and OpenAI's ``type`` / ``code`` (rendered per path)."""

    def __init__(
        self, status: int, message: str, *, type_: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.headers = status, message, type_, code, headers or {}


@dataclass(frozen=True)
class Client:
    """Who is calling: a key's id and name, or the anonymous client (``id=None``) when keys are off."""

    id: str | None = None
    name: str | None = None


def require_client(
    request: Request,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Client:
    """The calling client; 401 / 403 / 429 / 503 as the module docstring says. Runs in the thread pool."""
    if not settings.api.require_api_key:
        return Client()
    key = bearer.credentials if bearer is not None else header
    if not key:
        raise ApiError(
            401,
            "missing API key: send Authorization: Bearer KEY or X-API-Key: KEY (keys: `genaiops keys create NAME`)",
            type_="invalid_request_error",
            code="missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    store = getattr(request.app.state, "keys", None)
    if store is None:
        reason = getattr(request.app.state, "keys_error", "not started")
        raise ApiError(503, f"client keys cannot be checked: {reason}", type_="server_error", code="keys_unavailable")
    record = store.lookup(key)
    if record is None:
        raise ApiError(
            401, "invalid API key", type_="invalid_request_error", code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    if record.revoked:
        raise ApiError(403, f"API key {record.name!r} was revoked", type_="invalid_request_error", code="revoked_key")
    retry_after = request.app.state.rate_limiter.check(record.id)
    if retry_after:
        limit = settings.api.rate_limit_per_minute
        raise rate_limited(f"key {record.name!r} is over {limit} requests per minute", retry_after)
    return Client(record.id, record.name)


def rate_limited(reason: str, retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        f"rate limit reached: {reason}; retry in {retry_after_s} s",
        type_="rate_limit_exceeded",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(retry_after_s)},
    )


ClientDep = Annotated[Client, Depends(require_client)]

CLIENT_KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown client key (api.require_api_key on)"},
    403: {"description": "Revoked client key"},
    429: {"description": "Over the key's requests per minute, or the model is busy; see Retry-After"},
    503: {"description": "Client keys cannot be checked (database down), or the service is unavailable"},
}


def _openai_error(status: int, message: str, type_: str, code: str | None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(status_code=status, content=body, headers=headers)


def _is_openai(request: Request) -> bool:
    return request.url.path.startswith(OPENAI_PREFIX)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    if _is_openai(request):
        return _openai_error(exc.status, exc.message, exc.type, exc.code, exc.headers)
    return JSONResponse(status_code=exc.status, content={"detail": exc.message}, headers=exc.headers or None)


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
