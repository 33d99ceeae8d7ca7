"""Every page run by Streamlit's AppTest against a live API: real answers and predictions, and clear messages
(never a traceback) when the API is down, hung, or lacks an endpoint."""

from __future__ import annotations

import itertools

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.helpers import MAX_BATCH, PAGES, LiveApi

QUESTION = "Qu'est-ce que le MLOps ?"
RUN_TIMEOUT = 300  # a whole streamed answer on 2 shared cores


def run_page(name: str, timeout: float = 30) -> AppTest:
    at = AppTest.from_file(str(PAGES[name]), default_timeout=timeout)
    return at.run()


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(element.value) for element in getattr(at, kind)]


def missing(api: LiveApi, endpoint: str) -> str:
    return f"The API at {api.url} has no {endpoint} endpoint (an older or partial deployment)."


def assert_no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_says_the_api_is_down(page: str, dead_url: str, ui_env) -> None:  # type: ignore[no-untyped-def]
    ui_env(dead_url)
    at = run_page(page)
    assert_no_traceback(at)
    assert texts(at, "error") == [
        f"The API at {dead_url} is not reachable: start it with `genaiops serve` (or `genaiops up`), "
        "or point GENAIOPS_UI__API_URL at it."
    ]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_says_the_api_is_too_slow(page: str, silent_url: str, ui_env) -> None:  # type: ignore[no-untyped-def]
    ui_env(silent_url, timeout_s=0.5)
    at = run_page(page)
    assert_no_traceback(at)
    errors = texts(at, "error")
    assert len(errors) == 1 and "did not answer GET /ready within 0.5 s" in errors[0], errors


def test_chat_explains_a_rag_side_that_cannot_serve(bare_api: LiveApi, ui_env) -> None:  # type: ignore[no-untyped-def]
    ui_env(bare_api.url)
    at = run_page("chat")
    at.chat_input[0].set_value(QUESTION).run()
    assert_no_traceback(at)
    assert texts(at, "error") == [
        "The API cannot serve /ask/stream right now: RAG service unavailable: RAG side not loaded in this process"
    ]
    assert at.session_state["messages"][-1]["error"].startswith("The API cannot serve /ask/stream")


@pytest.fixture(scope="module")
def answered(live_api: LiveApi) -> AppTest:
    """The chat page after one real question (asked once: the feedback test rates this answer)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENAIOPS_UI__API_URL", live_api.url)
        at = run_page("chat")
        assert_no_traceback(at)
        at.chat_input[0].set_value(QUESTION).run(timeout=RUN_TIMEOUT)
    return at


def test_chat_streams_an_answer_with_sources(answered: AppTest) -> None:
    at = answered
    assert_no_traceback(at)
    assert not texts(at, "error")
    user, assistant = at.chat_message[0], at.chat_message[1]
    assert user.name == "user" and assistant.name == "assistant"
    reply = at.session_state["messages"][-1]
    answer = reply["answer"]
    assert reply["content"] == answer["answer"] and answer["answer"].strip()
    assert assistant.markdown[0].value == answer["answer"]  # the final answer replaced the streamed text
    assert answer["mode"] in ("generative", "extractive") and answer["sources"]
    assert assistant.caption[0].value.startswith((":green-badge[generative]", ":orange-badge[extractive]"))
    expander = assistant.expander[0]
    assert expander.label == f"Sources ({len(answer['sources'])})"
    first = answer["sources"][0]
    assert expander.markdown[0].value.startswith(f"**[1] {first['source']}** · {first['heading']}")


def test_chat_thumbs_are_sent_to_feedback(answered: AppTest, live_api: LiveApi) -> None:
    at = answered
    at.feedback[0].set_value(0).run()
    assert_no_traceback(at)
    if not live_api.has_route("/feedback"):
        assert texts(at, "warning") == [missing(live_api, "POST /feedback")]
        return
    assert not texts(at, "error")
    assert [t.value for t in at.toast] == ["Feedback recorded (down). Thank you!"]
    assert at.session_state["messages"][-1]["rated"] == 0


def test_predict_form_and_chunked_csv_batch(live_api: LiveApi, ui_env) -> None:  # type: ignore[no-untyped-def]
    ui_env(live_api.url)
    at = run_page("predict")
    assert_no_traceback(at)
    schema = httpx.get(f"{live_api.url}/predict/schema").json()
    assert {w.label for w in itertools.chain(at.number_input, at.selectbox)} == {f["name"] for f in schema["fields"]}
    island = next(s for s in at.selectbox if s.label == "island")
    assert island.options == ["Biscoe", "Dream", "Torgersen"]
    next(b for b in at.button if b.label == "Predict").click().run()
    assert_no_traceback(at)
    assert not texts(at, "error")
    prediction = at.session_state["prediction"]["predictions"][0]
    assert at.metric[0].value == prediction["prediction"] and prediction["prediction"] in schema["classes"]
    assert at.get("vega_lite_chart"), "the class probabilities are drawn as a chart"

    rows = 12  # > MAX_BATCH: the page must split the upload into chunks the API accepts
    assert rows > MAX_BATCH
    frame = pd.DataFrame(
        {
            "island": ["Biscoe", "Dream", "Torgersen"] * 4,
            "bill_length_mm": [38.0 + i for i in range(rows)],
            "bill_depth_mm": [18.0] * rows,
            "flipper_length_mm": [190.0 + 2 * i for i in range(rows)],
            "body_mass_g": [3500.0 + 100 * i for i in range(rows)],
            "sex": ["male", "female", None] * 4,
        }
    )
    at.file_uploader[0].set_value(("penguins.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    next(b for b in at.button if b.label == f"Score {rows} rows").click().run(timeout=60)
    assert_no_traceback(at)
    assert not texts(at, "error")
    results = at.dataframe[0].value
    assert len(results) == rows and set(results["prediction"]) <= set(schema["classes"])
    assert results[[f"p_{c}" for c in schema["classes"]]].sum(axis=1).round(3).eq(1.0).all()
    assert at.get("download_button")


def test_predict_csv_without_a_column_is_refused_by_name(live_api: LiveApi, ui_env) -> None:  # type: ignore[no-untyped-def]
    ui_env(live_api.url)
    at = run_page("predict")
    at.file_uploader[0].set_value(("bad.csv", b"island,bill_length_mm\nDream,40\n", "text/csv")).run()
    assert_no_traceback(at)
    errors = texts(at, "error")
    assert len(errors) == 1 and errors[0].startswith("bad.csv: the CSV has no column bill_depth_mm, flipper_length_mm")


def test_monitoring_page(live_api: LiveApi, ui_env) -> None:  # type: ignore[no-untyped-def]
    ui_env(live_api.url)
    at = run_page("monitoring")
    assert_no_traceback(at)
    messages = texts(at, "warning") + texts(at, "error") + texts(at, "info")
    sections = {"/monitoring/classic": "Classic model: drift", "/monitoring/rag": "RAG chatbot: answers over time"}
    for path, section in sections.items():
        assert section in [h.value for h in at.header]
        if not live_api.has_route(path):
            assert missing(live_api, f"GET {path}") in messages
    if live_api.has_route("/monitoring/classic") or live_api.has_route("/monitoring/rag"):
        assert not texts(at, "error")
        assert at.get("vega_lite_chart") or any("No " in m and "yet" in m for m in messages)


def test_prompts_page(live_api: LiveApi, ui_env) -> None:  # type: ignore[no-untyped-def]
    ui_env(live_api.url)
    at = run_page("prompts")
    assert_no_traceback(at)
    if not live_api.has_route("/prompts"):
        assert texts(at, "warning") == [missing(live_api, "GET /prompts")]
        return
    assert not texts(at, "error")
    prompts = httpx.get(f"{live_api.url}/prompts").json()
    assert at.selectbox[0].options == [p["name"] for p in prompts]
    first = prompts[0]
    if len(first["versions"]) >= 2:
        assert any(code.language == "diff" for code in at.code)
