"""The Ollama adapter end to end: ``llm.backend=ollama`` through the real app, against a fake Ollama server.

Ollama cannot run here, so ``FakeOllama`` speaks its HTTP API (tests/rag/ollama_server.py); retrieval,
grounding and the API are the real ones over the course index. What the adapter must guarantee:
answers stream, the guard still decides mode/grounded, ``/ready`` names a missing model, and a down
or hung server is a quick 503 naming the backend, never a hang or a 500.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from genaiops.settings import Settings
from rag.llm import OllamaChatModel, build_chat_model
from tests.rag.ollama_server import FakeOllama, SilentServer
from tests.ui.helpers import free_port

MODEL = "qwen2.5:1.5b-instruct"
QUESTION = "Qu'est-ce que le MLOps ?"
TIMEOUT_S = 2.0  # llm.timeout_s of these tests: a hung server must cost about this, not more


def ollama_settings(course: Settings, tmp_path: Path, base_url: str, timeout_s: float = TIMEOUT_S) -> Settings:
    """The course index's settings with the Ollama backend at ``base_url``, an ask log of its own and no
    tracing (the shared index's folder stays read-only; tracing has its own tests)."""
    llm = course.llm.model_copy(
        update={"backend": "ollama", "ollama_base_url": base_url, "ollama_model": MODEL, "timeout_s": timeout_s}
    )
    mlflow = course.mlflow.model_copy(update={"trace_sample_rate": 0.0})
    return course.model_copy(update={"llm": llm, "mlflow": mlflow, "database_url": f"sqlite:///{tmp_path / 'asks.db'}"})


@contextmanager
def api(settings: Settings) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app(settings, load_classic=False)) as client:
        yield client


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.fixture
def ollama(course_index, tmp_path: Path) -> Iterator[tuple[FakeOllama, TestClient]]:  # type: ignore[no-untyped-def]
    course, _ = course_index
    with FakeOllama(models=[MODEL]) as fake, api(ollama_settings(course, tmp_path, fake.url)) as client:
        yield fake, client


def test_the_settings_pick_the_ollama_adapter(course_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = build_chat_model(ollama_settings(course_index[0], tmp_path, "http://127.0.0.1:1"))
    assert isinstance(model, OllamaChatModel) and model.backend == "ollama" and model.name == MODEL


def test_ask_stream_streams_the_ollama_answer(ollama) -> None:  # type: ignore[no-untyped-def]
    fake, client = ollama
    response = client.post("/ask/stream", json={"question": QUESTION, "top_k": 2})
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and kinds.count("token") >= 3, kinds  # piece by piece, as Ollama sent them
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    done = events[-1][1]
    assert done["mode"] == "generative" and done["grounded"] is True, done
    assert done["model"] == MODEL and len(done["sources"]) == 2
    squeeze = "".join  # the answer's final text may re-space punctuation; the words are Ollama's
    assert squeeze(streamed.split("[1]")[0].split()) in squeeze(done["answer"].split())
    sent = fake.requests[-1]
    assert sent["model"] == MODEL and sent["stream"] is True
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert "<context>" in sent["messages"][-1]["content"] and QUESTION in sent["messages"][-1]["content"]


def test_ask_returns_the_whole_answer_with_the_options_of_the_settings(ollama) -> None:  # type: ignore[no-untyped-def]
    fake, client = ollama
    response = client.post("/ask", json={"question": QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "generative" and body["grounded"] is True and body["tokens"] >= 3
    llm = client.app.state.settings.llm  # type: ignore[attr-defined]
    options = fake.requests[-1]["options"]
    assert options["num_predict"] == llm.max_tokens and options["temperature"] == llm.temperature
    assert options["seed"] == llm.seed and options["num_ctx"] == llm.n_ctx


def test_an_invented_ollama_answer_is_replaced_by_the_course_text(course_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    invented = "Le MLOps a été inventé par des astronautes martiens en 1802 pour piloter des fusées. [1]"
    with (
        FakeOllama([MODEL], reply=lambda _: invented) as fake,
        api(ollama_settings(course_index[0], tmp_path, fake.url)) as client,
    ):
        body = client.post("/ask", json={"question": QUESTION}).json()
    assert body["mode"] == "extractive" and "martiens" not in body["answer"], body["answer"]


def test_generate_uses_the_non_streaming_chat(course_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with FakeOllama([MODEL], reply=lambda _: "Une réponse entière.") as fake:
        model = build_chat_model(ollama_settings(course_index[0], tmp_path, fake.url))
        assert model.generate([("user", "Bonjour")], max_tokens=7) == "Une réponse entière."
    assert fake.requests[-1]["stream"] is False and fake.requests[-1]["options"]["num_predict"] == 7


def test_ready_says_which_model_to_pull(course_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with (
        FakeOllama(models=["llama3.2:latest"]) as fake,
        api(ollama_settings(course_index[0], tmp_path, fake.url)) as client,
    ):
        missing = client.get("/ready").json()["checks"]["rag"]
        fake.models.append(MODEL)
        present = client.get("/ready").json()["checks"]["rag"]
        fake.models.remove(MODEL)
        ask = client.post("/ask", json={"question": QUESTION})
    assert "ollama" in missing and f"ollama pull {MODEL}" in missing, missing
    assert present == "ready"
    assert ask.status_code == 503 and "ollama" in ask.json()["detail"] and "not found" in ask.json()["detail"]


def _timed(client: TestClient, path: str) -> tuple[Any, float]:
    started = time.perf_counter()
    response = client.post(path, json={"question": QUESTION})
    return response, time.perf_counter() - started


def test_ollama_down_is_a_quick_503_naming_the_backend(course_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    # a long timeout: a refused connection must not wait for it
    with api(ollama_settings(course_index[0], tmp_path, down, timeout_s=30)) as client:
        ask, ask_s = _timed(client, "/ask")
        stream, stream_s = _timed(client, "/ask/stream")
        ready = client.get("/ready")
    for response in (ask, stream):
        assert response.status_code == 503, response.text
        assert "'ollama'" in response.json()["detail"] and down in response.json()["detail"]
    assert ask_s < 5 and stream_s < 5, (ask_s, stream_s)
    assert ready.status_code == 503 and "unreachable" in ready.json()["checks"]["rag"]


@pytest.mark.slow  # waits for a timeout on purpose
def test_ollama_hanging_is_a_503_within_the_timeout(course_index, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with SilentServer() as silent, api(ollama_settings(course_index[0], tmp_path, silent.url)) as client:
        ask, ask_s = _timed(client, "/ask")
        stream, stream_s = _timed(client, "/ask/stream")
        started = time.perf_counter()
        ready = client.get("/ready")
        ready_s = time.perf_counter() - started
    for response in (ask, stream):
        assert response.status_code == 503, response.text
        detail = response.json()["detail"]
        assert "'ollama'" in detail and ("in time" in detail or "timeout_s" in detail), detail
    # bounded by llm.timeout_s (plus retrieval and slack for 2 shared cores), not by the server
    assert ask_s < TIMEOUT_S + 3 and stream_s < TIMEOUT_S + 3, (ask_s, stream_s)
    assert ready.status_code == 503 and ready_s < TIMEOUT_S + 3 and "ollama" in ready.json()["checks"]["rag"]
