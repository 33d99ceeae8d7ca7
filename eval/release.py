"""A RAG release: everything that decides an answer, named by one fingerprint.

Prompt name + version, LLM and its settings, embedding model, retriever settings and a hash of
the indexed corpus (its chunk ids). Logged as an MLflow LoggedModel so an eval score always
points to an exact, reproducible configuration, as a model version does on the classic side.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from genaiops.settings import Settings


def corpus_fingerprint(chunk_ids: list[str]) -> str:
    """Order-free hash of the indexed chunk ids (ids are content hashes, so this hashes the corpus)."""
    digest = hashlib.sha256("\n".join(sorted(chunk_ids)).encode()).hexdigest()
    return digest[:16]


def describe_release(settings: Settings, service: Any, *, top_k: int | None = None) -> dict[str, Any]:
    """Flat params of the release ``service`` serves with these settings."""
    prompt = service.prompt_info()
    chunks = service.retriever.store.all_chunks()
    llm = settings.llm
    release = {
        "prompt_name": prompt["name"],
        "prompt_version": str(prompt["version"]),
        "llm_backend": llm.backend,
        "llm_model": service.llm.name,
        "llm_max_tokens": llm.max_tokens,
        "llm_temperature": llm.temperature,
        "embedding_model": settings.rag.embedding_model,
        "top_k": top_k or settings.rag.top_k,
        "fetch_k": settings.rag.fetch_k,
        "fusion": f"rrf(k={settings.rag.rrf_k})",
        "relevance_floor": settings.rag.relevance_floor,
        "chunk_size": settings.rag.chunk_size,
        "chunk_overlap": settings.rag.chunk_overlap,
        "corpus_chunks": len(chunks),
        "corpus_fingerprint": corpus_fingerprint([c.id for c in chunks]),
    }
    release["release_id"] = release_id(release)
    return release


def release_id(release: dict[str, Any]) -> str:
    """Stable short id of a release: equal configurations share it."""
    payload = json.dumps({k: v for k, v in release.items() if k != "release_id"}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
