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
        "prompt_source": service.prompt.source,
        "prompt_digest": prompt_digest(service.prompt),
        "llm_backend": llm.backend,
        "llm_model": service.llm.name,
        "llm_max_tokens": llm.max_tokens,
        "llm_temperature": llm.temperature,
        "embedding_model": settings.rag.embedding_model,
        "top_k": top_k or settings.rag.top_k,
        "fetch_k": settings.rag.fetch_k,
        "fusion": f"relevance(cosine={1 - settings.rag.lexical_weight:g}, coverage={settings.rag.lexical_weight:g})",
        "relevance_floor": settings.rag.relevance_floor,
        "chunk_size": settings.rag.chunk_size,
        "chunk_min_section": settings.rag.chunk_min_section,
        "corpus_chunks": len(chunks),
        "corpus_fingerprint": corpus_fingerprint([c.id for c in chunks]),
    }
    release["release_id"] = release_id(release)
    return release


def prompt_digest(prompt: Any) -> str:
    """Hash of the prompt's text: a file edited without bumping ``version`` still gets a new release."""
    parts = prompt.template
    return hashlib.sha256(f"{parts.system}\x00{parts.user}".encode()).hexdigest()[:16]


def release_id(release: dict[str, Any]) -> str:
    """Stable short id of a release: equal configurations share it."""
    payload = json.dumps({k: v for k, v in release.items() if k != "release_id"}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


class ReleaseError(RuntimeError):
    """A release that cannot be promoted as evaluated; the message says what to do."""


def release_prompt_version(settings: Settings, params: dict[str, str]) -> tuple[str, int]:
    """The registry version holding exactly the prompt text an eval run scored (registered if need be).

    A run that used the file is promoted through the registry version with the same text; if the
    file changed since the run, promoting would ship words nobody evaluated, so it is refused.
    """
    from genaiops.tracking import mlflow_store
    from prompts import load_prompt_file
    from prompts.registry import latest_version, load_version, push, to_chat

    name, digest = params.get("prompt_name", ""), params.get("prompt_digest")
    if not name or not digest:
        raise ReleaseError("this eval run predates prompt digests: re-run `genaiops eval rag`")
    if params.get("prompt_source") == "registry":
        version = int(params["prompt_version"])
        registered = load_version(settings, name, version)
        if prompt_digest(registered) != digest:
            raise ReleaseError(f"registry version {name}@{version} does not hold the text this run scored")
        return name, version
    file_prompt = load_prompt_file(name)
    if prompt_digest(file_prompt) != digest:
        raise ReleaseError(f"prompts/templates/{name}.yaml changed since this eval run: re-run `genaiops eval rag`")
    push(settings)  # idempotent: registers the file only if its text is new
    current = latest_version(mlflow_store(settings), name)
    if current is None or current.template != to_chat(file_prompt):
        raise ReleaseError(f"no registry version of {name} holds the evaluated file text")
    return name, int(current.version)


def live_comparison(settings: Settings, name: str, version: int | str) -> dict[str, Any] | None:
    """How ``name@version`` did against the production prompt on live traffic (``rag.canary.compare``);
    None when it already is production (nothing to compare it with)."""
    from rag.ask_log import read_asks
    from rag.canary import compare, live_versions

    production, _ = live_versions(settings)
    if str(version) == str(production):
        return None
    asks = read_asks(settings, limit=settings.prompts.canary_window)
    return compare(asks, production, str(version), settings, name)
