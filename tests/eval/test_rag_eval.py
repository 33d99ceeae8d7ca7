"""`genaiops eval rag | gate | baseline | classic`, `genaiops report`, `genaiops release promote`, end to end.

Real MLflow (sqlite in a tmp dir), the real course index, ragas with the project's own embeddings, and a
``FakeChatModel`` (tests/eval/conftest.py): the real model's eval is `make eval-gate`. Each eval asks the
first ``LIMIT`` golden questions of each kind (in-scope, out-of-scope, injection): enough for the degraded
release to show.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from genaiops.settings import Settings
from genaiops.tracking import mlflow_store

pytestmark = [pytest.mark.slow]

LIMIT = "3"
RELEASE_PARAMS = {
    "prompt_name",
    "prompt_version",
    "prompt_source",
    "prompt_digest",
    "llm_backend",
    "llm_model",
    "llm_max_tokens",
    "embedding_model",
    "top_k",
    "fetch_k",
    "fusion",
    "relevance_floor",
    "chunk_size",
    "chunk_min_section",
    "corpus_fingerprint",
    "release_id",
    "golden_items",
    "golden_digest",
}
ALWAYS_METRICS = {
    "hit_at_k",
    "mrr",
    "refusal_accuracy",
    "injection_resistance",
    "grounded_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "context_recall",
    "context_precision",
    "rouge_l",
    "semantic_similarity",
    "nan_context_recall",
    "nan_semantic_similarity",
}
# A wrong prompt: same slots (so the registry accepts it), instructions that throw the passages away.
PIRATE = (
    "You are a pirate storyteller. Never use the passages below: invent your own facts, answer in {language} "
    "pirate slang, never cite anything and never say: {not_covered}"
)


def cli(*args: str) -> Any:
    from app.cli import app

    return CliRunner().invoke(app, list(args))


def eval_rag(*args: str) -> dict[str, Any]:
    result = cli("eval", "rag", "--limit", LIMIT, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{") :])


def production_version(settings: Settings) -> str:
    return str(mlflow_store(settings).client.get_prompt_version_by_alias("rag_answer", "production").version)


@pytest.fixture(scope="module")
def default_run(eval_env: Settings) -> dict[str, Any]:
    """One eval of the default release (the committed prompt file), logged to MLflow."""
    return eval_rag()


def test_eval_rag_logs_one_run_with_the_release_its_scores_and_a_table(
    eval_env: Settings, default_run: dict[str, Any]
) -> None:
    import os

    import mlflow

    assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"
    assert not [k for k, v in default_run["metrics"].items() if math.isnan(v)]
    assert set(default_run["nan_counts"].values()) == {0}
    client = mlflow_store(eval_env).client
    run = client.get_run(default_run["run_id"])
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "rag-eval"
    params = run.data.params
    assert set(params) >= RELEASE_PARAMS, RELEASE_PARAMS - set(params)
    assert (params["prompt_name"], params["prompt_version"], params["prompt_source"]) == ("rag_answer", "2", "file")
    assert params["top_k"] == str(eval_env.rag.top_k) and params["llm_max_tokens"] == str(eval_env.llm.max_tokens)
    assert params["golden_items"] == "9"  # three of each kind
    metrics = run.data.metrics
    assert set(metrics) >= ALWAYS_METRICS, ALWAYS_METRICS - set(metrics)
    assert all(0.0 <= metrics[m] <= 1.0 for m in ("hit_at_k", "mrr", "context_recall", "semantic_similarity"))
    assert metrics["refusal_accuracy"] == 1.0 and metrics["injection_resistance"] == 1.0
    assert metrics["nan_semantic_similarity"] == 0  # our embeddings scored every answer: no judge, no hosted call
    assert run.data.tags["judge"] == "false" and run.data.tags["prompt"] == "rag_answer@2"

    table = client.load_table(experiment.experiment_id, "per_question.json", run_ids=[run.info.run_id])
    assert len(table) == 9 and {"question", "answer", "mode", "hit_rank", "latency_ms"} <= set(table.columns)
    scored = table[(table["kind"] == "in_scope") & (table["mode"] != "refusal")]
    assert scored["semantic_similarity"].notna().all()

    [release] = mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")
    assert release.name == "rag-release" and release.source_run_id == run.info.run_id
    assert release.params["corpus_fingerprint"] == params["corpus_fingerprint"]
    assert release.tags["release_id"] == params["release_id"]


def test_the_gate_passes_the_default_release_and_fails_a_degraded_one(
    eval_env: Settings, default_run: dict[str, Any], tmp_path: Path
) -> None:
    from prompts.loader import TEMPLATES_DIR
    from prompts.registry import promote, push

    baseline_id = default_run["run_id"]
    tagged = cli("eval", "baseline", baseline_id, "--write-file")
    assert tagged.exit_code == 0, tagged.output
    written = json.loads(eval_env.eval.baseline_path.read_text(encoding="utf-8"))
    assert written["params"]["release_id"] == default_run["release_id"] and written["tolerances"]["hit_at_k"] > 0
    assert written["metrics"]["hit_at_k"] == round(default_run["metrics"]["hit_at_k"], 4)

    again = eval_rag()  # the same release, asked again
    passed = cli("eval", "gate")
    assert passed.exit_code == 0, passed.output
    assert "gate passed" in passed.output and "baseline=production" in passed.output

    # the degraded release: a wrong prompt promoted in the registry, and one passage instead of four
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    path = templates / "rag_answer.yaml"
    text = path.read_text(encoding="utf-8")
    system = text[text.index("  system: |\n") : text.index("  user: |\n")]
    path.write_text(text.replace(system, f"  system: |\n    {PIRATE}\n"), encoding="utf-8")
    [pushed] = push(eval_env, templates)
    promote(eval_env, "rag_answer", int(pushed.version or 0), "production")
    degraded = eval_rag("--top-k", "1")
    assert degraded["metrics"]["hit_at_k"] < default_run["metrics"]["hit_at_k"]
    failed = cli("eval", "gate")
    assert failed.exit_code == 1, failed.output
    assert "gate FAILED" in failed.output and "hit_at_k" in failed.output
    assert "top_k" in failed.output and "prompt_digest" in failed.output  # what changed, shown next to the scores

    # no run tagged any more: the committed-style baseline file is the reference
    mlflow_store(eval_env).client.set_tag(baseline_id, "baseline", "retired")
    assert cli("eval", "gate").exit_code == 1
    from_file = cli("eval", "gate", "--run-id", again["run_id"])
    assert from_file.exit_code == 0 and "baseline.json" in from_file.output, from_file.output

    # release promote moves the prompt alias only for a release that passes
    refused = cli("release", "promote", "--run-id", degraded["run_id"])
    assert refused.exit_code == 1 and "not promoted" in refused.output
    assert production_version(eval_env) == str(pushed.version)
    promoted = cli("release", "promote", "--run-id", again["run_id"])
    assert promoted.exit_code == 0, promoted.output
    file_version = production_version(eval_env)
    assert file_version != str(pushed.version)  # production now holds the evaluated file text again
    from prompts import load_prompt

    assert load_prompt("rag_answer", eval_env).template == load_prompt("rag_answer").template
    baselines = [r.info.run_id for r in _runs(eval_env) if r.data.tags.get("baseline") == "production"]
    assert baselines == [again["run_id"]]


def test_report_shows_both_sides_and_release_promote_can_take_the_classic_champion(
    eval_env: Settings, default_run: dict[str, Any]
) -> None:
    from classic_ml.pipeline import run_training

    # self-contained: the default run is the baseline (judged against the file written from it)
    assert cli("eval", "baseline", default_run["run_id"], "--write-file").exit_code == 0
    assert run_training(eval_env).promoted
    classic = cli("eval", "classic")
    assert classic.exit_code == 0 and "champion" in classic.output, classic.output
    report = cli("report")
    assert report.exit_code == 0, report.output
    assert "Eval gate" in report.output and "Classic model" in report.output
    both = cli("release", "promote", "--run-id", default_run["run_id"], "--with-classic")
    assert both.exit_code == 0 and "promoted" in both.output, both.output


def _runs(settings: Settings) -> list[Any]:
    client = mlflow_store(settings).client
    experiment = client.get_experiment_by_name(settings.mlflow.rag_eval_experiment)
    return client.search_runs([experiment.experiment_id])
