"""Each router module exposes ``router``; ``include_routers`` mounts those that exist."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from genaiops.settings import Settings

ROUTER_MODULES = ("health", "rag", "classic", "monitoring", "admin", "prompts")


def include_routers(app: FastAPI, settings: Settings) -> None:
    for name in ROUTER_MODULES:
        module_name = f"app.routers.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        app.include_router(module.router)
