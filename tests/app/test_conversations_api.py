"""Conversations kept on the server: ``/ask`` and ``/ask/stream`` with ``conversation_id``, and
``/conversations``. Real course index (embedded Chroma, real embeddings), a ``FakeChatModel``,
real SQLite in the test's tmp dir (and a real Postgres database for the production setting).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genaiops.settings import Settings
from rag.ask_log import read_asks
from rag.fake_llm import FakeChatModel
from rag.retrieval import HybridRetriever
from tests.app.product import client_for, fake_service, product_settings
from tests.classic_ml.helpers import fresh_postgres_database, require_postgres
from tests.rag.helpers import FR_QUESTION

FOLLOW_UP = "Et lequel est le plus simple à mettre en place ?"


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_a_conversation_is_created_continued_listed_read_and_deleted(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    base, retriever = course_index
    settings = product_settings(base, tmp_path)
    fake = FakeChatModel()
    with client_for(settings, fake_service(settings, retriever, fake)) as client:
        first = client.post("/ask", json={"question": FR_QUESTION})
        assert first.status_code == 200, first.text
        conversation_id = first.json()["conversation_id"]
        assert conversation_id

        second = client.post("/ask", json={"question": FOLLOW_UP, "conversation_id": conversation_id})
        assert second.status_code == 200 and second.json()["conversation_id"] == conversation_id
        # the server loaded the first exchange itself: the model saw it as history
        history = [content for role, content in fake.calls[1].messages if role in ("user", "assistant")]
        assert FR_QUESTION in history and first.json()["answer"] in history

        other = client.post("/ask", json={"question": "Qu'est-ce que le MLOps ?"}).json()["conversation_id"]
        assert other != conversation_id

        listed = client.get("/conversations").json()
        assert [c["id"] for c in listed] == [other, conversation_id]  # most recently active first
        assert listed[1]["title"] == FR_QUESTION and listed[1]["turns"] == 4

        read = client.get(f"/conversations/{conversation_id}").json()
        assert read["id"] == conversation_id and read["title"] == FR_QUESTION
        assert [(t["role"], t["content"]) for t in read["turns"]] == [
            ("user", FR_QUESTION),
            ("assistant", first.json()["answer"]),
            ("user", FOLLOW_UP),
            ("assistant", second.json()["answer"]),
        ]
        assert read["turns"][0]["request_id"] == first.json()["request_id"] and read["turns"][0]["created_at"]

        assert client.delete(f"/conversations/{conversation_id}").status_code == 204
        assert client.get(f"/conversations/{conversation_id}").status_code == 404
        assert [c["id"] for c in client.get("/conversations").json()] == [other]

    asks = read_asks(settings)
    assert asks["conversation_id"].tolist() == [conversation_id, conversation_id, other]


def test_unknown_conversation_ids_are_404_everywhere(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    base, retriever = course_index
    settings = product_settings(base, tmp_path)
    fake = FakeChatModel()
    with client_for(settings, fake_service(settings, retriever, fake)) as client:
        known = client.post("/ask", json={"question": FR_QUESTION}).json()["conversation_id"]
        for path in ("/conversations/nope", "/conversations/" + "f" * 32):
            assert client.get(path).status_code == 404
            assert client.delete(path).status_code == 404
        for route in ("/ask", "/ask/stream"):
            response = client.post(route, json={"question": FR_QUESTION, "conversation_id": "nope"})
            assert response.status_code == 404 and "unknown conversation" in response.json()["detail"]
        assert client.get(f"/conversations/{known}").status_code == 200  # the known one, both ways
        too_long = client.post("/ask", json={"question": FR_QUESTION, "conversation_id": "x" * 65})
        assert too_long.status_code == 422
    assert len(fake.calls) == 1  # a 404 costs no generation


def test_explicit_history_still_works_for_stateless_callers(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    base, retriever = course_index
    settings = product_settings(base, tmp_path)
    fake = FakeChatModel()
    history = [{"role": "user", "content": "Parlons du drift."}, {"role": "assistant", "content": "D'accord."}]
    with client_for(settings, fake_service(settings, retriever, fake)) as client:
        response = client.post("/ask", json={"question": FR_QUESTION, "history": history})
        assert response.status_code == 200
    assert [c for _, c in fake.calls[0].messages[1:3]] == ["Parlons du drift.", "D'accord."]


def test_the_stream_carries_the_conversation_id_and_saves_the_turns(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    base, retriever = course_index
    settings = product_settings(base, tmp_path)
    fake = FakeChatModel()
    with client_for(settings, fake_service(settings, retriever, fake)) as client:
        events = sse_events(client.post("/ask/stream", json={"question": FR_QUESTION}).text)
        assert events[-1][0] == "done"
        conversation_id = events[-1][1]["conversation_id"]
        body = {"question": FOLLOW_UP, "conversation_id": conversation_id}
        again = sse_events(client.post("/ask/stream", json=body).text)
        assert again[-1][1]["conversation_id"] == conversation_id
        turns = client.get(f"/conversations/{conversation_id}").json()["turns"]
        assert [t["content"] for t in turns][::2] == [FR_QUESTION, FOLLOW_UP]
        assert turns[1]["content"] == events[-1][1]["answer"]
    assert FR_QUESTION in [c for _, c in fake.calls[1].messages]


def test_the_conversation_id_is_the_mlflow_trace_session(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    """One conversation can be followed in MLflow: every trace of it has ``mlflow.trace.session`` = its id."""
    import mlflow

    from genaiops.tracking import mlflow_store
    from rag.tracing import MlflowTracer

    base, retriever = course_index
    mlflow_settings = base.mlflow.model_copy(update={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    settings = product_settings(base, tmp_path).model_copy(update={"mlflow": mlflow_settings})
    tracer = MlflowTracer(settings)
    with client_for(settings, fake_service(settings, retriever, tracer=tracer)) as client:
        conversation_id = client.post("/ask", json={"question": FR_QUESTION}).json()["conversation_id"]
        body = {"question": FOLLOW_UP, "conversation_id": conversation_id}
        assert client.post("/ask/stream", json=body).status_code == 200
        client.post("/ask", json={"question": "Qu'est-ce que le MLOps ?"})  # another conversation
        assert tracer.flush(timeout_s=60)
    experiment = mlflow_store(settings).client.get_experiment_by_name(settings.mlflow.rag_traces_experiment)
    traces = mlflow.search_traces(locations=[experiment.experiment_id], return_type="list")
    sessions = [t.info.trace_metadata.get("mlflow.trace.session") for t in traces]
    assert len(traces) == 3 and sessions.count(conversation_id) == 2
    assert all(sessions) and len(set(sessions)) == 2


@pytest.mark.postgres
def test_conversations_on_postgres_through_the_api(
    course_index: tuple[Settings, HybridRetriever], tmp_path: Path
) -> None:
    """The production setting: conversations, turns and the ask log's conversation_id in Postgres."""
    require_postgres()
    base, retriever = course_index
    with fresh_postgres_database() as url:
        settings = product_settings(base, tmp_path, database_url=url)
        with client_for(settings, fake_service(settings, retriever)) as client:
            conversation_id = client.post("/ask", json={"question": FR_QUESTION}).json()["conversation_id"]
            body = {"question": FOLLOW_UP, "conversation_id": conversation_id}
            assert client.post("/ask", json=body).status_code == 200
            assert client.get("/conversations").json()[0]["turns"] == 4
            assert len(client.get(f"/conversations/{conversation_id}").json()["turns"]) == 4
            assert client.get("/conversations/unknown").status_code == 404
            assert client.delete(f"/conversations/{conversation_id}").status_code == 204
            assert client.delete(f"/conversations/{conversation_id}").status_code == 404
        assert read_asks(settings)["conversation_id"].tolist() == [conversation_id] * 2
        assert not (tmp_path / "genaiops.db").exists()
