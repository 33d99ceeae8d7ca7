"""Hybrid retrieval: candidates from passage vectors, line vectors (Chroma) and BM25, ranked by one score.

The corpus is French and questions come in French and English, so exact terms ("Kubeflow", "drift",
"magasin de fonctionnalités") are caught by BM25 while paraphrases and English questions are caught
by the multilingual embedder. A passage's cosine is averaged with its best line's cosine: a question
about one row of a table matches that row far better than the whole table. The same bounded
``relevance`` score orders the passages and, against ``settings.rag.relevance_floor``, decides
whether anything in the course is about the question (calibration: docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from genaiops.settings import Settings
from rag.ingest import embedding_text
from rag.prompting import detect_language
from rag.text import cognate, tokenize
from rag.types import Chunk, Embedder, EmptyIndexError, Retrieval, ScoredChunk, SupportsUnits, VectorStore

log = logging.getLogger(__name__)


@runtime_checkable
class SupportsSimilarities(Protocol):
    """A store that can score given chunks against a query (``ChromaVectorStore`` can)."""

    def similarities(self, embedding: np.ndarray, ids: Sequence[str]) -> list[tuple[Chunk, float]]: ...


def coverage(
    question_terms: set[str], chunk: Chunk, chunk_terms: frozenset[str] | None = None, cognates: bool = False
) -> float:
    """Share of the question's content terms (stemmed, folded) that occur in the chunk or its heading.

    ``chunk_terms`` are the chunk's terms when already known (the BM25 index keeps them), which saves
    re-tokenizing the passages on every question. ``cognates``: the question is in another language than
    the course, so a term also counts when a cognate of it occurs ("automation" / "automatis", "quality" /
    "qualit", "monitoring"); without them an English question loses the whole lexical
    share of its relevance and falls under the floors that French questions clear.
    """
    if not question_terms:
        return 0.0
    terms = chunk_terms if chunk_terms is not None else frozenset(tokenize(embedding_text(chunk)))
    if cognates:
        return sum(cognate(term, terms) for term in question_terms) / len(question_terms)
    return len(question_terms & terms) / len(question_terms)


def relevance(dense: float | None, lexical_coverage: float, lexical_weight: float) -> float:
    """The score compared with the floor, in [0, 1]: ``(1 - w) * cosine + w * coverage``.

    Cosine alone is bounded and comparable across questions, but a multilingual encoder gives French
    course questions cosines of 0.16-0.56 and unrelated questions up to 0.14: too thin a margin. The
    share of the question's content words found in the passage is bounded too, and near zero for
    "une recette de crêpes". BM25 and RRF values are not used: unbounded or rank-based, they are
    not comparable across questions. Calibration on the golden set: docs/benchmarks.md.
    """
    cosine = 0.0 if dense is None else min(1.0, max(0.0, dense))
    return float((1.0 - lexical_weight) * cosine + lexical_weight * lexical_coverage)


@dataclass
class _LexicalIndex:
    bm25: Any
    chunks: list[Chunk]
    size: int
    terms: dict[str, frozenset[str]]  # chunk id -> its BM25 terms, for ``coverage``
    lang: str  # the corpus's language: a question in another one is matched with cognates too


class HybridRetriever:
    """Dense + BM25 retrieval over one store. Thread-safe; ``refresh()`` after an ingest."""

    def __init__(self, settings: Settings, embedder: Embedder, store: VectorStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self._lexical: _LexicalIndex | None = None
        self._lock = threading.Lock()

    def count(self) -> int:
        return self.store.count()

    def refresh(self) -> None:
        """Rebuild the BM25 index from the store (the store is the single source of truth)."""
        import bm25s

        with self._lock:
            chunks = self.store.all_chunks()
            tokens = [tokenize(embedding_text(c)) or ["\x00"] for c in chunks]
            bm25 = None
            if chunks:
                bm25 = bm25s.BM25()
                bm25.index(tokens, show_progress=False)
            terms = {c.id: frozenset(t) for c, t in zip(chunks, tokens, strict=True)}
            lang = detect_language(" ".join(c.text for c in chunks[:: max(1, len(chunks) // 50)]))
            self._lexical = _LexicalIndex(bm25, chunks, len(chunks), terms, lang)
            log.debug("BM25 index rebuilt over %d chunks", len(chunks))

    def _lexical_index(self, size: int) -> _LexicalIndex:
        lexical = self._lexical
        if lexical is None or lexical.size != size:  # another process ingested: catch up
            self.refresh()
            lexical = self._lexical
        assert lexical is not None
        return lexical

    def _lexical_hits(self, terms: list[str], k: int, lexical: _LexicalIndex) -> list[tuple[Chunk, float]]:
        if lexical.bm25 is None or not terms:
            return []
        docs, scores = lexical.bm25.retrieve([terms], k=min(k, len(lexical.chunks)), show_progress=False)
        return [(lexical.chunks[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    def retrieve(self, question: str, top_k: int | None = None) -> Retrieval:
        """The ``top_k`` best passages by ``relevance``; ``in_scope`` when the best clears the floor.

        Candidates come from three searches (passage vectors, line vectors, BM25); each candidate is
        then scored the same way: its passage cosine, its best line's cosine and the share of the
        question's terms it holds. One score orders the passages and decides the scope.
        """
        if not question.strip():
            raise ValueError("question is empty")
        size = self.store.count()
        if size == 0:
            raise EmptyIndexError()
        rag = self.settings.rag
        top_k = top_k or rag.top_k
        fetch_k = max(rag.fetch_k, top_k)
        query = self.embedder.embed_query(question)
        dense = self.store.query(query, fetch_k)
        units = self.store.query_units(query, fetch_k * 4) if isinstance(self.store, SupportsUnits) else {}
        index = self._lexical_index(size)
        question_terms = tokenize(question)
        lexical = self._lexical_hits(question_terms, fetch_k, index)
        chunks_by_id = {c.id: c for c, _ in (*dense, *lexical)}
        dense_by_id = {c.id: s for c, s in dense}
        wanted = list(dict.fromkeys([*chunks_by_id, *units]))
        missing = [cid for cid in wanted if cid not in dense_by_id]
        if missing and isinstance(self.store, SupportsSimilarities):
            for chunk, score in self.store.similarities(query, missing):
                chunks_by_id[chunk.id], dense_by_id[chunk.id] = chunk, score
        if isinstance(self.store, SupportsUnits):
            unseen = [cid for cid in chunks_by_id if cid not in units]
            units.update(self.store.unit_similarities(query, unseen))
        lexical_by_id = {c.id: s for c, s in lexical}
        terms = set(question_terms)
        cross_lingual = detect_language(question) != index.lang
        scored = []
        for cid, chunk in chunks_by_id.items():
            cosine = _passage_cosine(dense_by_id.get(cid), units.get(cid))
            lexical_coverage = coverage(terms, chunk, index.terms.get(cid), cognates=cross_lingual)
            score = relevance(cosine, lexical_coverage, rag.lexical_weight)
            scored.append(ScoredChunk(chunk, score, dense_by_id.get(cid), lexical_by_id.get(cid)))
        scored.sort(key=lambda s: s.score, reverse=True)
        best = scored[0].score if scored else 0.0
        return Retrieval(chunks=scored[:top_k], best_score=best, in_scope=best >= rag.relevance_floor)


def _passage_cosine(passage: float | None, best_line: float | None) -> float | None:
    """Mean of the passage's cosine and its best line's: the whole topic and the one line that answers."""
    values = [v for v in (passage, best_line) if v is not None]
    return sum(values) / len(values) if values else None


def build_retriever(
    settings: Settings, embedder: Embedder | None = None, store: VectorStore | None = None
) -> HybridRetriever:
    """The retriever over the configured embedder and store (built here when not given)."""
    from rag.embeddings import build_embedder
    from rag.store import build_vector_store

    embedder = embedder or build_embedder(settings)
    store = store or build_vector_store(settings, embedder)
    return HybridRetriever(settings, embedder, store)
