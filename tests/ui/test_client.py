"""The UI's HTTP client against real servers: SSE parsing, and every failure as a message a user can act on."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest

from ui.chat import history_of, snippet, source_title, status_line
from ui.client import (
    ApiClient,
    ApiResponseError,
    ApiTimeoutError,
    ApiUnreachableError,
    EndpointMissingError,
    StreamEvent,
    describe_detail,
    parse_sse,
)
from ui.predict_form import chunks, fields_from_openapi, max_batch_from_openapi, records_from_frame, results_frame


def test_parse_sse_reads_events_comments_and_multiline_data() -> None:
    lines = [
        ": keep-alive",
        "event: token",
        'data: {"text": "Le "}',
        "",
        "event: token",
        'data: {"text": "MLOps"}',
        "",
        "event: done",
        'data: {"answer": "Le MLOps",',
        'data:  "mode": "generative"}',
        "",
        "event: error",
        "data: not json",
    ]
    events = list(parse_sse(lines))
    assert events == [
        StreamEvent("token", {"text": "Le "}),
        StreamEvent("token", {"text": "MLOps"}),
        StreamEvent("done", {"answer": "Le MLOps", "mode": "generative"}),
        StreamEvent("error", {"text": "not json"}),
    ]


def test_unreachable_api_names_the_url_and_the_fix(dead_url: str) -> None:
    client = ApiClient(dead_url, timeout_s=2)
    with pytest.raises(ApiUnreachableError) as caught:
        client.health()
    assert f"The API at {dead_url} is not reachable" in caught.value.message
    assert "genaiops serve" in caught.value.message
    with pytest.raises(ApiUnreachableError):
        list(client.ask_stream("Qu'est-ce que le MLOps ?"))


def test_hung_api_times_out_with_a_message(silent_url: str) -> None:
    client = ApiClient(silent_url, timeout_s=0.5, ask_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(ApiTimeoutError) as caught:
        client.predict_schema()
    assert time.monotonic() - started < 5
    assert "did not answer GET /predict/schema within 0.5 s" in caught.value.message
    with pytest.raises(ApiTimeoutError):
        list(client.ask_stream("Qu'est-ce que le MLOps ?"))


def test_503_carries_the_api_reason_and_404_route_is_missing(bare_api) -> None:  # type: ignore[no-untyped-def]
    client = ApiClient(bare_api.url)
    assert client.health() == {"status": "ok"}
    assert client.ready()["ready"] is False  # a 503 /ready is a state to show, not an error
    with pytest.raises(ApiResponseError) as caught:
        client.predict_schema()
    assert caught.value.status == 503
    assert "cannot serve /predict/schema right now: classic model unavailable" in caught.value.message
    with pytest.raises(ApiResponseError) as streamed:
        list(client.ask_stream("Qu'est-ce que le MLOps ?"))
    assert streamed.value.status == 503 and "RAG service unavailable" in streamed.value.message
    wrong_prefix = ApiClient(bare_api.url + "/v9")
    with pytest.raises(EndpointMissingError) as missing:
        wrong_prefix.predict_schema()
    assert "has no GET /predict/schema endpoint" in missing.value.message


def test_422_names_the_field(live_api) -> None:  # type: ignore[no-untyped-def]
    client = ApiClient(live_api.url)
    with pytest.raises(ApiResponseError) as caught:
        client.predict({"island": "Dream", "bill_length_mm": "long"})
    assert caught.value.status == 422
    assert "bill_length_mm: Input should be a valid number" in caught.value.message
    assert "bill_depth_mm: Field required" in caught.value.message


def test_openapi_fallback_reads_the_same_fields_as_predict_schema(live_api) -> None:  # type: ignore[no-untyped-def]
    client = ApiClient(live_api.url)
    schema, openapi = client.predict_schema(), client.openapi()
    fallback = fields_from_openapi(openapi)
    assert fallback is not None
    keys = ("name", "type", "nullable", "categories")
    assert [{k: f[k] for k in keys} for f in fallback["fields"]] == [{k: f[k] for k in keys} for f in schema["fields"]]
    for ours, theirs in zip(fallback["fields"], schema["fields"], strict=True):
        if theirs["min"] is not None:
            assert ours["min"] == pytest.approx(theirs["min"], rel=1e-3)
            assert ours["max"] == pytest.approx(theirs["max"], rel=1e-3)
            assert ours["limit_min"] == pytest.approx(theirs["limit_min"], rel=1e-3)
            assert ours["limit_max"] == pytest.approx(theirs["limit_max"], rel=1e-3)
    assert max_batch_from_openapi(openapi) == live_api.settings.classic.max_batch


def test_csv_rows_become_typed_records_and_problems_name_the_column() -> None:
    fields = [
        {"name": "island", "type": "category", "nullable": False},
        {"name": "mass", "type": "number", "nullable": True},
    ]
    frame = pd.DataFrame({"island": ["Dream", 3], "mass": ["4000", None]})
    records, problems = records_from_frame(frame, fields)
    assert problems == []
    assert records == [{"island": "Dream", "mass": 4000.0}, {"island": "3", "mass": None}]
    _, problems = records_from_frame(pd.DataFrame({"island": ["Dream"], "mass": ["heavy"]}), fields)
    assert problems == ["column mass: 1 value(s) are not numbers (line 2)"]
    _, problems = records_from_frame(pd.DataFrame({"island": ["Dream"]}), fields)
    assert problems and "no column mass" in problems[0]
    assert [len(c) for c in chunks(records * 6, 5)] == [5, 5, 2]
    predicted = {"prediction": "A", "probabilities": {"A": 0.9, "B": 0.1}, "unknown_categories": ["island"]}
    out = results_frame(frame, [predicted, predicted])
    assert list(out.columns[-4:]) == ["prediction", "p_A", "p_B", "warnings"]
    assert out["warnings"].tolist() == ["unknown island"] * 2


def test_chat_helpers() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1", "answer": {}},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "", "error": "The API ... is not reachable"},
    ]
    assert history_of(messages) == [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]
    prompt = {"name": "rag_answer", "version": "3"}
    answer = {"mode": "extractive", "grounded": True, "prompt": prompt, "timings_ms": {"total": 2100}}
    assert status_line(answer) == ":orange-badge[extractive] · grounded · prompt rag_answer@3 · 2.1 s"
    assert snippet("<hr> **Le** MLOps <img src='x'/>\n\n:red[x]", limit=200) == r"\*\*Le\*\* MLOps \:red\[x\]"
    assert snippet("a" * 10, limit=4) == "aaaa…"
    titled = {"source": "034_b430e396e9a7aed2.txt", "title": "Chapitre 34", "heading": "Retenir", "score": 0.5}
    assert source_title(1, titled) == "**[1] Chapitre 34** · Retenir · score 0.50"
    assert source_title(2, {"source": "notes.md"}) == "**[2] notes.md** · (no heading) · score 0.00"
    assert describe_detail([{"loc": ["body", "question"], "msg": "must not be empty"}]) == "question: must not be empty"
