"""The RAG monitor on real traffic shapes: real retrieval over the real course, real embeddings, no LLM.

Each question is answered the way the service answers without generation: retrieval, then a
refusal when it is out of scope, else an extractive answer from the passages (``rag.answer``).
"""

from __future__ import annotations

import json
import random
import time

import pytest

from genaiops.settings import REPO_ROOT, Settings
from rag.answer import extractive
from rag.ask_log import AskLog, build_ask_log
from rag.monitoring import rag_summary
from rag.prompting import NOT_COVERED, detect_language
from rag.types import Answer, Embedder
from tests.eval.helpers import log_tagged_eval_runs

pytestmark = pytest.mark.slow
WINDOW = 20
OFF_TOPIC_EXTRA = [
    "Quelle est la recette du bœuf bourguignon ?",
    "Combien de joueurs compte une équipe de rugby ?",
    "Quel temps fera-t-il à Lyon ce week-end ?",
    "Comment planter des tomates sur un balcon ?",
    "Who painted the Mona Lisa?",
]


def golden(kind: str) -> list[str]:
    lines = (REPO_ROOT / "eval" / "datasets" / "golden.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip() and json.loads(line)["kind"] == kind]


def answer(question: str, retriever, embedder: Embedder) -> Answer:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    retrieval = retriever.retrieve(question)
    lang = detect_language(question)
    retrieve_ms = (time.perf_counter() - started) * 1000
    if not retrieval.in_scope:
        mode, text, sources = "refusal", NOT_COVERED[lang], []
    else:
        mode, sources = "extractive", retrieval.chunks
        text, _ = extractive(question, lang, sources, embedder)
    total = (time.perf_counter() - started) * 1000
    return Answer(
        request_id=f"{abs(hash(question)):x}-{time.perf_counter_ns()}",
        answer=text,
        mode=mode,  # type: ignore[arg-type]
        grounded=mode != "refusal",
        sources=sources,
        prompt_name="rag_answer",
        prompt_version="1",
        model="none",
        timings_ms={"retrieve": retrieve_ms, "generate": 0.0, "total": total},
    )


@pytest.fixture(scope="module")
def traffic(course_index, embedder: Embedder) -> dict[str, list[tuple[str, Answer, object]]]:  # type: ignore[no-untyped-def]
    """(question, answer, embedding) for a reference window, an in-scope control window and an off-topic one."""
    _, retriever = course_index
    in_scope = golden("in_scope")
    random.Random(5).shuffle(in_scope)
    off_topic = golden("out_of_scope") + OFF_TOPIC_EXTRA

    def run(questions: list[str]) -> list[tuple[str, Answer, object]]:
        return [(q, answer(q, retriever, embedder), embedder.embed_query(q)) for q in questions[:WINDOW]]

    return {"reference": run(in_scope[:WINDOW]), "control": run(in_scope[WINDOW:]), "off_topic": run(off_topic)}


def record(log: AskLog, window: list[tuple[str, Answer, object]]) -> None:
    for question, ans, vector in window:
        log.record(question, ans, vector)
    assert log.flush()


def checks(summary: dict) -> dict[str, dict]:
    return {c["name"]: c for c in summary["checks"]}


def test_off_topic_window_is_flagged_and_an_in_scope_one_is_not(settings: Settings, traffic) -> None:  # type: ignore[no-untyped-def]
    log = build_ask_log(settings)
    record(log, traffic["reference"])
    assert rag_summary(settings, window=WINDOW, engine=log.engine)["status"] == "no_data"  # nothing to compare yet

    record(log, traffic["control"])
    calm = rag_summary(settings, window=WINDOW, engine=log.engine)
    assert [w["index"] for w in calm["windows"]] == [0, 1] and calm["windows"][1]["asks"] == WINDOW
    by_name = checks(calm)
    # latency is real wall time on a shared machine: not asserted here, every quality signal is
    for name in ("refusal_rate", "mean_top_score", "retrieval_score_ks", "question_embedding_drift"):
        assert by_name[name]["regressed"] is False, by_name[name]
    assert by_name["question_embedding_drift"]["current"] is not None  # the test did run

    record(log, traffic["off_topic"])
    alarm = rag_summary(settings, window=WINDOW, engine=log.engine)
    log.close()
    assert alarm["status"] == "regression"
    current = alarm["windows"][-1]
    assert current["index"] == 2 and current["refusal_rate"] > alarm["windows"][0]["refusal_rate"] + 0.5
    assert current["modes"].get("refusal", 0) >= WINDOW // 2
    by_name = checks(alarm)
    assert by_name["refusal_rate"]["regressed"] is True
    drift = by_name["question_embedding_drift"]
    assert drift["regressed"] is True and drift["current"] > drift["threshold"]
    assert set(alarm["windows"][0]) == {
        "index", "start", "end", "asks", "mean_top_score", "refusal_rate", "extractive_rate", "grounded_rate",
        "negative_feedback_rate", "latency_p95_ms", "modes",
    }  # fmt: skip
    assert all(set(c) == {"name", "reference", "current", "threshold", "regressed"} for c in alarm["checks"])


def test_thumbs_down_raise_the_negative_feedback_check(settings: Settings, traffic) -> None:  # type: ignore[no-untyped-def]
    log = build_ask_log(settings)
    record(log, traffic["reference"])
    record(log, traffic["control"])
    for _, ans, _ in traffic["control"][:8]:
        assert log.add_feedback(ans.request_id, "down")
    for _, ans, _ in traffic["control"][8:12]:
        assert log.add_feedback(ans.request_id, "up")
    summary = rag_summary(settings, window=WINDOW, engine=log.engine)
    log.close()
    assert summary["windows"][1]["negative_feedback_rate"] == pytest.approx(8 / 12, abs=1e-3)
    assert summary["windows"][0]["negative_feedback_rate"] is None  # nobody rated the reference window
    check = checks(summary)["negative_feedback_rate"]
    assert check["regressed"] is True and check["reference"] == 0.0 and summary["status"] == "regression"


def test_eval_history_comes_from_mlflow_oldest_first(settings: Settings) -> None:
    log_tagged_eval_runs(settings, {"1": {"context_recall": 0.61}, "2": {"context_recall": 0.72}})
    history = rag_summary(settings)["eval_history"]
    assert [h["prompt"] for h in history] == ["rag_answer@1", "rag_answer@2"]
    assert history[-1]["metrics"] == {"context_recall": 0.72} and set(history[0]) == {
        "run_id", "start_time", "prompt", "metrics"
    }  # fmt: skip


def test_monitor_rag_command_exits_1_on_a_regression(settings: Settings, traffic, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from app.cli import app

    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(settings.data_dir))
    log = build_ask_log(settings)
    record(log, traffic["reference"])
    waiting = CliRunner().invoke(app, ["monitor", "rag", "--window", str(WINDOW)])
    assert waiting.exit_code == 0 and "no_data" in waiting.output  # a cron job must not page on a new service
    record(log, traffic["off_topic"])
    log.close()
    alarm = CliRunner().invoke(app, ["monitor", "rag", "--window", str(WINDOW), "--json"])
    assert alarm.exit_code == 1, alarm.output
    assert json.loads(alarm.output)["status"] == "regression"


def test_grounding_mode_and_latency_checks_fire_on_their_own(settings: Settings) -> None:
    """Hand-made answers (the checks' arithmetic; the real traffic is in tests/app/test_rag_monitoring_api.py):
    same retrieval scores, but the guard replaces most answers and each takes five times longer."""
    from tests.rag.test_ask_log import make_answer

    fast = {"retrieve": 10.0, "generate": 900.0, "total": 1000.0}
    slow = {"retrieve": 10.0, "generate": 4900.0, "total": 5000.0}
    reference = [make_answer("generative", timings_ms=fast) for _ in range(WINDOW)]
    current = [make_answer("extractive", timings_ms=slow) for _ in range(WINDOW - 4)]
    current += [make_answer("generative", grounded=False, timings_ms=slow) for _ in range(4)]
    log = build_ask_log(settings)
    for ans in reference + current:
        log.record("Qu'est-ce que le MLOps ?", ans)
    assert log.flush()
    summary = rag_summary(settings, window=WINDOW, engine=log.engine)
    log.close()
    by_name = checks(summary)
    assert summary["status"] == "regression"
    assert by_name["extractive_rate"] == {
        "name": "extractive_rate", "reference": 0.0, "current": 0.8, "threshold": 0.15, "regressed": True
    }  # fmt: skip
    assert by_name["grounded_rate"]["reference"] == 1.0 and by_name["grounded_rate"]["current"] == 0.8
    assert by_name["grounded_rate"]["regressed"] is True  # 0.8 < 1.0 - 0.15
    assert by_name["latency_p95_ms"]["current"] == 5000.0 and by_name["latency_p95_ms"]["threshold"] == 1500.0
    assert by_name["latency_p95_ms"]["regressed"] is True
    for unchanged in ("refusal_rate", "mean_top_score", "retrieval_score_ks"):
        assert by_name[unchanged]["regressed"] is False, by_name[unchanged]
    assert by_name["question_embedding_drift"]["threshold"] is None  # no embeddings logged: not run, not guessed
