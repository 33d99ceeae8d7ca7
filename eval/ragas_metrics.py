"""ragas scores for the golden-set rows, with our own embeddings and (optionally) our own judge.

A metric that fails for a sample yields NaN; NaNs are counted as a metric of their own
(``nan_<metric>``) and left out of the mean: a judge that fails is a finding, not a zero.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from langchain_core.embeddings import Embeddings

from eval.compat import import_ragas
from genaiops.settings import Settings

log = logging.getLogger(__name__)

# ragas column name -> our metric name
DETERMINISTIC = {
    "non_llm_context_recall": "context_recall",
    "non_llm_context_precision_with_reference": "context_precision",
    "rouge_score(mode=fmeasure)": "rouge_l",
    "semantic_similarity": "semantic_similarity",
}
JUDGED = {
    "faithfulness": "faithfulness",
    "answer_relevancy": "response_relevancy",
    "llm_context_precision_with_reference": "llm_context_precision",
}


class ProjectEmbeddings(Embeddings):
    """LangChain view of the project's embedder, so ragas scores with the same vectors we retrieve with."""

    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self._embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return list(map(float, self._embedder.embed_query(text)))


def _metrics(judge: bool) -> list[Any]:
    import_ragas()
    from ragas.metrics import (
        NonLLMContextPrecisionWithReference,
        NonLLMContextRecall,
        RougeScore,
        SemanticSimilarity,
    )

    metrics: list[Any] = [
        NonLLMContextRecall(),
        NonLLMContextPrecisionWithReference(),
        RougeScore(),
        SemanticSimilarity(),
    ]
    if judge:
        from ragas.metrics import Faithfulness, LLMContextPrecisionWithReference, ResponseRelevancy

        metrics += [Faithfulness(), ResponseRelevancy(), LLMContextPrecisionWithReference()]
    return metrics


def _judge_llm(settings: Settings) -> Any:
    """The configured judge wrapped for ragas, or None. Never a hosted default."""
    if settings.eval.judge_backend == "none":
        return None
    from langchain_ollama import ChatOllama
    from ragas.llms import LangchainLLMWrapper

    chat = ChatOllama(
        model=settings.eval.judge_model,
        base_url=settings.eval.judge_base_url,
        temperature=0,
        timeout=settings.eval.timeout_s,
    )
    return LangchainLLMWrapper(chat)


def _samples(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "user_input": r["question"],
            "response": r["answer"],
            "retrieved_contexts": r["contexts"] or [""],
            "reference_contexts": r["reference_contexts"] or [""],
            "reference": r["reference"] or "",
        }
        for r in rows
    ]


def ragas_scores(
    settings: Settings, rows: list[dict[str, Any]], embedder: Any
) -> tuple[dict[str, float], dict[str, int], bool]:
    """Mean score per metric over the answered in-scope rows, NaN counts, and whether a judge ran."""
    scored_rows = [r for r in rows if r["kind"] == "in_scope" and r["mode"] != "refusal"]
    if not scored_rows:
        return {}, {}, False
    ragas = import_ragas()
    from ragas.embeddings import LangchainEmbeddingsWrapper
    from ragas.run_config import RunConfig

    llm = _judge_llm(settings)
    dataset = ragas.EvaluationDataset.from_list(_samples(scored_rows))
    result = ragas.evaluate(
        dataset,
        metrics=_metrics(judge=llm is not None),
        llm=llm,
        embeddings=LangchainEmbeddingsWrapper(ProjectEmbeddings(embedder)),
        run_config=RunConfig(timeout=int(settings.eval.timeout_s), max_retries=1, max_workers=2, seed=42),
        raise_exceptions=False,
        show_progress=False,
        allow_nest_asyncio=True,
    )
    frame = result.to_pandas()
    names = {**DETERMINISTIC, **JUDGED}
    scores: dict[str, float] = {}
    nan_counts: dict[str, int] = {}
    for column, name in names.items():
        if column not in frame.columns:
            continue
        values = [float(v) for v in frame[column].tolist()]
        finite = [v for v in values if not math.isnan(v)]
        nan_counts[name] = len(values) - len(finite)
        scores[name] = sum(finite) / len(finite) if finite else math.nan
        for row, value in zip(scored_rows, values, strict=True):
            row[name] = value
    return scores, nan_counts, llm is not None
