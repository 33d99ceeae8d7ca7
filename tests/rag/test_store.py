"""Chroma store: real embedded Chroma in tmp dirs, vectors we choose so every similarity is known."""

from __future__ import annotations

import numpy as np
import pytest

import rag.store as store_mod
from genaiops.settings import Settings
from rag.store import ChromaVectorStore, VectorStoreUnavailableError, build_vector_store, collection_name, make_client
from rag.types import Chunk


class Named:
    """Only the name of an embedder matters to the store."""

    def __init__(self, name: str) -> None:
        self.name = name


def _chunks(n: int, source: str = "a.md") -> list[Chunk]:
    return [Chunk(f"{source}-{i}", f"text {i} of {source}", source, f"H > {i}", i) for i in range(n)]


def _unit(rng: np.random.Generator, n: int, d: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_collection_name_carries_the_embedding_model(settings: Settings) -> None:
    a = collection_name(settings, "use-multilingual-v3")
    b = collection_name(settings, "all-MiniLM-L6-v2")
    assert a == "course-use-multilingual-v3" and b == "course-all-minilm-l6-v2"
    assert collection_name(settings, "st-/weird path!" + "x" * 100).isascii()
    assert len(collection_name(settings, "x" * 100)) <= 63


def test_models_never_share_vectors(settings: Settings) -> None:
    rng = np.random.default_rng(0)
    first = build_vector_store(settings, Named("model-a"))
    first.upsert(_chunks(3), _unit(rng, 3, 8))
    second = build_vector_store(settings, Named("model-b"))
    assert first.name != second.name and second.count() == 0
    second.upsert(_chunks(2), _unit(rng, 2, 16))  # another dimension is fine in its own collection
    assert first.count() == 3 and second.count() == 2


def test_roundtrip_query_scores_are_cosines(settings: Settings) -> None:
    rng = np.random.default_rng(1)
    store = build_vector_store(settings, Named("m"))
    chunks, vectors = _chunks(10), _unit(rng, 10)
    store.upsert(chunks, vectors)
    query = vectors[3]
    hits = store.query(query, 4)
    assert hits[0][0] == chunks[3] and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    expected = sorted(((float(vectors[i] @ query), i) for i in range(10)), reverse=True)[:4]
    assert [c.chunk_index for c, _ in hits] == [i for _, i in expected]
    np.testing.assert_allclose([s for _, s in hits], [s for s, _ in expected], atol=1e-4)
    some = store.similarities(query, ["a.md-7", "a.md-2"])
    assert {c.id: round(s, 4) for c, s in some} == {
        "a.md-7": round(float(vectors[7] @ query), 4),
        "a.md-2": round(float(vectors[2] @ query), 4),
    }
    assert store.query(query, 100)[-1][0] in chunks  # k larger than the collection is clipped


def test_upsert_delete_and_listing(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "_PAGE", 3)  # exercise pagination on a small collection
    rng = np.random.default_rng(2)
    store = build_vector_store(settings, Named("m"))
    store.upsert(_chunks(5, "a.md") + _chunks(4, "b.md"), _unit(rng, 9))
    assert {k: len(v) for k, v in store.ids_by_source().items()} == {"a.md": 5, "b.md": 4}
    assert sorted(c.id for c in store.all_chunks()) == sorted(c.id for c in _chunks(5, "a.md") + _chunks(4, "b.md"))
    store.delete(["a.md-0", "b.md-3"])
    assert store.count() == 7 and "a.md-0" not in store.ids_by_source()["a.md"]
    with pytest.raises(ValueError, match="2 chunks but 1 embeddings"):
        store.upsert(_chunks(2), _unit(rng, 1))


def test_embedded_store_persists_and_has_no_telemetry(settings: Settings) -> None:
    rng = np.random.default_rng(3)
    build_vector_store(settings, Named("m")).upsert(_chunks(2), _unit(rng, 2))
    reopened = ChromaVectorStore(make_client(settings), collection_name(settings, "m"), "m")
    assert reopened.count() == 2 and reopened.all_chunks()[0].heading.startswith("H > ")
    assert reopened.client.get_settings().anonymized_telemetry is False
    assert (settings.rag.chroma_dir / "chroma.sqlite3").is_file()


def test_empty_store_queries_return_nothing(settings: Settings) -> None:
    store = build_vector_store(settings, Named("m"))
    assert store.count() == 0 and store.query(np.ones(8, dtype=np.float32), 5) == []
    assert store.ids_by_source() == {} and store.all_chunks() == []


def test_chroma_host_selects_the_server_client(settings: Settings) -> None:
    settings.rag.chroma_host, settings.rag.chroma_port = "127.0.0.1", 9  # discard port: nothing listens
    with pytest.raises(VectorStoreUnavailableError, match=r"127\.0\.0\.1:9 is unreachable"):
        make_client(settings)


def test_a_hung_chroma_server_fails_fast(settings: Settings) -> None:
    """A server that accepts connections and never answers: a clear error within chroma_timeout_s, no hang."""
    import socket
    import time

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        settings.rag.chroma_host, settings.rag.chroma_port = "127.0.0.1", listener.getsockname()[1]
        settings.rag.chroma_timeout_s = 0.5
        started = time.monotonic()
        with pytest.raises(VectorStoreUnavailableError, match=r"unreachable \(ReadTimeout\)"):
            make_client(settings)
        assert time.monotonic() - started < 5
