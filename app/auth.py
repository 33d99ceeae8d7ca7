"""Client API keys on the routes that answer users (``/ask*``, ``/v1/*``, ``/predict*``, ``/feedback``,
``/conversations*``), and the error shapes those routes answer with.

With ``api.require_api_key`` off (``make run``) every caller is the anonymous client and nothing is
checked. On, a key comes as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``: none or one we
never issued is a 401, a revoked one a 403, a key over ``api.rate_limit_per_minute`` a 429 with
``Retry-After`` (error shapes: app/errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.deps import SettingsDep
from app.errors import ApiError, rate_limited

_bearer = HTTPBearer(auto_error=False, scheme_name="ClientKeyBearer", description="a key from `genaiops keys create`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ClientKeyHeader")


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


ClientDep = Annotated[Client, Depends(require_client)]

CLIENT_KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown client key (api.require_api_key on)"},
    403: {"description": "Revoked client key"},
    429: {"description": "Over the key's requests per minute, or the model is busy; see Retry-After"},
    503: {"description": "Client keys cannot be checked (database down), or the service is unavailable"},
}
