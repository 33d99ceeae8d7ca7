"""The regression gate's rules, and which baseline it picks (real MLflow runs in a tmp sqlite).

The numbers here are inputs to the rules, not claims about the RAG: the real scores come from
`genaiops eval rag` (tests/eval/test_rag_eval.py, `make eval-gate`).
"""

from __future__ import annotations

import json
import math

import pytest

from eval.gate import DEFAULT_TOLERANCES, NoEvalRunError, compare, gate_run, write_file_baseline
from eval.rag_eval import EvalResult
from eval.tracking import log_eval_run, mark_baseline
from genaiops.settings import Settings

BASE = {"hit_at_k": 0.95, "mrr": 0.77, "false_refusal_rate": 0.0, "nan_rouge_l": 0.0, "latency_p50_ms": 4000.0}


def failed(current: dict[str, float], baseline: dict[str, float] = BASE) -> set[str]:
    return {c.name for c in compare(current, baseline).checks if c.failed}


def test_each_metric_fails_only_when_it_moves_the_wrong_way_beyond_its_tolerance() -> None:
    assert failed(dict(BASE)) == set()
    assert failed({**BASE, "hit_at_k": 0.95 - DEFAULT_TOLERANCES["hit_at_k"] + 0.001}) == set()  # within
    assert failed({**BASE, "hit_at_k": 0.80}) == {"hit_at_k"}  # dropped
    assert failed({**BASE, "hit_at_k": 1.0, "mrr": 0.9}) == set()  # better is never a failure
    assert failed({**BASE, "false_refusal_rate": 0.2}) == {"false_refusal_rate"}  # lower is better
    assert failed({**BASE, "nan_rouge_l": 2.0}) == {"nan_rouge_l"}  # a scorer that broke on two answers
    assert failed({**BASE, "latency_p50_ms": 40_000.0}) == set()  # machine-dependent: shown, not gated
    without_mrr = {k: v for k, v in BASE.items() if k != "mrr"}
    assert failed(without_mrr) == {"mrr"}  # a metric that vanished is a regression
    assert failed({**BASE, "mrr": math.nan}) == {"mrr"}


def test_a_category_may_lose_one_of_its_questions_but_not_two() -> None:
    """Four paraphrases: one answer is 0.25 of their hit@k, above the 0.2 tolerance; greedy answers differ by CPU,
    so the gate allows one answer's change in a category and still fails on two."""
    base = {"cat/paraphrase/hit_at_k": 0.75, "cat/paraphrase/n": 4.0}
    tolerances = {"cat/paraphrase/hit_at_k": 0.2}

    def fails(now: float, n: float = 4.0) -> bool:
        current = {"cat/paraphrase/hit_at_k": now, "cat/paraphrase/n": n}
        return not compare(current, base, tolerances).passed

    assert not fails(0.50) and fails(0.25)
    assert fails(0.50, n=10.0)  # in a category of ten, 0.25 is more than two answers


def log_run(settings: Settings, metrics: dict[str, float], **params: str) -> str:
    release = {"prompt_name": "rag_answer", "prompt_version": "1", "top_k": "4", "release_id": "r", **params}
    rows = [{"id": "q01", "kind": "in_scope", "question": "q", "answer": "a", "sources": ["x.txt"]}]
    return log_eval_run(settings, EvalResult(metrics, rows, release, seconds=1.0))


def test_the_baseline_is_the_tagged_run_else_the_committed_file_else_an_error(settings: Settings) -> None:
    settings.eval.baseline_path = settings.data_dir / "baseline.json"
    with pytest.raises(NoEvalRunError, match="genaiops eval rag"):
        gate_run(settings)
    first = log_run(settings, BASE)
    with pytest.raises(NoEvalRunError, match="no baseline"):  # a gate with nothing to compare must not pass
        gate_run(settings)

    write_file_baseline(settings.eval.baseline_path, {**BASE, "hit_at_k": 0.99}, {"hit_at_k": 0.01}, {"top_k": "4"})
    assert json.loads(settings.eval.baseline_path.read_text())["params"] == {"top_k": "4"}
    current, report = gate_run(settings)
    assert current["run_id"] == first and report.baseline_source == "baseline.json"
    assert not report.passed and [c.name for c in report.checks if c.failed] == ["hit_at_k"]  # the file's tolerance

    mark_baseline(settings, first)
    second = log_run(settings, {**BASE, "mrr": 0.5}, top_k="1")
    current, report = gate_run(settings)
    assert current["run_id"] == second and "baseline=production" in report.baseline_source
    assert [c.name for c in report.checks if c.failed] == ["mrr"]
    assert report.param_changes == {"top_k": ("4", "1")}

    _, itself = gate_run(settings, first)  # the baseline run is never its own baseline: the file judges it
    assert itself.baseline_source == "baseline.json"
