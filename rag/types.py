"""The small public vocabulary of the RAG side: chunks, retrieval results, answers and the ports.

Adapters (embedded or server backends) implement the Protocols; the service only sees these.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

Mode = Literal["generative", "extractive", "refusal"]


@dataclass(frozen=True)
class Chunk:
    """One indexed passage. ``id`` is a content hash, so unchanged text keeps its id."""

    id: str
    text: str
    source: str  # path relative to the ingested root, e.g. "001_d7d9398d42cf6008.txt"
    heading: str  # heading path within the document, e.g. "2. Le cycle de vie MLOps > Les étapes clés"
    chunk_index: int
    title: str = ""  # the document's title: what users see as the source, never the file's hashed name

    @property
    def path(self) -> str:
        """Document title and heading path: what the passage is about (the model reads this, not file names)."""
        return " > ".join(p for p in (self.title, self.heading) if p)

    @property
    def label(self) -> str:
        """The source as users should read it: the path, or the file name when the document has no title."""
        return " > ".join(p for p in (self.title or self.source, self.heading) if p)


@dataclass(frozen=True)
class ScoredChunk:
    chunk: Chunk
    score: float  # fused relevance in [0, 1], comparable to the relevance floor
    dense_score: float | None = None  # cosine similarity, when the dense side found it
    lexical_score: float | None = None  # BM25 score, when the lexical side found it


@dataclass
class Retrieval:
    chunks: list[ScoredChunk]
    best_score: float
    in_scope: bool  # False when nothing clears the relevance floor
    confidence: float | None = None  # how surely the passages answer; default best_score (see rag/followup.py)
    query: str | None = None  # what was searched when not the question alone (a follow-up with its turn)

    @property
    def answer_confidence(self) -> float:
        return self.best_score if self.confidence is None else self.confidence


@dataclass
class Answer:
    request_id: str
    answer: str
    mode: Mode
    grounded: bool
    sources: list[ScoredChunk]
    prompt_name: str
    prompt_version: str
    model: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    tokens: int = 0
    retrieval_score: float | None = None  # best relevance of the retrieval (None: nothing was retrieved)
    guard_reason: str = ""  # why the grounding guard replaced the generation ("" when it kept it)


class Embedder(Protocol):
    name: str  # stable model name, used in the collection name

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class VectorStore(Protocol):
    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def ids_by_source(self) -> dict[str, set[str]]: ...

    def all_chunks(self) -> list[Chunk]: ...

    def query(self, embedding: np.ndarray, k: int) -> list[tuple[Chunk, float]]: ...

    def count(self) -> int: ...


@runtime_checkable
class SupportsUnits(Protocol):
    """A store that also keeps a vector per passage line (``ChromaVectorStore`` does)."""

    def upsert_units(self, units: Sequence[tuple[str, str, str]], embeddings: np.ndarray) -> None: ...

    def query_units(self, embedding: np.ndarray, k: int) -> dict[str, float]: ...

    def unit_similarities(self, embedding: np.ndarray, parents: Sequence[str]) -> dict[str, float]: ...


ChatMessage = tuple[str, str]  # (role, content), role in {"system", "user", "assistant"}


class ChatModel(Protocol):
    """The LLM port. Adapters: llama.cpp in-process, Ollama over HTTP."""

    name: str
    backend: str

    def generate(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> str: ...

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> Iterator[str]: ...


class LlmUnavailableError(RuntimeError):
    """The LLM backend cannot answer (server down, weights missing). Maps to HTTP 503."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"LLM backend '{backend}' is unavailable: {reason}")
        self.backend = backend
        self.reason = reason


class EmptyIndexError(RuntimeError):
    """Nothing is indexed yet. Maps to HTTP 503 with the command that fixes it."""

    def __init__(self) -> None:
        super().__init__("index is empty: run genaiops ingest")


class OverloadedError(RuntimeError):
    """Too many generations waiting: refused at once rather than queued past its deadline.

    Maps to HTTP 429 with ``Retry-After: retry_after_s`` (OpenAI clients back off on it).
    """

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(f"the answering model is busy: {reason}; retry in {retry_after_s} s")
        self.reason = reason
        self.retry_after_s = max(1, int(retry_after_s))
