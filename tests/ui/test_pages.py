"""Every page run by Streamlit's AppTest against a live API (real predictions, answers from a ``FakeChatModel``
over the real index), and clear messages (never a traceback) when the API is down, hung, or lacks an endpoint."""

from __future__ import annotations

import itertools

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.helpers import MAX_BATCH, PAGES, LiveApi

pytestmark = pytest.mark.slow  # Streamlit AppTest runs against live servers

QUESTION = "Qu'est-ce que le MLOps ?"
RUN_TIMEOUT = 120  # a whole streamed answer (retrieval, fake model, grounding) on 2 shared cores


def run_page(name: str, timeout: float = 30) -> AppTest:
    at = AppTest.from_file(str(PAGES[name]), default_timeout=timeout)
    return at.run()


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(element.value) for element in getattr(at, kind)]


def assert_no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_says_the_api_is_down(page: str, dead_url: str, ui_env) -> None:  # type: ignore[no-untyped-def]
    ui_env(dead_url)
    at = run_page(page)
    assert_no_traceback(at)
    assert texts(at, "error") == [
        f"The API at {dead_url} is not reachable: start it with `genaiops serve` (or `genaiops up`), "
        "or point GENAIOPS_API_URL at it."
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
    """The chat page after one question (asked once: the feedback test rates this answer)."""
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
    assert expander.markdown[0].value.startswith(
        f"**[1] {first['title']}** · {first['heading']}"
    )  # the title, not the file


def test_chat_thumbs_are_sent_to_feedback(answered: AppTest, live_api: LiveApi) -> None:
    at = answered
    at.feedback[0].set_value(0).run()
    assert_no_traceback(at)
    assert not texts(at, "error")
    assert [t.value for t in at.toast] == ["Feedback recorded (down). Thank you!"]
    assert at.session_state["messages"][-1]["rated"] == 0
    request_id = at.session_state["messages"][-1]["answer"]["request_id"]
    ask_log = live_api.app.state.ask_log  # type: ignore[attr-defined]
    assert ask_log.flush()
    [row] = [r for r in ask_log.read().to_dict("records") if r["request_id"] == request_id]
    assert (row["question"], row["rating"]) == (QUESTION, "down")  # the answer was logged, the thumb landed on it


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


def test_monitoring_page_draws_every_chart_from_logged_traffic(live_api: LiveApi, ui_env) -> None:  # type: ignore[no-untyped-def]
    """Two windows of predictions (calm, then shifted penguins) and two of questions (refused before the LLM)."""
    from bench.traffic import golden_questions, penguins, send_predictions

    off_topic = golden_questions("out_of_scope")
    with httpx.Client(base_url=live_api.url, timeout=60) as api:
        send_predictions(api, penguins(20, seed=1, shifted=False), "ui-calm", batch=MAX_BATCH)
        send_predictions(api, penguins(20, seed=2, shifted=True), "ui-moved", batch=MAX_BATCH)
        for n, question in enumerate((off_topic * 2)[:20]):
            response = api.post("/ask", json={"question": question})
            assert response.status_code == 200
            if n % 2:  # 5 rated answers a window: enough for its feedback rate
                api.post("/feedback", json={"request_id": response.json()["request_id"], "rating": "down"})
    ui_env(live_api.url)
    at = run_page("monitoring", timeout=120)
    by_label = {w.label: w for w in at.sidebar.number_input}
    by_label["Predictions per window"].set_value(10)
    by_label["Questions per window"].set_value(10)
    at.run()
    assert_no_traceback(at)
    assert not texts(at, "error") and not texts(at, "warning")
    assert [h.value for h in at.header] == [
        "Classic model: drift", "RAG chatbot: answers over time", "Evaluation scores per prompt version"
    ]  # fmt: skip
    captions = texts(at, "caption")
    assert any(c.startswith("Drift strength: each feature's test score") for c in captions)
    # classic: drifted share, strength per window, current window, prediction mix; RAG: feedback, modes, latency,
    # and the mean top score unless every logged ask was a refusal (run alone, this test sends only those)
    charts_drawn = len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart"))
    assert charts_drawn + captions.count("No data yet.") == 8 and captions.count("No data yet.") <= 1
    status_lines = [m for m in texts(at, "markdown") if m.startswith("Status ")]
    assert len(status_lines) == 2 and "windows of 10 predictions" in status_lines[0]
    assert "windows of 10 questions" in status_lines[1]


def test_prompts_page_shows_versions_aliases_diff_and_scores(live_api: LiveApi, ui_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two registered versions; their eval runs are written the way ``eval.tracking`` tags them (the real eval
    has its own tests, and the screenshot run of the browser test scores both versions for real)."""
    from prompts.catalog import version_diff
    from tests.eval.helpers import log_tagged_eval_runs
    from tests.ui.helpers import CANDIDATE_EDIT, register_prompt_versions

    settings = live_api.settings
    register_prompt_versions(settings, tmp_path / "templates")
    scores = {version: {"hit_at_k": hit, "latency_p95_ms": 1800.0} for version, hit in (("1", 0.5), ("2", 0.75))}
    log_tagged_eval_runs(settings, scores)
    ui_env(live_api.url)
    at = run_page("prompts")
    assert_no_traceback(at)
    assert not texts(at, "error") and not texts(at, "warning")
    assert at.selectbox[0].options == ["rag_answer"] and "source: registry" in texts(at, "caption")
    versions = at.dataframe[0].value
    assert versions[["version", "aliases"]].values.tolist() == [["2", "candidate"], ["1", "production"]]
    [diff] = [c.value for c in at.code if c.language == "diff"]
    assert diff == version_diff(settings, "rag_answer", 1, 2)  # the one diff, as the API and the CLI show it
    assert any(line.startswith("-") and CANDIDATE_EDIT[0] in line for line in diff.splitlines())
    assert any(line.startswith("+") and CANDIDATE_EDIT[1] in line for line in diff.splitlines())
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart"), "the scores are drawn"
    scores = at.dataframe[1].value
    assert scores.loc["rag_answer@2", "hit_at_k"] == 0.75 and scores.loc["rag_answer@1", "hit_at_k"] == 0.5
