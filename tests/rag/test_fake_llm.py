"""``FakeChatModel`` speaks the ``ChatModel`` port, and ``create_app`` serves a prebuilt RAG service over it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from genaiops.settings import Settings
from rag.fake_llm import FakeChatModel, unavailable
from rag.retrieval import HybridRetriever
from rag.service import build_rag_service
from rag.tracing import NullTracer
from rag.types import LlmUnavailableError


def test_replies_in_order_then_default_and_calls_recorded() -> None:
    fake = FakeChatModel(["premier mot", unavailable()], default="toujours pareil")
    assert fake.generate([("user", "q1")]) == "premier mot"
    with pytest.raises(LlmUnavailableError):
        fake.generate([("user", "q2")])
    assert list(fake.stream([("user", "q3")], max_tokens=1)) == ["toujours"]
    assert [c.messages[-1][1] for c in fake.calls] == ["q1", "q2", "q3"]
    assert [c.max_tokens for c in fake.calls] == [None, None, 1]


def test_a_consumer_that_stops_early_is_recorded() -> None:
    fake = FakeChatModel(default="un deux trois quatre")
    stream = fake.stream([("user", "q")])
    assert next(stream) == "un"
    stream.close()
    assert fake.calls[0].pieces == 1


def test_create_app_serves_a_prebuilt_rag_service(course_index: tuple[Settings, HybridRetriever]) -> None:
    settings, retriever = course_index
    fake = FakeChatModel()
    service = build_rag_service(settings, retriever=retriever, chat_model=fake, tracer=NullTracer())
    with TestClient(create_app(settings, load_classic=False, rag_service=service)) as client:
        response = client.post("/ask", json={"question": "Quels outils permettent de détecter le drift ?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "fake-chat-model"
    assert body["mode"] in {"generative", "extractive"}
    assert len(fake.calls) == 1 and "<context>" in fake.calls[0].messages[-1][1]
