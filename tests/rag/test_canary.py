"""The prompt canary (issue 15): a sticky share of /ask answered with ``prompts:/NAME@candidate``, every online
signal split by prompt version, a verdict fit for small counts, and a release that never ships a worse prompt.

Real MLflow prompt registry (sqlite in a tmp dir), the session's real course index, ``FakeChatModel`` for
the answers (what is tested is which words the model was given, not what it says), a real ask log.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.main import create_app
from genaiops.settings import Settings
from prompts import load_prompt_file
from prompts.loader import TEMPLATES_DIR
from prompts.registry import promote, push
from prompts.selector import PromptSelector, bucket, build_selector
from rag.ask_log import build_ask_log, read_asks
from rag.canary import canary_summary
from rag.fake_llm import FakeChatModel
from rag.retrieval import HybridRetriever
from rag.service import build_rag_service
from rag.tracing import NullTracer
from tests.rag.helpers import FR_QUESTION, answer_settings
from tests.rag.test_ask_log import make_answer

MARKER = "Canary rule: answer in one sentence."


def register_candidate(settings: Settings, folder: Path) -> None:
    """v1 (the committed file) as production, v2 (one more rule) as candidate, in the settings' registry."""
    templates = folder / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    assert [r.version for r in push(settings, templates) if r.name == "rag_answer"] == [1]
    path = templates / "rag_answer.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Rules:\n", f"Rules:\n    0. {MARKER}\n"))
    assert [r.version for r in push(settings, templates) if r.name == "rag_answer"] == [2]
    promote(settings, "rag_answer", 1, "production")
    promote(settings, "rag_answer", 2, "candidate")


def test_selection_is_sticky_per_key_and_follows_the_share() -> None:
    production = load_prompt_file("rag_answer")
    candidate = production.model_copy(update={"version": "99"})
    canary = PromptSelector(production, candidate, share=0.3)
    keys = [f"conversation-{i}" for i in range(4000)]
    chosen = [canary.select(k).version for k in keys]
    assert abs(chosen.count("99") / len(keys) - 0.3) < 0.03
    assert chosen == [canary.select(k).version for k in keys]  # the same key, the same version, every time
    assert all(0 <= bucket(k) < 1 for k in keys[:50])
    assert {PromptSelector(production, candidate, 0.0).select(k).version for k in keys} == {production.version}
    assert {PromptSelector(production, None, 1.0).select(k).version for k in keys} == {production.version}
    assert {PromptSelector(production, candidate, 1.0).select(k).version for k in keys} == {"99"}


def test_the_candidate_is_loaded_only_with_a_share_and_the_alias(tmp_path: Path) -> None:
    settings = answer_settings(tmp_path / "var", tmp_path / "llm")
    assert build_selector(settings, "rag_answer").candidate is None  # no registry at all: the file, no canary
    register_candidate(settings, tmp_path)
    assert build_selector(settings, "rag_answer").candidate is None  # canary_share 0 (the default)
    settings.prompts.canary_share = 0.25
    selector = build_selector(settings, "rag_answer")
    assert (selector.production.version, selector.candidate and selector.candidate.version) == ("1", "2")
    assert selector.info() == {"production": "rag_answer@1", "candidate": "rag_answer@2", "share": 0.25}
    promote(settings, "rag_answer", 1, "candidate")  # candidate = production: nothing to compare
    assert build_selector(settings, "rag_answer").candidate is None


@pytest.mark.slow  # a registry and many answers
def test_the_service_answers_a_share_with_the_candidates_words(
    tmp_path: Path, course_index: tuple[Settings, HybridRetriever]
) -> None:
    settings = answer_settings(tmp_path / "var", tmp_path / "llm", prompts={"canary_share": 0.5})
    register_candidate(settings, tmp_path)
    fake = FakeChatModel()
    service = build_rag_service(settings, retriever=course_index[1], chat_model=fake, tracer=NullTracer())

    answers = [service.ask(FR_QUESTION) for _ in range(24)]  # each request its own key (its request id)
    assert set(Counter(a.prompt_version for a in answers)) == {"1", "2"}
    for answer, call in zip(answers, fake.calls, strict=True):
        assert (MARKER in call.messages[0][1]) == (answer.prompt_version == "2")  # the words, not only the label
    for conversation in ("conv-a", "conv-b", "conv-c", "conv-d"):
        turns = {service.ask(FR_QUESTION, conversation_id=conversation).prompt_version for _ in range(3)}
        streamed = [e for e in service.stream(FR_QUESTION, conversation_id=conversation) if e["event"] == "done"]
        assert len(turns) == 1 and streamed[0]["data"]["prompt"]["version"] in turns  # sticky per conversation
    assert service.prompt_info()["version"] == "1"  # production is still what the service says it serves

    promote(settings, "rag_answer", 1, "candidate")
    service.reload_prompt()
    assert {service.ask(FR_QUESTION).prompt_version for _ in range(6)} == {"1"}  # the canary is over


def _traffic(settings: Settings, version: str, asks: int, refusals: int, downs: int = 0) -> None:
    """``asks`` answers by prompt ``version``: the first ``refusals`` refused, the first ``downs`` rated down."""
    log = build_ask_log(settings)
    for i in range(asks):
        answer = make_answer("refusal" if i < refusals else "generative", prompt_version=version)
        answer.timings_ms["total"] = 800.0 + i  # the same latencies on both sides
        log.record(f"question {version}-{i}", answer)
        if i < downs:
            assert log.add_feedback(answer.request_id, "down")
        elif i < downs + 10:
            assert log.add_feedback(answer.request_id, "up")
    log.close()


@pytest.mark.parametrize(
    ("production", "candidate", "verdict"),
    [
        ((60, 6), (60, 30), "worse"),  # refuses five times as often: worse on refusal rate
        ((60, 30), (60, 6), "better"),
        ((60, 6), (60, 8), "undecided"),  # a few more refusals: not significant with 60 asks each
        ((60, 6), (12, 12), "insufficient_data"),  # too few candidate asks to say anything
    ],
)
def test_the_live_verdict_is_fit_for_small_counts(
    settings: Settings, production: tuple[int, int], candidate: tuple[int, int], verdict: str
) -> None:
    _traffic(settings, "1", *production)
    _traffic(settings, "2", *candidate)
    summary = canary_summary(read_asks(settings), settings, versions=("1", "2"))
    by_version = {v["version"]: v for v in summary["prompt_versions"]}
    assert by_version["1"]["asks"] == production[0] and by_version["2"]["asks"] == candidate[0]
    assert by_version["2"]["refusal_rate"] == round(candidate[1] / candidate[0], 4)
    assert set(by_version["1"]) >= {"refusal_rate", "grounded_rate", "extractive_rate", "negative_feedback_rate",
                                    "latency_p95_ms", "mean_top_score", "rated"}  # fmt: skip
    canary = summary["canary"]
    assert canary["verdict"] == verdict, canary
    assert canary["production"] == "rag_answer@1" and canary["candidate"] == "rag_answer@2"
    if verdict != "insufficient_data":
        refusal = next(t for t in canary["tests"] if t["signal"] == "refusal_rate")
        assert refusal["test"] == "fisher_exact" and refusal["significant"] == (verdict != "undecided")
        assert {t["signal"] for t in canary["tests"]} >= {"refusal_rate", "grounded_rate", "median_latency_ms"}


def test_thumbs_down_alone_make_a_candidate_worse(settings: Settings) -> None:
    _traffic(settings, "1", 50, 0, downs=1)
    _traffic(settings, "2", 50, 0, downs=25)
    canary = canary_summary(read_asks(settings), settings, versions=("1", "2"))["canary"]
    assert canary["verdict"] == "worse" and "negative_feedback_rate" in canary["reason"]


def test_monitoring_api_and_cli_show_the_split_and_the_verdict(settings: Settings, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from app.cli import app

    register_candidate(settings, tmp_path)
    _traffic(settings, "1", 40, 4)
    _traffic(settings, "2", 40, 24)
    with TestClient(create_app(settings, load_rag=False, load_classic=False)) as client:
        body = client.get("/monitoring/rag").json()
    assert [(v["prompt"], v["asks"]) for v in body["prompt_versions"]] == [("rag_answer@1", 40), ("rag_answer@2", 40)]
    assert body["canary"]["verdict"] == "worse" and body["canary"]["candidate"] == "rag_answer@2"

    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", settings.mlflow.tracking_uri or "")
    result = CliRunner().invoke(app, ["monitor", "rag", "--window", "10"])
    assert "recent asks by prompt version" in result.output and "rag_answer@2" in result.output
    assert "verdict: worse" in result.output


def _passing_eval_run(settings: Settings, version: int) -> str:
    """A rag-eval run of ``rag_answer@version`` scoring exactly the committed baseline: the offline gate passes."""
    from eval.release import prompt_digest
    from genaiops.tracking import mlflow_store
    from prompts.registry import load_version

    registered = load_version(settings, "rag_answer", version)
    baseline = json.loads(settings.eval.baseline_path.read_text(encoding="utf-8"))["metrics"]
    store = mlflow_store(settings)
    client = store.client
    run = client.create_run(store.experiment_id(settings.mlflow.rag_eval_experiment))
    params = {"prompt_name": "rag_answer", "prompt_version": str(version), "prompt_source": "registry",
              "prompt_digest": prompt_digest(registered)}  # fmt: skip
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    for key, value in baseline.items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def _production_version(settings: Settings) -> str:
    from prompts.registry import load_registered

    found = load_registered(settings, "rag_answer", "production")
    assert found is not None
    return found.version


@pytest.mark.parametrize(("candidate_refusals", "promoted"), [(24, False), (5, True)])
def test_release_promote_never_ships_a_candidate_worse_on_live_traffic(
    settings: Settings, tmp_path: Path, monkeypatch: Any, candidate_refusals: int, promoted: bool
) -> None:
    from app.cli import app

    register_candidate(settings, tmp_path)
    _traffic(settings, "1", 40, 4)
    _traffic(settings, "2", 40, candidate_refusals)
    run_id = _passing_eval_run(settings, 2)
    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", settings.mlflow.tracking_uri or "")

    result = CliRunner().invoke(app, ["release", "promote", "--run-id", run_id])
    assert "Live traffic: rag_answer@2" in result.output, result.output
    if promoted:
        assert result.exit_code == 0, result.output
        assert _production_version(settings) == "2"
    else:
        assert result.exit_code == 1 and "worse than production on live traffic" in result.output
        assert _production_version(settings) == "1"  # nothing moved


def test_release_promote_can_require_live_traffic(settings: Settings, tmp_path: Path, monkeypatch: Any) -> None:
    from app.cli import app

    register_candidate(settings, tmp_path)
    _traffic(settings, "1", 40, 4)
    _traffic(settings, "2", 5, 0)
    run_id = _passing_eval_run(settings, 2)
    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", settings.mlflow.tracking_uri or "")
    refused = CliRunner().invoke(app, ["release", "promote", "--run-id", run_id, "--require-live"])
    assert refused.exit_code == 1 and "--require-live" in refused.output and _production_version(settings) == "1"
