"""Helpers of the chat-product tests (conversations, keys, documents, /v1): the real app over the
session's course index and a ``FakeChatModel``, with its own database in the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.main import create_app
from genaiops.settings import ApiSettings, Settings
from rag.fake_llm import FakeChatModel
from rag.retrieval import HybridRetriever
from rag.service import RagService, build_rag_service
from rag.tracing import NullTracer, Tracer

ADMIN_KEY = "admin-key-for-tests-0123456789"


def product_settings(base: Settings, tmp_path: Path, database_url: str | None = None, **api: Any) -> Settings:
    """``base`` (an indexed course) with its own database and the given ``api`` settings."""
    url = database_url or f"sqlite:///{tmp_path / 'genaiops.db'}"
    api_settings = ApiSettings(**{"admin_api_key": ADMIN_KEY, **api})
    return base.model_copy(update={"database_url": url, "api": api_settings})


def fake_service(
    settings: Settings, retriever: HybridRetriever, fake: FakeChatModel | None = None, tracer: Tracer | None = None
) -> RagService:
    return build_rag_service(
        settings, retriever=retriever, chat_model=fake or FakeChatModel(), tracer=tracer or NullTracer()
    )


@contextmanager
def client_for(settings: Settings, service: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings, load_classic=False, rag_service=service)) as client:
        yield client


def create_key(settings: Settings, name: str) -> str:
    from genaiops.keys import build_key_store

    store = build_key_store(settings)
    try:
        return store.create(name)[1]
    finally:
        store.close()


def revoke_key(settings: Settings, name: str) -> None:
    from genaiops.keys import build_key_store

    store = build_key_store(settings)
    try:
        store.revoke(name)
    finally:
        store.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def served(settings: Settings, service: Any) -> Iterator[str]:
    """The real app under uvicorn on a free 127.0.0.1 port; yields its base URL."""
    from tests.ui.helpers import ServerThread, free_port

    port = free_port()
    server = ServerThread(create_app(settings, load_classic=False, rag_service=service), port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
