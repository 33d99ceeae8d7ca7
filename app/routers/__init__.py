"""Each router module exposes ``router``; ``include_routers`` mounts those that exist.

``CLIENT_KEY_ROUTERS`` answer users: with ``api.require_api_key`` on they need a client key (``app.auth``).
The other routers handle theirs inside (``/conversations``, ``/v1``, ``/ask*`` read the key's
identity; ``/feedback`` declares it on its route) or are open (health, metrics) / admin-keyed.
"""

from __future__ import annotations

import importlib

from fastapi import Depends, FastAPI

from genaiops.settings import Settings

ROUTER_MODULES = (
    "health",
    "rag",
    "classic",
    "monitoring",
    "admin",
    "prompts",
    "conversations",
    "documents",
    "openai_api",
)
CLIENT_KEY_ROUTERS = ("classic",)  # /predict, /predict/schema


def include_routers(app: FastAPI, settings: Settings) -> None:
    for name in ROUTER_MODULES:
        module_name = f"app.routers.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        if name in CLIENT_KEY_ROUTERS:
            from app.auth import CLIENT_KEY_RESPONSES, require_client

            app.include_router(module.router, dependencies=[Depends(require_client)], responses=CLIENT_KEY_RESPONSES)
        else:
            app.include_router(module.router)
