"""FastAPI application factory. Routes live in ``app/routers``; the work lives in the packages.

Nothing heavy happens at import: models, clients and stores are built in the lifespan from the
settings passed to ``create_app`` and kept on ``app.state``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from genaiops import __version__
from genaiops.settings import Settings, get_settings
from genaiops.tracking import mlflow_store

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    load_rag: bool = True,
    load_classic: bool = True,
    rag_service: Any = None,
    classic_service: Any = None,
) -> FastAPI:
    """Build the API. ``load_rag`` / ``load_classic`` let tests start one side only.

    ``rag_service`` / ``classic_service``: prebuilt components used as they are (tests pass a
    ``RagService`` over a ``FakeChatModel``); the lifespan then builds only what was not given.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from app import lifecycle

        await lifecycle.startup(
            app,
            settings,
            load_rag=load_rag,
            load_classic=load_classic,
            prebuilt={"rag": rag_service, "classic": classic_service},
        )
        try:
            yield
        finally:
            await lifecycle.shutdown(app)

    app = FastAPI(
        title="genaiops",
        version=__version__,
        description="A scikit-learn model (`/predict`) and a RAG chatbot over the MLOps course (`/ask`).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.mlflow = mlflow_store(settings)  # the one MLflow adapter of this app (``MlflowDep``)
    from app.errors import install_error_handlers
    from app.metrics import install_metrics
    from app.routers import include_routers

    install_error_handlers(app)
    include_routers(app, settings)
    install_metrics(app)
    return app
