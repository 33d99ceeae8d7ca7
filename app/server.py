"""Serving the API with uvicorn, and stopping it quickly without losing anything.

On SIGTERM / SIGINT uvicorn stops accepting connections and waits for the open ones, then runs the
lifespan shutdown. A stream of answer tokens can stay open for many seconds, so the signal also
drains the answer scheduler at once: waiting questions are refused with 503 + Retry-After, running
generations stop at their next token and their streams end with an ``error`` event. The open
connections then close, the lifespan flushes the prediction and ask logs and stops llama-server.
``api.shutdown_grace_s`` bounds the whole wait.
"""

from __future__ import annotations

import asyncio
import logging
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from genaiops.settings import Settings

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """``uvicorn.Server`` that drains the answer scheduler as soon as a shutdown signal arrives."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.fastapi_app = app
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        scheduler = getattr(self.fastapi_app.state, "scheduler", None)
        if scheduler is not None and self._loop is not None and not self.should_exit:
            log.info("shutting down: refusing new questions and stopping running generations")
            self._loop.call_soon_threadsafe(scheduler.drain)
        super().handle_exit(sig, frame)


def run_api(app: FastAPI, settings: Settings, host: str, port: int) -> None:
    """Serve ``app`` until a signal; exits within ``api.shutdown_grace_s`` with generations in flight."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", timeout_graceful_shutdown=int(settings.api.shutdown_grace_s)
    )
    DrainingServer(config, app).run()
