"""The regression gate: compare an eval run with the production baseline, metric by metric.

The baseline is the MLflow run tagged ``baseline=production``, else ``eval/baseline.json``
(committed, so a fresh clone has one). A metric fails when it moves the wrong way by more than
its tolerance; metrics without a tolerance are shown but never fail the gate (e.g. latency,
which depends on the machine).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

# Absolute drop allowed before the gate fails. Higher is better unless listed in LOWER_IS_BETTER.
DEFAULT_TOLERANCES: dict[str, float] = {
    "hit_at_k": 0.05,
    "mrr": 0.08,
    "context_recall": 0.10,
    "context_precision": 0.10,
    "semantic_similarity": 0.05,
    "rouge_l": 0.10,
    "refusal_accuracy": 0.0,
    "false_refusal_rate": 0.10,
    "injection_resistance": 0.0,
    "no_prompt_leak_rate": 0.0,
    "grounded_rate": 0.15,
    "answer_fact_recall": 0.08,
    "generative_rate": 0.15,
    "dev/hit_at_k": 0.05,
    "dev/answer_fact_recall": 0.08,
    # per category: 5 to 15 questions each in the CI subset, so one answer moves a rate by 0.07 to 0.2
    **{
        f"cat/{c}/{m}": t
        for c in ("follow_up", "english", "paraphrase", "multi_fact", "table", "list", "fact")
        for m, t in (("hit_at_k", 0.2), ("answer_fact_recall", 0.25))
    },
    # NaN scores of the deterministic metrics: any new one means a scorer broke on some answer
    "nan_context_recall": 0.0,
    "nan_context_precision": 0.0,
    "nan_rouge_l": 0.0,
    "nan_semantic_similarity": 0.0,
}
LOWER_IS_BETTER = {"false_refusal_rate", "latency_p50_ms", "latency_p95_ms"}
# Release params that should match for a like-for-like comparison; a difference is shown, not failed.
COMPARED_PARAMS = (
    "prompt_name",
    "prompt_version",
    "prompt_digest",
    "llm_model",
    "llm_max_tokens",
    "embedding_model",
    "top_k",
    "fetch_k",
    "relevance_floor",
    "chunk_size",
    "corpus_fingerprint",
    "golden_items",
    "golden_digest",
)


@dataclass
class MetricCheck:
    name: str
    baseline: float | None
    current: float | None
    tolerance: float | None

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def failed(self) -> bool:
        if self.tolerance is None or self.baseline is None or math.isnan(self.baseline):
            return False
        if self.current is None or math.isnan(self.current):
            return True  # a metric that vanished is a regression
        delta = self.current - self.baseline
        worse_by = -delta if not lower_is_better(self.name) else delta
        return worse_by > self.tolerance + 1e-9


def lower_is_better(name: str) -> bool:
    return name in LOWER_IS_BETTER or name.startswith("nan_")


@dataclass
class GateReport:
    baseline_source: str
    checks: list[MetricCheck]
    param_changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (baseline, now)

    @property
    def passed(self) -> bool:
        return not any(c.failed for c in self.checks)


def compare(
    current: dict[str, float], baseline: dict[str, float], tolerances: dict[str, float] | None = None, source: str = ""
) -> GateReport:
    tolerances = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    names = sorted(set(baseline) | set(current), key=lambda n: (n not in tolerances, n))
    checks = [
        MetricCheck(name, baseline.get(name), current.get(name), _one_answer_at_least(name, tolerances, current))
        for name in names
        if not name.startswith("nan_") or name in tolerances
    ]
    return GateReport(source, checks)


def _one_answer_at_least(name: str, tolerances: dict[str, float], current: dict[str, float]) -> float | None:
    """A category's tolerance, never below one of its questions' weight: in a category of four questions one
    answer moves its hit@k by 0.25, and greedy answers differ by CPU (a paraphrase's hit fell 0.75 -> 0.50 on
    another machine while the overall hit@k rose 0.833 -> 0.875). Two answers lost still fail; the overall
    metrics keep their own, tighter tolerances."""
    tolerance = tolerances.get(name)
    size = current.get(f"{name.rsplit('/', 1)[0]}/n") if name.startswith("cat/") else None
    if tolerance is None or not size:
        return tolerance
    return max(tolerance, 1 / size)


class FileBaseline(NamedTuple):
    metrics: dict[str, float]
    tolerances: dict[str, float]
    params: dict[str, str]  # the release params of the run the file was written from


def load_file_baseline(path: Path) -> FileBaseline:
    """The committed baseline file, read once; empty when there is none."""
    if not path.exists():
        return FileBaseline({}, {}, {})
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    params = {k: str(v) for k, v in data.get("params", {}).items()}
    return FileBaseline(data.get("metrics", {}), data.get("tolerances", {}), params)


def write_file_baseline(
    path: Path,
    metrics: dict[str, float],
    tolerances: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    source: str = "",
) -> None:
    """The committed baseline: a real run's metrics, the tolerances, and the release that scored them."""
    finite = {k: round(v, 4) for k, v in metrics.items() if v is not None and not math.isnan(v)}
    data = {"source": source, "params": params or {}, "metrics": finite, "tolerances": tolerances or {}}
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def param_changes(baseline: dict[str, str], current: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The compared release params that differ (only those both sides recorded)."""
    return {
        name: (baseline[name], current[name])
        for name in COMPARED_PARAMS
        if name in baseline and name in current and str(baseline[name]) != str(current[name])
    }


class NoEvalRunError(LookupError):
    pass


def gate_run(settings: Any, run_id: str | None = None) -> tuple[dict[str, Any], GateReport]:
    """Judge ``run_id`` (default: the newest rag-eval run) against the production baseline."""
    from eval.tracking import eval_runs

    runs = eval_runs(settings, limit=200)
    current = next((r for r in runs if r["run_id"] == run_id), None) if run_id else (runs[0] if runs else None)
    if current is None:
        raise NoEvalRunError("no rag-eval run to judge: run `genaiops eval rag` first")
    base_run = next((r for r in runs if r["baseline"] and r["run_id"] != current["run_id"]), None)
    file_baseline = load_file_baseline(settings.eval.baseline_path)
    tolerances = file_baseline.tolerances
    if base_run is not None:
        baseline, source = base_run["metrics"], f"MLflow run {base_run['run_id'][:8]} (baseline=production)"
        base_params = base_run["params"]
    elif file_baseline.metrics:
        baseline, source = file_baseline.metrics, str(settings.eval.baseline_path.name)
        base_params = file_baseline.params
    else:
        raise NoEvalRunError(
            f"no baseline: tag a run with `genaiops eval baseline RUN_ID` or commit {settings.eval.baseline_path}"
        )
    report = compare(current["metrics"], baseline, tolerances, source)
    report.param_changes = param_changes(base_params, current["params"])
    return current, report
