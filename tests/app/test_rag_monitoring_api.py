"""The RAG monitor fed by ``/ask`` traffic: real course index, real embeddings, a ``FakeChatModel`` (the monitor
reads retrieval scores, modes, grounding, feedback and question embeddings; the model's wording is not the point).

Every answer of ``/ask`` and ``/ask/stream`` must land in the ask log with its signals, and the monitor
(``GET /monitoring/rag`` and ``genaiops monitor rag``) must stay calm on a second window of in-scope
questions and flag a window of off-topic ones. Windows of 10 asks (the API's minimum).

With 10 asks a window, one answer moves a rate by 0.1; the rate tolerance is therefore 0.35 (three
answers), where the defaults are sized for windows of 200. Latency is wall time on a shared machine: the
latency check is never asserted here (tests/rag/test_monitoring.py checks it on logged numbers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.main import create_app
from genaiops.settings import Settings
from rag.fake_llm import FakeChatModel
from rag.ingest import ingest
from rag.prompting import NOT_COVERED
from rag.service import build_rag_service
from rag.tracing import NullTracer
from tests.app.test_ask_api import sse
from tests.app.test_metrics import samples
from tests.rag.helpers import COURSE_DIR, GOLDEN_ROWS
from tests.settings import make_settings

pytestmark = pytest.mark.slow
WINDOW = 10
# the latency check compares wall times of this (shared) machine: out of reach here, so no status depends on it
MONITORING = {"rag_rate_tolerance": 0.35, "rag_latency_ratio": 1e6}
SPEED = {"latency_p95_ms"}
IN_SCOPE = [r["question"] for r in GOLDEN_ROWS if r["kind"] == "in_scope"][: 2 * WINDOW]
OFF_TOPIC = [r["question"] for r in GOLDEN_ROWS if r["kind"] == "out_of_scope"][:WINDOW]


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings, FakeChatModel]]:
    """The RAG side of the app over the ingested course, no tracing, its own ask log."""
    data_dir = tmp_path_factory.mktemp("rag-monitoring-api") / "var"
    settings = make_settings(data_dir, mlflow={"trace_sample_rate": 0.0}, monitoring=MONITORING)
    assert ingest(settings, COURSE_DIR, progress=False).files_indexed == 5
    fake = FakeChatModel()
    service = build_rag_service(settings, chat_model=fake, tracer=NullTracer())
    with TestClient(create_app(settings, load_classic=False, rag_service=service)) as client:
        yield client, settings, fake


def ask(client: TestClient, question: str) -> dict[str, Any]:
    response = client.post("/ask", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


def ask_stream(client: TestClient, question: str) -> dict[str, Any]:
    with client.stream("POST", "/ask/stream", json={"question": question}) as response:
        assert response.status_code == 200
        name, body = sse(response.read().decode())[-1]
    assert name == "done", body
    return body


def summary(client: TestClient) -> dict[str, Any]:
    response = client.get("/monitoring/rag", params={"window": WINDOW})
    assert response.status_code == 200, response.text
    return response.json()


def monitor_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``genaiops monitor rag`` in this process, on the same data dir and thresholds as the API."""
    from app.cli import app

    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", str(settings.mlflow.tracking_uri))
    for name, value in MONITORING.items():
        monkeypatch.setenv(f"GENAIOPS_MONITORING__{name.upper()}", str(value))
    return CliRunner().invoke(app, ["monitor", "rag", "--window", str(WINDOW), "--json"])


def logged(client: TestClient) -> dict[str, dict[str, Any]]:
    ask_log = client.app.state.ask_log  # type: ignore[attr-defined]
    assert ask_log.flush()
    return {row["request_id"]: row for row in ask_log.read().to_dict("records")}


def test_asks_are_logged_with_their_signals_and_the_monitor_flags_off_topic_traffic(
    monitored: tuple[TestClient, Settings, FakeChatModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, settings, fake = monitored
    assert len(IN_SCOPE) == 2 * WINDOW and len(OFF_TOPIC) == WINDOW

    # reference window: in-scope questions, one of them through the stream
    reference = [ask(client, q) for q in IN_SCOPE[: WINDOW - 1]] + [ask_stream(client, IN_SCOPE[WINDOW - 1])]
    rows = logged(client)
    assert len(rows) == WINDOW and set(rows) == {b["request_id"] for b in reference}
    for body in reference:
        row = rows[body["request_id"]]
        scores = [s["score"] for s in body["sources"]]
        assert row["mode"] == body["mode"] and bool(row["grounded"]) == body["grounded"]
        assert row["n_sources"] == len(body["sources"]) and row["answer_chars"] == len(body["answer"])
        assert row["top_score"] == pytest.approx(body["retrieval_score"], abs=1e-3)  # refusals included
        if body["mode"] != "refusal":
            assert body["retrieval_score"] == pytest.approx(max(scores), abs=1e-3)  # the body rounds
        assert row["latency_ms"] == pytest.approx(body["timings_ms"]["total"]) and row["latency_ms"] > 0
        assert row["tokens"] == body["tokens"]
        assert (row["prompt_name"], row["prompt_version"]) == (body["prompt"]["name"], body["prompt"]["version"])
        assert row["model"] == body["model"]
        vector = row["question_embedding"]
        assert vector is not None and vector.ndim == 1 and np.linalg.norm(vector) == pytest.approx(1, abs=1e-3)
    generated = [b for b in reference if b["mode"] == "generative"]
    assert generated and all(b["tokens"] > 0 for b in generated)  # the (fake) model answered
    assert sum(b["mode"] == "refusal" for b in reference) <= 2

    waiting = monitor_cli(settings, monkeypatch)
    assert waiting.exit_code == 0 and json.loads(waiting.output)["status"] == "no_data"  # one window: nothing yet

    # a second window of other in-scope questions: calm
    calm_bodies = [ask(client, q) for q in IN_SCOPE[WINDOW:]]
    for body in calm_bodies[:5]:
        assert client.post("/feedback", json={"request_id": body["request_id"], "rating": "up"}).status_code == 200
    calm = summary(client)
    regressed = [c for c in calm["checks"] if c["regressed"] and c["name"] not in SPEED]
    assert calm["status"] == "ok" and not regressed, regressed
    assert [w["index"] for w in calm["windows"]] == [0, 1] and calm["windows"][1]["negative_feedback_rate"] == 0.0
    ran = {c["name"] for c in calm["checks"] if c["threshold"] is not None}
    assert {"mean_top_score", "retrieval_score_ks", "refusal_rate", "question_embedding_drift"} <= ran
    calm_cli = monitor_cli(settings, monkeypatch)
    assert calm_cli.exit_code == 0, calm_cli.output

    # an off-topic window, rated down: refused before the model, or by it (its "not covered"), and flagged
    fake.queue(*[NOT_COVERED["fr"]] * WINDOW)
    off_topic = [ask(client, q) for q in OFF_TOPIC]
    assert sum(b["mode"] == "refusal" for b in off_topic) >= WINDOW - 2
    for body in off_topic[:5]:
        assert client.post("/feedback", json={"request_id": body["request_id"], "rating": "down"}).status_code == 200
    alarm = summary(client)
    assert alarm["status"] == "regression" and alarm["windows"][-1]["index"] == 2
    flagged = {c["name"] for c in alarm["checks"] if c["regressed"]}
    assert {"refusal_rate", "question_embedding_drift", "negative_feedback_rate"} <= flagged, alarm["checks"]
    assert alarm["windows"][-1]["modes"].get("refusal", 0) >= WINDOW - 2
    off_rows = logged(client)
    floor, sure = settings.rag.relevance_floor, settings.rag.confident_floor
    refused_scores = [off_rows[b["request_id"]]["top_score"] for b in off_topic if b["mode"] == "refusal"]
    assert refused_scores and all(score < sure for score in refused_scores)  # refused: never surely on topic
    assert any(score < floor for score in refused_scores)  # logged although below the floor (no model call)
    assert {"mean_top_score", "retrieval_score_ks"} <= flagged, alarm["checks"]  # the score distribution dropped
    alarm_cli = monitor_cli(settings, monkeypatch)
    assert alarm_cli.exit_code == 1, alarm_cli.output
    assert json.loads(alarm_cli.output)["status"] == "regression"

    exposed = samples(client.get("/metrics").text)
    modes = [b["mode"] for b in reference + calm_bodies + off_topic]
    for mode in set(modes):
        assert exposed[("genaiops_asks_total", (("mode", mode),))] == modes.count(mode)
    assert exposed[("genaiops_feedback_total", (("rating", "down"),))] == 5.0
    assert exposed[("genaiops_rag_regression", ())] == 1.0
    assert exposed[("genaiops_rag_check_regressed", (("check", "refusal_rate"),))] == 1.0

    # durable store: a new app on the same data dir sees the asks and takes feedback on them
    with TestClient(create_app(settings, load_rag=False, load_classic=False)) as fresh:
        request_id = calm_bodies[-1]["request_id"]
        assert fresh.post("/feedback", json={"request_id": request_id, "rating": "down"}).status_code == 200
        assert [w["asks"] for w in summary(fresh)["windows"]] == [WINDOW] * 3
