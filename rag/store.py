"""Chroma behind the ``VectorStore`` port: embedded ``PersistentClient`` by default, ``HttpClient`` for a server.

We always pass our own embeddings (the collection has no embedding function), so Chroma never tries
to download its default ONNX model. One collection per embedding model (prefix + model slug): vectors
of different models never meet, and switching models back and forth keeps both indexes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from genaiops.settings import Settings
from rag.embeddings import slug
from rag.types import Chunk, Embedder

_PAGE = 5000  # rows per get() page: bounded memory on large collections


def collection_name(settings: Settings, embedder_name: str) -> str:
    """``<prefix>-<model slug>``, trimmed to Chroma's 3-63 character rule."""
    name = f"{slug(settings.rag.collection_prefix)}-{slug(embedder_name)}"
    return name[:63].strip("-").ljust(3, "x")


class VectorStoreUnavailableError(RuntimeError):
    """The Chroma server cannot be reached; the message names host and port."""


def _unreachable(server: str, why: str = "") -> VectorStoreUnavailableError:
    detail = f" ({why})" if why else ""
    return VectorStoreUnavailableError(
        f"vector store: Chroma server {server} is unreachable{detail}: start it or unset rag.chroma_host"
    )


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False)


def _heartbeat(server: str, timeout_s: float) -> None:
    """Fail fast on a server that is down or hung: chromadb's own first call would wait forever."""
    import httpx

    try:
        httpx.get(f"http://{server}/api/v2/heartbeat", timeout=timeout_s).raise_for_status()
    except httpx.HTTPError as exc:
        raise _unreachable(server, type(exc).__name__) from exc


def _bound_requests(client: Any, timeout_s: float) -> None:
    """chromadb's HttpClient builds its httpx session with ``timeout=None``; give every call a limit."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(timeout_s)


def make_client(settings: Settings) -> Any:
    """A Chroma server client when ``rag.chroma_host`` is set, else the embedded store in ``rag.chroma_dir``."""
    import chromadb

    rag = settings.rag
    if rag.chroma_host:
        server = f"{rag.chroma_host}:{rag.chroma_port}"
        _heartbeat(server, rag.chroma_timeout_s)
        try:
            client = chromadb.HttpClient(host=rag.chroma_host, port=rag.chroma_port, settings=_chroma_settings())
        except ValueError as exc:  # chromadb's way of saying "connection refused"
            raise _unreachable(server) from exc
        _bound_requests(client, rag.chroma_timeout_s)
        return client
    assert rag.chroma_dir is not None  # derived from data_dir by Settings
    rag.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(rag.chroma_dir), settings=_chroma_settings())


def _to_chunk(chunk_id: str, text: str | None, meta: Any) -> Chunk:
    meta = meta or {}
    return Chunk(
        id=chunk_id,
        text=text or "",
        source=str(meta.get("source", "")),
        heading=str(meta.get("heading", "")),
        chunk_index=int(meta.get("chunk_index", 0)),
        title=str(meta.get("title", "")),
    )


class ChromaVectorStore:
    """One Chroma collection in cosine space; similarities returned are ``1 - cosine distance``.

    ``server`` ("host:port") is set for a Chroma server: losing it after start-up then raises
    ``VectorStoreUnavailableError`` naming it (the API's 503) instead of chromadb's bare httpx error.
    """

    def __init__(self, client: Any, name: str, embedder_name: str, server: str | None = None) -> None:
        self.client = client
        self.name = name
        self.server = server
        with self._reachable():
            self.collection = client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedder": embedder_name},
            )
            # Every line of every passage (item, row, sentence) has its own vector here, so a question
            # matching one line of a long passage finds it (rag/retrieval.py scores both).
            self.units = client.get_or_create_collection(
                f"{name}-units",
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedder": embedder_name, "parent_collection": name},
            )
            self._batch = max(1, min(int(client.get_max_batch_size()), _PAGE))

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """Connection refused, reset or timed out on a Chroma server -> ``VectorStoreUnavailableError``."""
        import httpx

        try:
            yield
        except httpx.TransportError as exc:
            if self.server is None:
                raise
            raise _unreachable(self.server, type(exc).__name__) from exc

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        for start in range(0, len(chunks), self._batch):
            part = chunks[start : start + self._batch]
            with self._reachable():
                self.collection.upsert(
                    ids=[c.id for c in part],
                    embeddings=np.asarray(embeddings[start : start + self._batch], dtype=np.float32),
                    documents=[c.text for c in part],
                    metadatas=[
                        {"source": c.source, "heading": c.heading, "chunk_index": c.chunk_index, "title": c.title}
                        for c in part
                    ],
                )

    def upsert_units(self, units: Sequence[tuple[str, str, str]], embeddings: np.ndarray) -> None:
        """Store (unit id, parent chunk id, source) entries; written before their parents (see rag/ingest.py)."""
        if len(units) != len(embeddings):
            raise ValueError(f"{len(units)} units but {len(embeddings)} embeddings")
        for start in range(0, len(units), self._batch):
            part = units[start : start + self._batch]
            with self._reachable():
                self.units.upsert(
                    ids=[u[0] for u in part],
                    embeddings=np.asarray(embeddings[start : start + self._batch], dtype=np.float32),
                    metadatas=[{"parent": u[1], "source": u[2]} for u in part],
                )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks and their units."""
        ids = list(ids)
        for start in range(0, len(ids), self._batch):
            part = ids[start : start + self._batch]
            with self._reachable():
                self.collection.delete(ids=part)
                self.units.delete(where={"parent": {"$in": part}})

    def _pages(self, include: list[str]) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            with self._reachable():
                page = self.collection.get(include=include, limit=_PAGE, offset=offset)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])

    def ids_by_source(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for page in self._pages(["metadatas"]):
            for chunk_id, meta in zip(page["ids"], page["metadatas"], strict=True):
                out.setdefault(str((meta or {}).get("source", "")), set()).add(chunk_id)
        return out

    def all_chunks(self) -> list[Chunk]:
        chunks = []
        for page in self._pages(["documents", "metadatas"]):
            for chunk_id, text, meta in zip(page["ids"], page["documents"], page["metadatas"], strict=True):
                chunks.append(_to_chunk(chunk_id, text, meta))
        return chunks

    def query(self, embedding: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        if k <= 0:
            return []
        vector = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        # Chroma clips n_results to the collection size itself: no count() round trip per question.
        with self._reachable():
            res = self.collection.query(
                query_embeddings=vector, n_results=k, include=["documents", "metadatas", "distances"]
            )
        rows = zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True)
        return [(_to_chunk(cid, text, meta), 1.0 - float(dist)) for cid, text, meta, dist in rows]

    def similarities(self, embedding: np.ndarray, ids: Sequence[str]) -> list[tuple[Chunk, float]]:
        """Cosine similarity of the query to these chunks (scores BM25-only hits on the dense scale).

        A lookup by id plus a dot product: stored vectors are unit-length, and a filtered ANN query
        would cost more than the whole dense search.
        """
        if not ids:
            return []
        with self._reachable():
            res = self.collection.get(ids=list(ids), include=["embeddings", "documents", "metadatas"])
        if not res["ids"]:
            return []
        vectors = np.asarray(res["embeddings"], dtype=np.float32)
        query = np.asarray(embedding, dtype=np.float32).reshape(-1)
        scores = vectors @ query / np.maximum(np.linalg.norm(vectors, axis=1) * np.linalg.norm(query), 1e-12)
        rows = zip(res["ids"], res["documents"], res["metadatas"], scores, strict=True)
        return [(_to_chunk(cid, text, meta), float(score)) for cid, text, meta, score in rows]

    def query_units(self, embedding: np.ndarray, k: int) -> dict[str, float]:
        """The best cosine of any unit of each passage among the ``k`` nearest units: parent id -> score."""
        if k <= 0:
            return {}
        vector = np.asarray(embedding, dtype=np.float32).reshape(1, -1)
        with self._reachable():
            res = self.units.query(query_embeddings=vector, n_results=k, include=["metadatas", "distances"])
        best: dict[str, float] = {}
        for meta, dist in zip(res["metadatas"][0], res["distances"][0], strict=True):
            parent = str((meta or {}).get("parent", ""))
            best[parent] = max(best.get(parent, -1.0), 1.0 - float(dist))
        return best

    def unit_similarities(self, embedding: np.ndarray, parents: Sequence[str]) -> dict[str, float]:
        """The best cosine of any unit of each of these passages (for candidates the unit search missed)."""
        if not parents:
            return {}
        with self._reachable():
            res = self.units.get(where={"parent": {"$in": list(parents)}}, include=["embeddings", "metadatas"])
        if not res["ids"]:
            return {}
        vectors = np.asarray(res["embeddings"], dtype=np.float32)
        query = np.asarray(embedding, dtype=np.float32).reshape(-1)
        scores = vectors @ query / np.maximum(np.linalg.norm(vectors, axis=1) * np.linalg.norm(query), 1e-12)
        best: dict[str, float] = {}
        for meta, score in zip(res["metadatas"], scores, strict=True):
            parent = str((meta or {}).get("parent", ""))
            best[parent] = max(best.get(parent, -1.0), float(score))
        return best

    def count(self) -> int:
        with self._reachable():
            return int(self.collection.count())


def build_vector_store(settings: Settings, embedder: Embedder) -> ChromaVectorStore:
    """The collection of ``embedder`` on the configured Chroma (embedded or server)."""
    rag = settings.rag
    server = f"{rag.chroma_host}:{rag.chroma_port}" if rag.chroma_host else None
    return ChromaVectorStore(make_client(settings), collection_name(settings, embedder.name), embedder.name, server)
