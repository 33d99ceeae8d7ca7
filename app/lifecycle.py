"""Start-up and shut-down of the heavy parts, kept out of the factory so tests can pick sides.

A side that fails to start does not stop the other: its error is kept on ``app.state`` and
reported by ``/ready`` and by that side's routes as a 503 with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from fastapi import FastAPI

from genaiops.settings import Settings

log = logging.getLogger(__name__)


async def startup(
    app: FastAPI, settings: Settings, *, load_rag: bool, load_classic: bool, prebuilt: dict[str, Any] | None = None
) -> None:
    """Build each side asked for, unless a prebuilt one was handed in (tests)."""
    from genaiops.keys import RateLimiter

    state = app.state
    prebuilt = prebuilt or {}
    state.rate_limiter = RateLimiter(settings.api.rate_limit_per_minute)
    state.schema, state.schema_error = await _build("database schema", _migrate, settings)
    state.rag, state.rag_error = None, "RAG side not loaded in this process"
    state.classic, state.classic_error = None, "classic side not loaded in this process"
    if prebuilt.get("rag") is not None:
        state.rag, state.rag_error = prebuilt["rag"], None
    elif load_rag:
        state.rag, state.rag_error = await _build("rag", _build_rag, settings)
    if prebuilt.get("classic") is not None:
        state.classic, state.classic_error = prebuilt["classic"], None
    elif load_classic:
        state.classic, state.classic_error = await _build("classic", _build_classic, settings)
    state.scheduler = _build_scheduler(app, settings) if state.rag is not None else None
    state.ask_log, state.ask_log_error = await _build("ask log", _build_ask_log, settings, state.rag)
    state.conversations, state.conversations_error = await _build("conversations", _build_conversations, settings)
    state.keys, state.keys_error = await _build("client keys", _build_keys, settings)
    state.documents, state.documents_error = None, state.rag_error
    if state.rag is not None:
        state.documents, state.documents_error = await _build("documents", _build_documents, settings, state.rag)
    if state.classic is not None:
        threading.Thread(target=_warm_drift, name="warm-drift", daemon=True).start()


async def shutdown(app: FastAPI) -> None:
    """Stop generations (their streams end with an error event), then close and flush every service."""
    scheduler = getattr(app.state, "scheduler", None)
    if scheduler is not None:
        scheduler.drain()
        scheduler.close()
    for name in ("classic", "rag", "ask_log", "conversations", "keys", "documents"):
        service = getattr(app.state, name, None)
        close = getattr(service, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - shutting down: log and go on
                log.exception("closing the %s service failed", name)


async def _build(name: str, builder, settings: Settings, *args):  # type: ignore[no-untyped-def]
    try:
        service = await asyncio.to_thread(builder, settings, *args)
        return service, None
    except Exception as exc:  # noqa: BLE001 - a side that cannot start is reported, not fatal
        log.exception("the %s side could not start", name)
        return None, f"{type(exc).__name__}: {exc}"


def _build_scheduler(app: FastAPI, settings: Settings):  # type: ignore[no-untyped-def]
    """Admission control in front of the model: as many generations as it has slots, a bounded queue."""
    from rag.serving import Admission, AnswerScheduler

    llm = settings.llm
    capacity = max(1, int(getattr(app.state.rag.llm, "parallel", 1)))
    observer = getattr(getattr(app.state, "metrics", None), "llm", None)
    admission = Admission(capacity, llm.max_queue, llm.max_wait_s, llm.service_time_s)
    if observer is not None:
        admission.observer = observer
    return AnswerScheduler(app.state.rag, admission)


def _build_rag(settings: Settings):  # type: ignore[no-untyped-def]
    from rag.service import build_rag_service

    return build_rag_service(settings)


def _build_classic(settings: Settings):  # type: ignore[no-untyped-def]
    from classic_ml.serving import build_classic_service

    return build_classic_service(settings)


def _build_ask_log(settings: Settings, rag_service):  # type: ignore[no-untyped-def]
    """The ask log (/ask records, /feedback); it embeds questions with the RAG's embedder when there is one."""
    from rag.ask_log import build_ask_log

    embedder = getattr(getattr(rag_service, "retriever", None), "embedder", None)
    return build_ask_log(settings, embedder=embedder)


def _migrate(settings: Settings) -> str:
    """Every table under the migrations (``genaiops db upgrade`` does the same from a shell)."""
    from genaiops.migrate import upgrade_database

    return upgrade_database(settings)


def _build_conversations(settings: Settings):  # type: ignore[no-untyped-def]
    from rag.conversations import build_conversation_store

    return build_conversation_store(settings)


def _build_keys(settings: Settings):  # type: ignore[no-untyped-def]
    from genaiops.keys import build_key_store

    return build_key_store(settings)


def _build_documents(settings: Settings, rag_service):  # type: ignore[no-untyped-def]
    from rag.documents import build_document_library

    return build_document_library(settings, rag_service)


def _warm_drift() -> None:
    """Import Evidently (about 4 s) off the request path, so the first /monitoring/classic does not pay it."""
    try:
        from classic_ml.drift import warm_up

        warm_up()
    except Exception:  # noqa: BLE001 - only a head start; the route imports it again if this failed
        log.debug("could not pre-import the drift monitor", exc_info=True)
