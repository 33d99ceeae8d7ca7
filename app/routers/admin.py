"""``/admin/*``: operations that change what the API serves, behind the ``X-API-Key`` header.

The key is ``settings.api.admin_api_key``. Without it configured the admin API is off and every
call answers 503 saying which setting enables it (no key means no one may reload, not anyone);
a missing or wrong key is a 401.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader
from pydantic import BaseModel

from app.deps import ClassicDep, RagDep, SettingsDep
from classic_ml.api_models import ReloadResponse

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="settings api.admin_api_key")


def require_admin(settings: SettingsDep, key: str | None = Security(_api_key)) -> None:
    configured = settings.api.admin_api_key
    if configured is None or not configured.get_secret_value():
        raise HTTPException(status_code=503, detail="admin API disabled: set GENAIOPS_API__ADMIN_API_KEY to enable it")
    if key is None or not hmac.compare_digest(key.encode(), configured.get_secret_value().encode()):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.post(
    "/reload",
    response_model=ReloadResponse,
    responses={401: {"description": "Missing or wrong X-API-Key"}, 503: {"description": "No model / admin off"}},
)
async def reload(request: Request, classic: ClassicDep) -> ReloadResponse:
    """Load the current champion from the registry without a restart (e.g. after `genaiops train`)."""
    previous, current = await run_in_threadpool(classic.reload)
    request.app.openapi_schema = None  # the request model may have changed with the model
    return ReloadResponse(model=current, previous=previous, changed=previous != current)


class PromptInUse(BaseModel):
    name: str
    version: str
    source: str  # "registry" (prompts:/NAME@production) or "file" (prompts/templates)


class RagReloadResponse(BaseModel):
    prompt: PromptInUse
    previous: PromptInUse
    changed: bool
    chunks: int


@router.post("/reload/rag", response_model=RagReloadResponse, responses={401: {}, 503: {"description": "no RAG"}})
async def reload_rag(rag: RagDep) -> RagReloadResponse:
    """Re-read the answering prompt (e.g. after `genaiops prompts promote`) and the index (after an ingest)."""
    previous, current = await run_in_threadpool(rag.reload_prompt)
    chunks = await run_in_threadpool(rag.reload_index)
    return RagReloadResponse(
        prompt=PromptInUse(**current), previous=PromptInUse(**previous), changed=previous != current, chunks=chunks
    )
