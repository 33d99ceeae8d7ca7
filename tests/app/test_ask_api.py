"""``POST /ask``, ``/ask/stream``, ``/health``, ``/ready`` and ``/feedback`` through the real app factory.

Real course index (embedded Chroma), real embeddings, a ``FakeChatModel`` (the shapes, statuses and logs
are the point, not the model), real classic champion (so ``/ready`` can be 200). Ollama cannot run here: it
is pointed at a closed port and at a server that never answers, to prove a 503 naming it, quickly.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from genaiops.settings import Settings
from prompts import load_prompt_file
from rag.fake_llm import FakeChatModel
from rag.grounding import citations
from rag.ingest import ingest
from rag.service import RagService, build_rag_service
from rag.tracing import NullTracer
from tests.classic_ml.helpers import trained_penguins
from tests.net import silent_server
from tests.rag.helpers import (
    ANSWER_KEYS,
    COURSE_DIR,
    FR_QUESTION,
    FR_SOURCE,
    MAX_TOKENS,
    OUT_OF_SCOPE,
    TOP_K,
    answer_settings,
    closed_port_url,
)
from tests.settings import llm_cache_dir

pytestmark = pytest.mark.slow  # a trained model and an ingested course per module, Ollama timeouts

EMPTY_INDEX = "index is empty: run genaiops ingest"
SOURCE_KEYS = {"id", "source", "title", "heading", "score", "text"}


def api_settings(data_dir: Path, factory: pytest.TempPathFactory, **overrides: Any) -> Settings:
    """Settings on the session's classic registry and GGUF cache, short answers, no tracing."""
    registry, _ = trained_penguins(factory)
    mlflow = {
        "tracking_uri": registry.mlflow.tracking_uri,
        "artifact_location": registry.mlflow.artifact_location,
        "trace_sample_rate": 0.0,  # traces have their own tests; here they would only add MLflow writes
    }
    return answer_settings(data_dir, llm_cache_dir(factory), mlflow=mlflow, **overrides)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = api_settings(tmp_path_factory.mktemp("ask-api") / "var", tmp_path_factory)
    report = ingest(settings, COURSE_DIR, progress=False)
    assert report.files_indexed == 5, report
    return settings


def fake_rag(settings: Settings) -> RagService:
    """The RAG service over ``settings``' index with a ``FakeChatModel``: these tests are about the API's
    shapes, statuses and logs, not the model (tests/rag/test_service.py and the eval test the real one)."""
    return build_rag_service(settings, chat_model=FakeChatModel(), tracer=NullTracer())


@pytest.fixture(scope="module")
def client(indexed: Settings) -> Iterator[TestClient]:
    """The whole app (both sides) once per module."""
    with TestClient(create_app(indexed, rag_service=fake_rag(indexed))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def asked(client: TestClient) -> dict[str, Any]:
    """One ``/ask`` answer, shared by the shape and feedback tests."""
    response = client.post("/ask", json={"question": FR_QUESTION})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def empty_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = api_settings(tmp_path_factory.mktemp("ask-api-empty") / "var", tmp_path_factory)
    with TestClient(create_app(settings, load_classic=False, rag_service=fake_rag(settings))) as test_client:
        yield test_client


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a server-sent-events body."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_ask_answers_with_the_documented_shape(asked: dict[str, Any]) -> None:
    assert set(asked) == ANSWER_KEYS | {"conversation_id"}
    assert re.fullmatch(r"[0-9a-f]{32}", asked["request_id"])
    assert asked["mode"] in {"generative", "extractive"} and asked["grounded"] is True
    assert asked["prompt"] == {"name": "rag_answer", "version": load_prompt_file("rag_answer").version}
    assert asked["model"] == FakeChatModel().name
    assert {"retrieve", "generate", "total"} <= set(asked["timings_ms"])
    assert all(isinstance(v, float) and v >= 0 for v in asked["timings_ms"].values())
    assert asked["timings_ms"]["total"] >= asked["timings_ms"]["generate"] > 0
    assert 0 < asked["tokens"] <= MAX_TOKENS
    sources = asked["sources"]
    assert 1 <= len(sources) <= TOP_K and all(set(s) == SOURCE_KEYS for s in sources)
    assert all(isinstance(s["score"], float) and 0 <= s["score"] <= 1 and s["text"] for s in sources)
    assert any(s["source"] == FR_SOURCE for s in sources)
    cited = citations(asked["answer"])
    assert cited and set(cited) <= set(range(1, len(sources) + 1)), asked["answer"]


def test_an_off_topic_question_is_a_refusal_without_sources(client: TestClient) -> None:
    body = client.post("/ask", json={"question": OUT_OF_SCOPE, "top_k": 3}).json()
    assert (body["mode"], body["grounded"], body["sources"]) == ("refusal", False, [])
    assert body["answer"] == "Le cours ne couvre pas cette question."


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"question": ""}, "question", "must not be empty"),
        ({"question": " \n\t "}, "question", "must not be empty"),
        ({"question": "x" * 2001}, "question", "the limit is 2000"),
        ({"question": FR_QUESTION, "top_k": 0}, "top_k", "greater than or equal to 1"),
        ({"question": FR_QUESTION, "top_k": 21}, "top_k", "less than or equal to 20"),
        ({"question": FR_QUESTION, "temperature": 2}, "temperature", "Extra inputs"),
        ({"top_k": 3}, "question", "Field required"),
        ({"question": FR_QUESTION, "history": [{"role": "system", "content": "x"}]}, "role", "'user' or 'assistant'"),
    ],
)
@pytest.mark.parametrize("path", ["/ask", "/ask/stream"])
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, path: str, body: dict, field: str, message: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][0] == "body" and error["loc"][-1] == field and message in error["msg"]


def test_stream_sends_tokens_then_the_ask_body(client: TestClient) -> None:
    history = [{"role": "user", "content": "Bonjour"}, {"role": "assistant", "content": "Bonjour ! [1]"}]
    with client.stream(
        "POST", "/ask/stream", json={"question": "À quoi sert un Feature Store ?", "history": history}
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse(r.read().decode())
    *tokens, (last, body) = events
    assert tokens and all(name == "token" and set(data) == {"text"} for name, data in tokens)
    assert last == "done" and set(body) == ANSWER_KEYS | {"conversation_id"}
    assert body["mode"] in {"generative", "extractive"} and body["grounded"] and body["tokens"] == len(tokens)
    assert all(set(s) == SOURCE_KEYS for s in body["sources"])


def test_a_refusal_streams_one_done_event(client: TestClient) -> None:
    response = client.post("/ask/stream", json={"question": OUT_OF_SCOPE})
    [(name, body)] = sse(response.text)
    assert response.status_code == 200 and name == "done" and body["mode"] == "refusal"


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert (body["ready"], body["checks"]) == (True, {"rag": "ready", "classic": "ready"})
    assert body["llm"]["capacity"] >= 1 and body["llm"]["active"] == 0 and not body["llm"]["saturated"]


def test_feedback_on_a_recorded_ask(client: TestClient, asked: dict[str, Any]) -> None:
    ask_log = client.app.state.ask_log  # type: ignore[attr-defined]
    assert ask_log is not None and ask_log.flush()
    rows = ask_log.read()
    [row] = rows[rows["request_id"] == asked["request_id"]].to_dict("records")
    assert row["question"] == FR_QUESTION and row["mode"] == asked["mode"] and row["n_sources"] == len(asked["sources"])
    response = client.post("/feedback", json={"request_id": asked["request_id"], "rating": "up", "comment": "clair"})
    assert response.status_code == 200 and response.json() == {"status": "recorded"}
    [row] = ask_log.read().query("request_id == @asked['request_id']").to_dict("records")
    assert (row["rating"], row["comment"]) == ("up", "clair")
    unknown = client.post("/feedback", json={"request_id": "0" * 32, "rating": "down"})
    assert unknown.status_code == 404 and "unknown request_id" in unknown.json()["detail"]


@pytest.mark.parametrize("path", ["/ask", "/ask/stream"])
def test_an_empty_index_is_a_503_with_the_fix(empty_client: TestClient, path: str) -> None:
    response = empty_client.post(path, json={"question": FR_QUESTION})
    assert response.status_code == 503 and response.json() == {"detail": EMPTY_INDEX}
    assert empty_client.post(path, json={"question": ""}).status_code == 422  # input is still checked first


def test_ready_says_why_with_an_empty_index(empty_client: TestClient) -> None:
    assert empty_client.get("/health").status_code == 200
    ready = empty_client.get("/ready")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert ready.json()["checks"]["rag"] == EMPTY_INDEX


@pytest.fixture(params=["closed port", "silent server"])
def ollama_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Where no Ollama answers: nothing listening, or a server that accepts and never sends a byte."""
    if request.param == "closed port":
        yield closed_port_url()
        return
    with silent_server() as url:
        yield url


def test_an_unreachable_ollama_is_a_quick_503_naming_it(
    indexed: Settings, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, ollama_url: str
) -> None:
    llm = {"backend": "ollama", "ollama_base_url": ollama_url, "timeout_s": 1.0}
    rag = {"chroma_dir": indexed.rag.chroma_dir}  # the course is indexed: the request gets to the LLM
    settings = api_settings(tmp_path / "var", tmp_path_factory, llm=llm, rag=rag)
    with TestClient(create_app(settings, load_classic=False)) as client:
        for path in ("/ask", "/ask/stream"):
            started = time.monotonic()
            response = client.post(path, json={"question": FR_QUESTION})
            assert response.status_code == 503, response.text
            assert response.json()["detail"].startswith("LLM backend 'ollama' is unavailable:")
            assert time.monotonic() - started < 10
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["rag"].startswith("LLM backend 'ollama' unreachable")
