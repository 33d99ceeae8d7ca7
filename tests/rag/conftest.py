"""RAG fixtures: the real default embedder, the real course indexed and the real LLM, each once per session."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from genaiops.settings import REPO_ROOT, Settings
from rag.embeddings import build_embedder
from rag.ingest import ingest
from rag.retrieval import HybridRetriever, build_retriever
from rag.types import ChatModel, Embedder
from tests.settings import make_settings

COURSE_DIR = REPO_ROOT / "data" / "course"


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """The default embedder with its real weights; the process-wide cache makes later builds free."""
    return build_embedder(make_settings(tmp_path_factory.mktemp("embedder")))


@pytest.fixture(scope="session")
def course_index(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[tuple[Settings, HybridRetriever]]:
    """(settings, retriever) over the real course in a real embedded Chroma, ingested once per session.

    Shared by every test that needs the course indexed: treat both as read-only (``settings.model_copy``
    to change a field; never ingest into this store).
    """
    settings = make_settings(tmp_path_factory.mktemp("course") / "var")
    report = ingest(settings, COURSE_DIR, embedder=embedder, progress=False)
    assert report.files_indexed == 5 and not report.skipped, report
    retriever = build_retriever(settings, embedder=embedder)
    retriever.refresh()
    yield settings, retriever


class CountingEmbedder:
    """Wraps a real embedder: counts what it embeds and can fail on a chosen call (a crash mid-ingest)."""

    def __init__(self, inner: Embedder, fail_on_call: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.fail_on_call = fail_on_call
        self.calls = 0
        self.texts = 0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.fail_on_call is not None and self.calls >= self.fail_on_call:
            raise RuntimeError(f"simulated crash on embedding call {self.calls}")
        self.texts += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


@pytest.fixture
def counting(embedder: Embedder):  # type: ignore[no-untyped-def]
    """Factory: ``counting(fail_on_call=None)`` wraps the session embedder in a ``CountingEmbedder``."""

    def make(fail_on_call: int | None = None) -> CountingEmbedder:
        return CountingEmbedder(embedder, fail_on_call)

    return make


@pytest.fixture(scope="session")
def gguf_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged GGUF, assembled and SHA-256-verified once into the session's shared model cache."""
    from rag.llm_weights import model_path
    from tests.rag.helpers import answer_settings
    from tests.settings import llm_cache_dir

    return model_path(answer_settings(tmp_path_factory.mktemp("weights") / "var", llm_cache_dir(tmp_path_factory)))


@pytest.fixture(scope="session")
def chat_model(tmp_path_factory: pytest.TempPathFactory, gguf_path: Path) -> Iterator[ChatModel]:
    """The real Qwen GGUF through llama-cpp-python in-process, loaded once per session (short ``max_tokens``).

    The in-process adapter keeps its own tests (RoPE, parity with raw llama.cpp); llama-server's are in
    tests/rag/test_llama_server.py, and the eval gate answers through it.
    """
    from rag.llm import build_chat_model
    from tests.rag.helpers import answer_settings
    from tests.settings import llm_cache_dir

    settings = answer_settings(
        tmp_path_factory.mktemp("llm") / "var", llm_cache_dir(tmp_path_factory), llm={"backend": "llamacpp"}
    )
    model = build_chat_model(settings)
    yield model
    model.close()  # type: ignore[attr-defined]
