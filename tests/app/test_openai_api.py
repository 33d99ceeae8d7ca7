"""``/v1``: the real ``openai`` client and LangChain's ``ChatOpenAI`` against the app served by uvicorn.

The RAG is the real one (course index in a real Chroma, real embeddings, grounding guard) over a
``FakeChatModel``; what is checked is the OpenAI contract: answers with citations and sources,
streams, refusals, errors and 429s as OpenAI clients raise them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from app.routers.openai_api import CORRECTION
from genaiops.settings import Settings
from rag.fake_llm import FakeChatModel, unavailable
from rag.retrieval import HybridRetriever
from tests.app.product import create_key, fake_service, product_settings, revoke_key, served
from tests.rag.helpers import FR_QUESTION, OUT_OF_SCOPE

MODEL = "genaiops-rag"


def client_of(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def ask(client: openai.OpenAI, question: str, **extra: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}], **extra)


@pytest.fixture
def rag_app(course_index: tuple[Settings, HybridRetriever], tmp_path: Path):  # type: ignore[no-untyped-def]
    """(url, fake model): the app with keys off."""
    base, retriever = course_index
    settings = product_settings(base, tmp_path)
    fake = FakeChatModel()
    with served(settings, fake_service(settings, retriever, fake)) as url:
        yield url, fake


def test_models_and_a_cited_answer_with_its_sources(rag_app: tuple[str, FakeChatModel]) -> None:
    url, fake = rag_app
    client = client_of(url)
    assert [m.id for m in client.models.list()] == [MODEL]
    assert client.models.retrieve(MODEL).owned_by == "genaiops"

    history = [
        {"role": "system", "content": "You are a pirate."},  # ignored: the answering prompt is ours
        {"role": "user", "content": "Parlons du drift."},
        {"role": "assistant", "content": "D'accord, parlons-en."},
        {"role": "user", "content": FR_QUESTION},
    ]
    completion = client.chat.completions.create(model=MODEL, messages=history, temperature=0.2)  # type: ignore[arg-type]
    message = completion.choices[0].message
    assert completion.object == "chat.completion" and completion.model == MODEL
    assert completion.choices[0].finish_reason == "stop" and "[1]" in (message.content or "")
    assert message.refusal is None
    sources = completion.model_extra["sources"]  # type: ignore[index]
    assert sources and {"id", "source", "heading", "score", "text"} <= set(sources[0])
    assert completion.model_extra["genaiops"]["mode"] == "generative"  # type: ignore[index]
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    sent = [content for role, content in fake.calls[0].messages]
    assert "Parlons du drift." in sent and "D'accord, parlons-en." in sent
    assert not any("pirate" in content for content in sent)


def test_a_stream_of_chunks_ends_with_the_sources_and_done(rag_app: tuple[str, FakeChatModel]) -> None:
    url, _ = rag_app
    chunks = list(ask(client_of(url), FR_QUESTION, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finished) == 1 and "[1]" in text
    assert finished[0].model_extra["sources"] and finished[0].model_extra["genaiops"]["mode"] == "generative"  # type: ignore[index]
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert len(chunks) > 4  # token by token, not one block


def test_a_replaced_generation_is_followed_by_the_checked_answer(rag_app: tuple[str, FakeChatModel]) -> None:
    url, fake = rag_app
    fake.queue("Les licornes roses pilotent les serveurs depuis la Lune.")  # ungrounded: the guard replaces it
    chunks = list(ask(client_of(url), FR_QUESTION, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = chunks[-1].model_extra["genaiops"]  # type: ignore[index]
    assert final["mode"] == "extractive" and text.startswith("Les licornes roses") and CORRECTION in text


def test_refusals_and_errors_as_openai_clients_expect(rag_app: tuple[str, FakeChatModel]) -> None:
    url, fake = rag_app
    client = client_of(url)
    refusal = ask(client, OUT_OF_SCOPE)
    message = refusal.choices[0].message
    assert refusal.model_extra["genaiops"]["mode"] == "refusal" and refusal.model_extra["sources"] == []  # type: ignore[index]
    assert message.refusal and message.content == message.refusal and refusal.choices[0].finish_reason == "stop"

    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": FR_QUESTION}])
    assert unknown.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "assistant", "content": "Bonjour"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[])
    with pytest.raises(openai.BadRequestError):
        ask(client, "x" * 5000)  # over rag.max_question_chars
    fake.queue(unavailable())
    with pytest.raises(openai.InternalServerError) as down:
        ask(client, FR_QUESTION, stream=True)
    assert down.value.status_code == 503


@pytest.mark.slow  # generations held on purpose
def test_a_busy_model_is_a_429_with_retry_after(course_index: tuple[Settings, HybridRetriever], tmp_path: Path) -> None:
    """One slot, no queue: while a slow generation holds the model, the next question is refused at once."""
    base, retriever = course_index
    settings = product_settings(base, tmp_path)
    settings.llm.max_queue, settings.llm.service_time_s = 0, 7.0
    held = threading.Event()  # the first generation holds the model until the refusals are checked
    slow = FakeChatModel(default=" ".join(f"Evidently{i}" for i in range(40)), hold=held)
    with served(settings, fake_service(settings, retriever, slow)) as url:
        running = threading.Thread(target=lambda: list(ask(client_of(url), FR_QUESTION, stream=True)))
        running.start()
        try:
            while not slow.calls:
                time.sleep(0.02)
            for stream in (False, True):
                with pytest.raises(openai.RateLimitError) as busy:
                    ask(client_of(url), FR_QUESTION, stream=stream)
                assert int(busy.value.response.headers["retry-after"]) >= 1
                assert busy.value.body["type"] == "rate_limit_exceeded"  # type: ignore[index]
        finally:
            held.set()
            running.join(30)


def test_client_keys_with_the_openai_client(course_index: tuple[Settings, HybridRetriever], tmp_path: Path) -> None:
    base, retriever = course_index
    settings = product_settings(base, tmp_path, require_api_key=True, rate_limit_per_minute=3)
    key, former = create_key(settings, "open-webui"), create_key(settings, "former")
    revoke_key(settings, "former")
    with served(settings, fake_service(settings, retriever)) as url:
        assert "[1]" in (ask(client_of(url, key), FR_QUESTION).choices[0].message.content or "")
        with pytest.raises(openai.AuthenticationError):
            client_of(url, "gk_not_a_key").models.list()
        with pytest.raises(openai.PermissionDeniedError):
            client_of(url, former).models.list()
        client_of(url, key).models.list()
        client_of(url, key).models.list()
        with pytest.raises(openai.RateLimitError) as limited:
            client_of(url, key).models.list()
        assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60


def test_langchain_chat_openai_uses_genaiops_as_a_model(rag_app: tuple[str, FakeChatModel]) -> None:
    from langchain_openai import ChatOpenAI

    url, _ = rag_app
    llm = ChatOpenAI(model=MODEL, base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)  # type: ignore[arg-type]
    reply = llm.invoke([("user", FR_QUESTION)])
    assert "[1]" in str(reply.content)
    streamed = "".join(str(chunk.content) for chunk in llm.stream([("user", FR_QUESTION)]))
    assert "[1]" in streamed
