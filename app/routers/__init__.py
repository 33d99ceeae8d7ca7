"""Every router of the API, mounted by ``include_routers`` in the order ``/docs`` lists them.

``CLIENT_KEY_ROUTERS`` answer users: with ``api.require_api_key`` on they need a client key (``app.auth``).
The other routers handle theirs inside (``/conversations``, ``/v1``, ``/ask*`` read the key's
identity; ``/feedback`` declares it on its route) or are open (health, metrics) / admin-keyed.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from app.auth import CLIENT_KEY_RESPONSES, require_client
from app.routers import admin, classic, conversations, documents, health, monitoring, openai_api, prompts, rag
from genaiops.settings import Settings

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    rag.router,
    classic.router,
    monitoring.router,
    admin.router,
    prompts.router,
    conversations.router,
    documents.router,
    openai_api.router,
)
CLIENT_KEY_ROUTERS: tuple[APIRouter, ...] = (classic.router,)  # /predict, /predict/schema


def include_routers(app: FastAPI, settings: Settings) -> None:
    for router in ROUTERS:
        if router in CLIENT_KEY_ROUTERS:
            app.include_router(router, dependencies=[Depends(require_client)], responses=CLIENT_KEY_RESPONSES)
        else:
            app.include_router(router)
