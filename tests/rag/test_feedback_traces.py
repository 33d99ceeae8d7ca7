"""Feedback on MLflow traces (issue 15): ``POST /feedback`` attaches an assessment to the request's trace, in a
real MLflow (sqlite in a tmp dir), off the request path; MLflow being down never fails the feedback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from genaiops.settings import Settings
from rag.fake_llm import FakeChatModel
from rag.retrieval import HybridRetriever
from rag.service import build_rag_service
from rag.tracing import FEEDBACK_NAME, MlflowTracer
from tests.rag.helpers import FR_QUESTION, OUT_OF_SCOPE, answer_settings
from tests.rag.test_tracing import make_answer, traces
from tests.settings import llm_cache_dir

pytestmark = pytest.mark.slow  # real MLflow trace export and search


def feedbacks(trace: Any) -> list[Any]:
    return [a for a in trace.info.assessments if a.name == FEEDBACK_NAME]


def trace_of(settings: Settings, request_id: str) -> Any:
    import mlflow

    [found] = [t for t in traces(settings) if t.info.tags["request_id"] == request_id]
    return mlflow.get_trace(found.info.trace_id)  # read back from the store, assessments included


def test_feedback_is_an_assessment_on_the_trace_of_its_request(settings: Settings) -> None:
    tracer = MlflowTracer(settings)
    tracer.record(make_answer("r1"), question="Qu'est-ce que le MLOps ?", top_k=3)
    tracer.record(make_answer("r2"), question="Et le drift ?", top_k=3)
    assert tracer.feedback("r1", "down", "la réponse cite le mauvais chapitre")
    assert tracer.feedback("r2", "up")
    assert tracer.flush(timeout_s=60)
    tracer.close()

    [down] = feedbacks(trace_of(settings, "r1"))
    assert down.value is False and down.rationale == "la réponse cite le mauvais chapitre"
    assert down.source.source_type == "HUMAN" and down.metadata == {"request_id": "r1", "rating": "down"}
    [up] = feedbacks(trace_of(settings, "r2"))
    assert up.value is True and up.rationale is None
    assert tracer.stats["feedback_logged"] == 2


def test_feedback_finds_a_trace_another_process_exported_and_skips_an_untraced_request(settings: Settings) -> None:
    first = MlflowTracer(settings)
    first.record(make_answer("r-old"), question="q", top_k=4)
    assert first.flush(timeout_s=60)
    first.close()

    restarted = MlflowTracer(settings)  # remembers nothing: the trace is found by its request_id tag
    assert restarted.feedback("r-old", "down") and restarted.feedback("never-traced", "down")
    assert restarted.flush(timeout_s=60)
    restarted.close()
    assert [f.value for f in feedbacks(trace_of(settings, "r-old"))] == [False]
    assert restarted.stats["feedback_logged"] == 1 and restarted.stats["feedback_no_trace"] == 1


def test_feedback_is_searchable_in_mlflow(settings: Settings) -> None:
    import mlflow

    from genaiops.tracking import mlflow_store

    tracer = MlflowTracer(settings)
    for rid, rating in (("a", "down"), ("b", "up"), ("c", None)):
        tracer.record(make_answer(rid), question="q", top_k=4)
        if rating:
            tracer.feedback(rid, rating)
    assert tracer.flush(timeout_s=60)
    tracer.close()
    experiment = mlflow_store(settings).client.get_experiment_by_name(settings.mlflow.rag_traces_experiment)
    down = mlflow.search_traces(
        locations=[experiment.experiment_id], filter_string=f"feedback.{FEEDBACK_NAME} = 'false'", return_type="list"
    )
    assert [t.info.tags["request_id"] for t in down] == ["a"]


def _service(settings: Settings, retriever: HybridRetriever, tracer: Any) -> Any:
    return build_rag_service(settings, retriever=retriever, chat_model=FakeChatModel(), tracer=tracer)


def test_post_feedback_reaches_the_trace_through_the_api(
    tmp_path_factory: pytest.TempPathFactory, course_index: tuple[Settings, HybridRetriever]
) -> None:
    settings = answer_settings(tmp_path_factory.mktemp("feedback-api") / "var", llm_cache_dir(tmp_path_factory))
    tracer = MlflowTracer(settings)
    with TestClient(
        create_app(settings, load_classic=False, rag_service=_service(settings, course_index[1], tracer))
    ) as client:
        answered = client.post("/ask", json={"question": FR_QUESTION}).json()
        refused = client.post("/ask", json={"question": OUT_OF_SCOPE}).json()
        for body in ({"request_id": answered["request_id"], "rating": "down", "comment": "trop vague"},
                     {"request_id": refused["request_id"], "rating": "up"}):  # fmt: skip
            assert client.post("/feedback", json=body).json() == {"status": "recorded"}
        assert tracer.flush(timeout_s=60)
    [down] = feedbacks(trace_of(settings, answered["request_id"]))
    assert (down.value, down.rationale) == (False, "trop vague")
    assert [f.value for f in feedbacks(trace_of(settings, refused["request_id"]))] == [True]


def test_mlflow_down_never_fails_nor_slows_the_feedback(
    tmp_path: Path, silent_url: str, course_index: tuple[Settings, HybridRetriever]
) -> None:
    settings = answer_settings(tmp_path / "var", tmp_path / "llm", mlflow={"tracking_uri": silent_url})
    tracer = MlflowTracer(settings, retry_after_s=60)
    with TestClient(
        create_app(settings, load_classic=False, rag_service=_service(settings, course_index[1], tracer))
    ) as client:
        request_id = client.post("/ask", json={"question": OUT_OF_SCOPE}).json()["request_id"]
        started = time.perf_counter()
        response = client.post("/feedback", json={"request_id": request_id, "rating": "down", "comment": "?"})
        elapsed = time.perf_counter() - started
    # the hung server is the exporter's problem only: waiting on it would cost its timeout (30 s), whatever the machine
    assert response.status_code == 200 and elapsed < settings.mlflow.http_timeout_s / 3
    assert tracer.stats["feedback_queued"] == 1 and tracer.stats["feedback_logged"] == 0
