"""``genaiops eval curate``: let-down questions from the ask log become de-duplicated review entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval.curate import curate, normalise
from eval.golden import load_golden
from genaiops.settings import Settings
from rag.ask_log import build_ask_log
from tests.rag.test_ask_log import make_answer


def test_thumbs_down_and_low_grounding_become_candidates_once(settings: Settings, tmp_path: Path) -> None:
    golden = tmp_path / "golden.jsonl"
    golden.write_text(json.dumps({"id": "q1", "question": "Qu'est-ce que le MLOps ?"}) + "\n", encoding="utf-8")
    log = build_ask_log(settings)
    asks = {
        "Comment surveiller la dérive des données ?": make_answer("generative"),  # thumbs down
        "comment surveiller la derive des donnees": make_answer("generative"),  # same question, other spelling
        "Quel est le rôle d'un feature store ?": make_answer("extractive"),  # grounding guard stepped in
        "Qu'est-ce que le MLOps?": make_answer("generative"),  # thumbs down, but already in the golden set
        "Comment déployer un modèle ?": make_answer("generative"),  # answered well: not a candidate
        "Donne-moi une recette de crêpes": make_answer("refusal"),  # thumbs down on a refusal
    }
    for question, answer in asks.items():
        log.record(question, answer)
    for question in ("Comment surveiller la dérive des données ?", "comment surveiller la derive des donnees",
                     "Qu'est-ce que le MLOps?", "Donne-moi une recette de crêpes"):  # fmt: skip
        assert log.add_feedback(asks[question].request_id, "down", "pas clair")
    log.close()

    out = tmp_path / "candidates.jsonl"
    report = curate(settings, out, golden=golden)
    by_question = {normalise(e["question"]): e for e in report.added}
    assert set(by_question) == {
        normalise("Comment surveiller la dérive des données ?"),
        normalise("Quel est le rôle d'un feature store ?"),
        normalise("Donne-moi une recette de crêpes"),
    }
    assert report.duplicates == 1 and report.considered == 5
    drift = by_question[normalise("Comment surveiller la dérive des données ?")]
    assert drift["review"]["asked"] == 2 and drift["review"]["reasons"] == ["thumbs_down"]
    assert drift["review"]["comments"] == ["pas clair", "pas clair"] and drift["source"] == "000_cours.txt"
    assert by_question[normalise("Quel est le rôle d'un feature store ?")]["review"]["reasons"] == ["low_grounding"]
    assert by_question[normalise("Donne-moi une recette de crêpes")]["kind"] == "out_of_scope"
    assert len(load_golden(out)) == 3  # the review file loads like the golden set

    again = curate(settings, out, golden=golden)
    assert again.added == [] and again.duplicates == 4  # nothing twice (the golden one is still skipped too)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def test_cli_reports_what_it_added(settings: Settings, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from app.cli import app

    log = build_ask_log(settings)
    answer = make_answer("extractive")
    log.record("Pourquoi versionner les données ?", answer)
    log.close()
    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(settings.data_dir))
    out = tmp_path / "review.jsonl"
    result = CliRunner().invoke(app, ["eval", "curate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 new candidate" in result.output and "Pourquoi versionner les données ?" in result.output
    assert json.loads(out.read_text(encoding="utf-8"))["review"]["request_ids"] == [answer.request_id]


@pytest.mark.slow  # real MLflow trace export
def test_thumbs_down_traces_in_mlflow_become_candidates_too(settings: Settings, tmp_path: Path) -> None:
    """Feedback that reached MLflow (another replica, an older ask log) is curated from the traces' assessments."""
    from rag.tracing import MlflowTracer
    from tests.rag.test_tracing import make_answer as traced_answer

    tracer = MlflowTracer(settings)
    questions = {"t-down": "Comment versionner un jeu de données ?", "t-up": "Qu'est-ce qu'un modèle champion ?"}
    for request_id, question in questions.items():
        tracer.record(traced_answer(request_id), question=question, top_k=3)
    tracer.feedback("t-down", "down", "il manque DVC")
    tracer.feedback("t-up", "up")
    assert tracer.flush(timeout_s=60)
    tracer.close()
    golden = tmp_path / "golden.jsonl"
    golden.write_text("", encoding="utf-8")
    assert curate(settings, tmp_path / "log-only.jsonl", golden=golden).added == []  # the ask log is empty
    report = curate(settings, tmp_path / "review.jsonl", golden=golden, source="mlflow")
    [entry] = report.added
    assert entry["question"] == questions["t-down"] and entry["review"]["request_ids"] == ["t-down"]
    assert entry["review"]["reasons"] == ["thumbs_down"] and entry["review"]["comments"] == ["il manque DVC"]
    assert entry["source"] == "000_cours.txt" and entry["review"]["top_score"] == 0.6
    log = build_ask_log(settings)  # the same rated ask in the ask log too: counted once with --source both
    log.record(questions["t-down"], make_answer("generative", request_id="t-down"))
    assert log.add_feedback("t-down", "down", "il manque DVC")
    log.close()
    both = curate(settings, tmp_path / "both.jsonl", golden=golden, source="both")
    assert [e["review"]["request_ids"] for e in both.added] == [["t-down"]] and both.considered == 1
