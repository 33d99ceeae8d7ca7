"""Retrieval alone on the golden set: hit@k, MRR and the scope decision, in seconds and without the LLM.

The answering eval (``eval.rag_eval``) pays for a generation per question; chunking, retrieval and
the relevance floor are tuned far more often than that, so this runs the same retrieval code the
service runs (``rag.followup.retrieve_in_conversation``: follow-ups searched with their history)
and reports the same retrieval metrics, per split and per category.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from eval.golden import GoldenItem, fold
from rag.chunking import clean_inline
from rag.followup import retrieve_in_conversation
from rag.types import ChatMessage, ScoredChunk


def key_phrase_in(item: GoldenItem, text: str) -> bool:
    """The item's key phrase occurs in ``text`` (markdown marks and accents aside)."""
    return item.key_phrase is not None and fold(clean_inline(item.key_phrase)) in fold(clean_inline(text))


def hit_rank(item: GoldenItem, sources: Sequence[ScoredChunk]) -> int | None:
    """1-based rank of the first source from the right file that contains the key phrase."""
    if not item.source or not item.key_phrase:
        return None
    for rank, scored in enumerate(sources, start=1):
        if scored.chunk.source.endswith(item.source) and key_phrase_in(item, scored.chunk.text):
            return rank
    return None


def turns_of(item: GoldenItem) -> list[ChatMessage]:
    return [(turn["role"], turn["content"]) for turn in item.history]


def retrieval_rows(
    items: Sequence[GoldenItem], retriever: Any, top_k: int | None = None, mode: str = "expand", llm: Any = None
) -> list[dict[str, Any]]:
    """One row per golden item: where the answering passage ranked and whether the question was kept in scope.

    ``mode``: how follow-ups are searched (rag.followup.search_query); ``rewrite`` needs ``llm``.
    """
    rows = []
    for item in items:
        retrieval = retrieve_in_conversation(retriever, item.question, turns_of(item), top_k, mode, llm)
        rows.append(
            {
                "id": item.id,
                "kind": item.kind,
                "split": item.split,
                "categories": list(item.categories),
                "in_scope_decision": retrieval.in_scope,
                "best_score": round(retrieval.best_score, 4),
                "hit_rank": hit_rank(item, retrieval.chunks) if item.kind == "in_scope" else None,
            }
        )
    return rows


def retrieval_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """hit@k, MRR, false refusals (in scope) and refusal accuracy (out of scope) of some rows."""
    in_scope = [r for r in rows if r["kind"] == "in_scope"]
    out = [r for r in rows if r["kind"] == "out_of_scope"]
    metrics: dict[str, float] = {}
    if in_scope:
        metrics["hit_at_k"] = statistics.fmean(r["hit_rank"] is not None for r in in_scope)
        metrics["mrr"] = statistics.fmean(1 / r["hit_rank"] if r["hit_rank"] else 0.0 for r in in_scope)
        metrics["kept_in_scope"] = statistics.fmean(r["in_scope_decision"] for r in in_scope)
    if out:
        metrics["refusal_accuracy"] = statistics.fmean(not r["in_scope_decision"] for r in out)
    return metrics
