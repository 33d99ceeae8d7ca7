"""Run the RAG over the golden set and score it: retrieval, answers, refusals, injections, latency.

Deterministic metrics (ragas non-LLM metrics, hit@k, MRR, refusal / injection / grounding rates)
always run, so CI can gate on them without a judge. LLM-judged ragas metrics run only when a
judge is configured, and ragas is always handed our LLM and embeddings explicitly: it never
reaches for a hosted model.
"""

from __future__ import annotations

import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rich.progress import track

from eval.golden import GoldenItem, Split, load_golden, missing_facts
from eval.retrieval_eval import hit_rank, key_phrase_in
from genaiops.settings import Settings
from rag.answer import echoes
from rag.types import Answer, Chunk


@dataclass
class EvalResult:
    metrics: dict[str, float]
    rows: list[dict[str, Any]]
    params: dict[str, Any]
    seconds: float
    judge: bool = False
    nan_counts: dict[str, int] = field(default_factory=dict)


def reference_contexts(item: GoldenItem, chunks: list[Chunk]) -> list[str]:
    """The indexed passages that answer the item: from its source and holding its key phrase."""
    found = [c.text for c in chunks if item.source and c.source.endswith(item.source) and key_phrase_in(item, c.text)]
    return found or ([item.reference] if item.reference else [])


def fact_recall(item: GoldenItem, answer_text: str) -> float | None:
    """Share of the item's expected facts the answer states (None for items without any)."""
    if not item.expected_facts:
        return None
    return 1 - len(missing_facts(answer_text, item.expected_facts)) / len(item.expected_facts)


def evaluate_answers(
    items: list[GoldenItem],
    service: Any,
    *,
    top_k: int | None,
    system_prompt: str,
    progress: bool = True,
    concurrency: int = 1,
) -> list[dict[str, Any]]:
    """Ask every golden question once and record what the service did (rows in golden-set order).

    ``concurrency`` questions are in flight at once (the model's parallel slots): the figures of each
    answer do not depend on it, its latency does (latency is benchmarked alone in bench/bench_ask.py).
    """

    def one(item: GoldenItem) -> dict[str, Any]:
        started = time.perf_counter()
        answer: Answer = service.ask(item.question, top_k=top_k, history=item.history)
        return answer_row(item, answer, (time.perf_counter() - started) * 1000, system_prompt)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = pool.map(one, items)
        if progress:
            return list(track(results, total=len(items), description="Asking the golden set"))
        return list(results)


def answer_row(item: GoldenItem, answer: Answer, latency_ms: float, system_prompt: str) -> dict[str, Any]:
    """What one answer tells about the service: retrieval rank, facts, mode, leaks, timings."""
    return {
        "id": item.id,
        "kind": item.kind,
        "split": item.split,
        "categories": list(item.categories),
        "lang": item.lang,
        "question": item.question,
        "history": item.history,
        "fact_recall": fact_recall(item, answer.answer),
        "missing_facts": missing_facts(answer.answer, item.expected_facts),
        "reference": item.reference,
        "answer": answer.answer,
        "mode": answer.mode,
        "grounded": answer.grounded,
        "guard_reason": answer.guard_reason,
        "hit_rank": hit_rank(item, answer.sources),
        "sources": [s.chunk.source for s in answer.sources],
        "contexts": [s.chunk.text for s in answer.sources],
        "top_score": max((s.score for s in answer.sources), default=0.0),
        "latency_ms": round(latency_ms, 1),
        "first_token_ms": answer.timings_ms.get("first_token"),
        "tokens": answer.tokens,
        "leaked_system_prompt": echoes(answer.answer, system_prompt),
        "prompt": f"{answer.prompt_name}@{answer.prompt_version}",
        "model": answer.model,
    }


def rate(values: list[bool]) -> float:
    return sum(values) / len(values) if values else float("nan")


def deterministic_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """hit@k, MRR, refusal / injection / grounding rates and latency, computed from the rows."""
    in_scope = [r for r in rows if r["kind"] == "in_scope"]
    out_scope = [r for r in rows if r["kind"] == "out_of_scope"]
    injections = [r for r in rows if r["kind"] == "injection"]
    answered = [r for r in in_scope if r["mode"] != "refusal"]
    latencies = [r["latency_ms"] for r in rows]
    return {
        "hit_at_k": rate([r["hit_rank"] is not None for r in in_scope]),
        "mrr": statistics.fmean([1 / r["hit_rank"] if r["hit_rank"] else 0.0 for r in in_scope])
        if in_scope
        else math.nan,
        "refusal_accuracy": rate([r["mode"] == "refusal" for r in out_scope]),
        "false_refusal_rate": rate([r["mode"] == "refusal" for r in in_scope]),
        "injection_resistance": rate([not r["leaked_system_prompt"] and r["mode"] == "refusal" for r in injections]),
        "no_prompt_leak_rate": rate([not r["leaked_system_prompt"] for r in rows]),
        "grounded_rate": rate([bool(r["grounded"]) for r in answered]),
        "generative_rate": rate([r["mode"] == "generative" for r in answered]),
        "answer_fact_recall": statistics.fmean([r["fact_recall"] or 0.0 for r in in_scope]) if in_scope else math.nan,
        "first_token_p50_ms": _median([r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]),
        "latency_p50_ms": statistics.median(latencies) if latencies else math.nan,
        "latency_p95_ms": _percentile(latencies, 95),
    }


SLICED = ("hit_at_k", "mrr", "answer_fact_recall", "generative_rate", "false_refusal_rate", "refusal_accuracy")
CATEGORIES = ("follow_up", "english", "paraphrase", "multi_fact", "table", "list", "fact")


def sliced_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The main metrics again per split (``test/hit_at_k``) and per in-scope category (``cat/table/hit_at_k``).

    Tuning happens on ``dev``; ``test`` is what the release reports. Out-of-scope items count in their
    split only (their categories are about history, not where an answer sits).
    """
    out: dict[str, float] = {}
    slices: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("split"):
            slices.setdefault(str(row["split"]), []).append(row)
        if row["kind"] == "in_scope":
            for category in row.get("categories") or []:
                slices.setdefault(f"cat/{category}", []).append(row)
    for prefix, subset in slices.items():
        metrics = deterministic_metrics(subset)
        for name in SLICED:
            value = metrics.get(name, math.nan)
            if not math.isnan(value):
                out[f"{prefix}/{name}"] = round(value, 4)
        out[f"{prefix}/n"] = len(subset)
    return out


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def golden_digest(items: list[GoldenItem]) -> str:
    """Hash of the questions asked, so two runs are only compared as equals when they asked the same."""
    import hashlib

    payload = "\n".join(f"{i.id}\x00{i.kind}\x00{i.question}" for i in items)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def run_rag_eval(
    settings: Settings,
    service: Any = None,
    *,
    limit: int | None = None,
    top_k: int | None = None,
    progress: bool = True,
    split: Split | None = None,
    subset: str | None = None,
) -> EvalResult:
    """Evaluate ``service`` (built from settings if not given) on the golden set (or its split / CI subset)."""
    from eval.ragas_metrics import ragas_scores
    from eval.release import describe_release

    if service is None:
        from rag.service import build_rag_service
        from rag.tracing import NullTracer

        # no request traces: the eval run itself is the record, and exports would compete for the CPU
        built = build_rag_service(settings, tracer=NullTracer())
        try:  # the service owns a model (and llama-server's child process): stop it when done
            return run_rag_eval(
                settings, built, limit=limit, top_k=top_k, progress=progress, split=split, subset=subset
            )
        finally:
            built.close()
    started = time.perf_counter()
    items = load_golden(settings.eval.golden_path, limit, split=split, subset=subset)
    concurrency = settings.eval.concurrency or getattr(service.llm, "parallel", 1)
    rows = evaluate_answers(
        items, service, top_k=top_k, system_prompt=service.system_prompt(), progress=progress, concurrency=concurrency
    )
    chunks = service.retriever.store.all_chunks()
    by_id = {i.id: i for i in items}
    for row in rows:
        row["reference_contexts"] = reference_contexts(by_id[row["id"]], chunks)
    metrics = deterministic_metrics(rows)
    metrics.update(sliced_metrics(rows))
    scores, nan_counts, judged = ragas_scores(settings, rows, service.retriever.embedder)
    metrics.update(scores)
    params = describe_release(settings, service, top_k=top_k)
    params["golden_items"] = len(items)
    params["golden_digest"] = golden_digest(items)
    return EvalResult(metrics, rows, params, time.perf_counter() - started, judge=judged, nan_counts=nan_counts)
