"""Hybrid retrieval: dense (Chroma) + lexical (BM25) candidates fused by reciprocal rank fusion.

The corpus is French and the embedder may be English-centric, so exact terms ("Kubeflow", "drift",
"magasin de fonctionnalités") are caught by BM25 while paraphrases are caught by the embedder.
RRF only orders the candidates; it says nothing about whether *anything* is relevant. That decision
uses ``ScoredChunk.score`` (see ``relevance``) against ``settings.rag.relevance_floor``.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

from genaiops.settings import Settings
from rag.ingest import embedding_text
from rag.types import Chunk, Embedder, EmptyIndexError, Retrieval, ScoredChunk, VectorStore

log = logging.getLogger(__name__)

# Words of a request rather than of its topic ("donne-moi", "explique"): never evidence of relevance.
_REQUEST_WORDS = {
    "quel", "quelle", "quels", "quelles", "comment", "pourquoi", "quoi", "donne", "donner", "dis", "explique",
    "expliquer", "décris", "cite", "peux", "peut", "fait", "faire", "what", "which", "how", "why", "does", "give",
    "tell", "explain", "describe",
}  # fmt: skip
_WORD = re.compile(r"\w+", re.UNICODE)


def _strip_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# Latin-1 and Latin Extended-A folded by one C-level translate: tokenising 100k chunks stays fast.
_FOLD = str.maketrans({chr(c): _strip_marks(chr(c)) for c in range(0xC0, 0x180)} | {"œ": "oe", "æ": "ae"})


def fold(text: str) -> str:
    """Lower-case, accents removed, ligatures split: 'Œuvre Été' -> 'oeuvre ete'."""
    text = text.lower().translate(_FOLD)
    return text if text.isascii() else _strip_marks(text)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS, STOPWORDS_FRENCH

    return frozenset(fold(w) for w in (*STOPWORDS_FRENCH, *STOPWORDS_EN_PLUS, *_REQUEST_WORDS))


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: compiled Snowball algorithms, nothing downloaded

    return Stemmer.Stemmer("french")


def tokenize(text: str) -> list[str]:
    """BM25 terms: words, accent-folded, minus French/English stopwords, Snowball-stemmed.

    Folding comes before stemming so that a question typed without accents ('donnees') gets the
    same stem as the text ('données'); stemming the accented form would give 'don' vs 'donne'.
    """
    stop = _stopwords()
    words = [w for w in _WORD.findall(fold(text)) if len(w) > 1 and w not in stop]
    return list(_stemmer().stemWords(words))


@runtime_checkable
class SupportsSimilarities(Protocol):
    """A store that can score given chunks against a query (``ChromaVectorStore`` can)."""

    def similarities(self, embedding: np.ndarray, ids: Sequence[str]) -> list[tuple[Chunk, float]]: ...


def coverage(question_terms: set[str], chunk: Chunk, chunk_terms: frozenset[str] | None = None) -> float:
    """Share of the question's content terms (stemmed, folded) that occur in the chunk or its heading.

    ``chunk_terms`` are the chunk's terms when already known (the BM25 index keeps them), which saves
    re-tokenizing the passages on every question.
    """
    if not question_terms:
        return 0.0
    terms = chunk_terms if chunk_terms is not None else frozenset(tokenize(embedding_text(chunk)))
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
            self._lexical = _LexicalIndex(bm25, chunks, len(chunks), terms)
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
        """The ``top_k`` best chunks by RRF, each scored by ``relevance``; ``in_scope`` if the best clears the floor."""
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
        index = self._lexical_index(size)
        question_terms = tokenize(question)
        lexical = self._lexical_hits(question_terms, fetch_k, index)
        fused = _rrf([dense, lexical], rag.rrf_k)[:top_k]
        dense_by_id = {c.id: s for c, s in dense}
        missing = [cid for cid, _ in fused if cid not in dense_by_id]
        if missing and isinstance(self.store, SupportsSimilarities):
            dense_by_id.update({c.id: s for c, s in self.store.similarities(query, missing)})
        chunks_by_id = {c.id: c for c, _ in (*dense, *lexical)}
        lexical_by_id = {c.id: s for c, s in lexical}
        terms = set(question_terms)
        scored = [
            ScoredChunk(
                chunk=chunks_by_id[cid],
                score=relevance(
                    dense_by_id.get(cid), coverage(terms, chunks_by_id[cid], index.terms.get(cid)), rag.lexical_weight
                ),
                dense_score=dense_by_id.get(cid),
                lexical_score=lexical_by_id.get(cid),
            )
            for cid, _ in fused
        ]
        best = max((s.score for s in scored), default=0.0)
        return Retrieval(chunks=scored, best_score=best, in_scope=best >= rag.relevance_floor)


def _rrf(rankings: Sequence[Sequence[tuple[Chunk, float]]], k: int) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the rankings a chunk appears in."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, (chunk, _) in enumerate(ranking, start=1):
            scores[chunk.id] = scores.get(chunk.id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: item[1], reverse=True)


def build_retriever(
    settings: Settings, embedder: Embedder | None = None, store: VectorStore | None = None
) -> HybridRetriever:
    """The retriever over the configured embedder and store (built here when not given)."""
    from rag.embeddings import build_embedder
    from rag.store import build_vector_store

    embedder = embedder or build_embedder(settings)
    store = store or build_vector_store(settings, embedder)
    return HybridRetriever(settings, embedder, store)
