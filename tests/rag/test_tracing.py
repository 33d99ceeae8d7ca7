"""Traces of the answers in a real MLflow (sqlite in a tmp dir): spans, sampling, and a store that is down."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from genaiops.settings import Settings
from prompts import load_prompt
from rag.fake_llm import FakeChatModel
from rag.retrieval import HybridRetriever
from rag.service import RagService
from rag.tracing import MlflowTracer
from rag.types import Answer
from tests.rag.helpers import FR_QUESTION, OUT_OF_SCOPE, answer_settings, closed_port_url, passage
from tests.settings import llm_cache_dir

pytestmark = pytest.mark.slow  # real MLflow trace export


def make_answer(request_id: str = "r1") -> Answer:
    """A finished answer as the service returns it, with the timings it measured."""
    return Answer(
        request_id=request_id,
        answer="Le MLOps industrialise le ML [1].",
        mode="generative",
        grounded=True,
        sources=[passage("Le MLOps industrialise le machine learning.", "Intro", "000_cours.txt")],
        prompt_name="rag_answer",
        prompt_version="7",
        model="qwen-test",
        timings_ms={"retrieve": 12.0, "first_token": 40.0, "generate": 300.0, "grounding": 8.0, "total": 330.0},
        tokens=11,
    )


def traces(settings: Settings) -> list[Any]:
    import mlflow

    from genaiops.tracking import mlflow_store

    experiment = mlflow_store(settings).client.get_experiment_by_name(settings.mlflow.rag_traces_experiment)
    if experiment is None:
        return []
    return mlflow.search_traces(locations=[experiment.experiment_id], return_type="list")


def spans_by_name(trace: Any) -> dict[str, Any]:
    return {span.name: span for span in trace.data.spans}


def test_a_trace_has_the_three_spans_placed_by_the_measured_timings(settings: Settings) -> None:
    tracer = MlflowTracer(settings)
    assert tracer.record(make_answer(), question="Qu'est-ce que le MLOps ?", top_k=3, messages=[("system", "S")])
    assert tracer.flush(timeout_s=60)
    tracer.close()

    [trace] = traces(settings)
    assert trace.info.tags["prompt"] == "rag_answer@7" and trace.info.tags["request_id"] == "r1"
    spans = spans_by_name(trace)
    assert set(spans) == {"rag.ask", "retrieve", "generate", "grounding_check"}
    root = spans["rag.ask"]
    assert root.attributes["prompt"] == {"name": "rag_answer", "version": "7", "source": "file"}
    assert root.attributes["model"] == "qwen-test" and root.attributes["top_k"] == 3
    assert root.inputs == {"question": "Qu'est-ce que le MLOps ?", "top_k": 3}
    assert root.outputs["mode"] == "generative" and root.outputs["sources"] == ["000_cours.txt-0"]

    def ms(span: Any) -> float:
        return (span.end_time_ns - span.start_time_ns) / 1e6

    assert ms(root) == pytest.approx(330.0, abs=0.01)
    assert ms(spans["retrieve"]) == pytest.approx(12.0, abs=0.01)
    assert ms(spans["generate"]) == pytest.approx(300.0, abs=0.01)
    assert ms(spans["grounding_check"]) == pytest.approx(8.0, abs=0.01)
    assert spans["retrieve"].start_time_ns == root.start_time_ns
    assert spans["generate"].end_time_ns == spans["grounding_check"].start_time_ns
    assert spans["grounding_check"].end_time_ns == root.end_time_ns
    assert spans["generate"].inputs == {"messages": [{"role": "system", "content": "S"}]}
    assert spans["retrieve"].outputs[0]["metadata"]["source"] == "000_cours.txt"


def test_sampling_follows_the_rate(settings: Settings) -> None:
    draws = iter([0.10, 0.60, 0.49, 0.99])
    tracer = MlflowTracer(settings, sample_rate=0.5, rng=lambda: next(draws))
    kept = [tracer.record(make_answer(f"r{i}"), question="q", top_k=4) for i in range(4)]
    assert kept == [True, False, True, False]
    assert tracer.flush(timeout_s=60)
    tracer.close()
    assert sorted(t.info.tags["request_id"] for t in traces(settings)) == ["r0", "r2"]
    assert tracer.stats["sampled_out"] == 2 and tracer.stats["exported"] == 2


def test_a_hung_tracking_server_never_holds_a_request(
    settings: Settings, silent_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    down = settings.model_copy(deep=True)
    down.mlflow.tracking_uri = silent_url
    tracer = MlflowTracer(down, queue_size=2, retry_after_s=60)
    kept = [tracer.record(make_answer(f"r{i}"), question="q", top_k=4) for i in range(50)]
    # every call has returned while the exporter is still waiting on the server's first probe (1 s)
    assert tracer.stats["exported"] + tracer.stats["dropped_unreachable"] == 0
    assert tracer.stats["dropped_full"] >= 47 and sum(kept) == tracer.stats["queued"] <= 3
    assert any("trace queue full" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)

    assert tracer.flush(timeout_s=30)  # the probe times out once; queued traces are then dropped, not retried
    assert tracer.stats["dropped_unreachable"] == tracer.stats["queued"] and tracer.stats["exported"] == 0
    assert any("unreachable" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    tracer.close()


def test_a_process_pointed_at_another_store_gets_no_trace_rather_than_a_switched_uri(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import mlflow

    tracer = MlflowTracer(settings)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    mlflow.set_tracking_uri(other)
    assert tracer.record(make_answer(), question="q", top_k=4)
    assert tracer.flush(timeout_s=30)
    tracer.close()
    assert tracer.stats["dropped_other_store"] == 1 and mlflow.get_tracking_uri() == other
    assert any("another store" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_the_service_traces_generative_answers_refusals_and_streams(
    tmp_path_factory: pytest.TempPathFactory, course_index: tuple[Settings, HybridRetriever]
) -> None:
    """Answered by a ``FakeChatModel``: the traces are the point, not the model's words."""
    settings = answer_settings(tmp_path_factory.mktemp("traced") / "var", llm_cache_dir(tmp_path_factory))
    tracer = MlflowTracer(settings)
    service = RagService(settings, course_index[1], FakeChatModel(), load_prompt("rag_answer", settings), tracer)
    answered = service.ask(FR_QUESTION)
    refused = service.ask(OUT_OF_SCOPE)
    done = [e for e in service.stream(FR_QUESTION, top_k=1) if e["event"] == "done"][0]["data"]
    assert tracer.flush(timeout_s=120)

    by_id = {t.info.tags["request_id"]: t for t in traces(settings)}
    assert set(by_id) == {answered.request_id, refused.request_id, done["request_id"]}
    spans = spans_by_name(by_id[answered.request_id])
    assert {"rag.ask", "retrieve", "generate", "grounding_check"} <= set(spans)
    root = spans["rag.ask"].attributes
    assert root["prompt"]["version"] == answered.prompt_version and root["top_k"] == settings.rag.top_k
    assert root["timings_ms"] == answered.timings_ms and root["model"] == answered.model
    assert [d["id"] for d in spans["retrieve"].outputs] == [s.chunk.id for s in answered.sources]
    assert "generate" not in spans_by_name(by_id[refused.request_id])  # out of scope: no generation to trace
    streamed = spans_by_name(by_id[done["request_id"]])["rag.ask"].attributes
    assert streamed["stream"] is True and streamed["top_k"] == 1
    service.tracer.close()
    assert service.ask(OUT_OF_SCOPE).mode == "refusal"


def test_a_failed_generation_is_traced_as_an_error(
    tmp_path_factory: pytest.TempPathFactory, course_index: tuple[Settings, HybridRetriever]
) -> None:
    """Ollama down (a closed port, the real adapter): the request fails with 503 upstream, and the
    outage shows in the traces as ERROR with the reason, the retrieval it did, and no answer."""
    from rag.llm import build_chat_model
    from rag.types import LlmUnavailableError

    settings = answer_settings(tmp_path_factory.mktemp("failed") / "var", llm_cache_dir(tmp_path_factory))
    settings.llm = settings.llm.model_copy(update={"backend": "ollama", "ollama_base_url": closed_port_url()})
    tracer = MlflowTracer(settings)
    service = RagService(
        settings, course_index[1], build_chat_model(settings), load_prompt("rag_answer", settings), tracer
    )
    with pytest.raises(LlmUnavailableError):
        service.ask(FR_QUESTION)
    with pytest.raises(LlmUnavailableError):
        list(service.stream(FR_QUESTION))
    assert tracer.flush(timeout_s=60)
    tracer.close()

    found = traces(settings)
    assert len(found) == 2
    for trace in found:
        assert trace.info.state == "ERROR" and trace.info.tags["mode"] == "error"
        spans = spans_by_name(trace)
        assert spans["rag.ask"].attributes["error"].startswith("LLM backend 'ollama' is unavailable")
        assert spans["retrieve"].outputs  # what was done before the failure
        assert spans["generate"].status.status_code == "ERROR"
    assert {spans_by_name(t)["rag.ask"].attributes["stream"] for t in found} == {False, True}
