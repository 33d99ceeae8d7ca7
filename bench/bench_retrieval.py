"""Retrieval latency at 1k, 10k and 100k chunks, against its own parts measured in the same run.

Synthetic chunks: texts of 80-150 words drawn from the course vocabulary (so BM25 has realistic
postings) and random unit vectors of the embedder's dimension (embedding 100k real chunks would take
hours on 2 cores; HNSW and BM25 cost depend on the sizes, not on the meaning). Questions are the golden
ones, embedded for real on every call. Reported: full ``retrieve()`` p50/p99, and as baselines the
query embedding alone and a bare Chroma query alone. Target: p50 <= 20 ms at 10k chunks.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import machine, percentiles, table, write_section
from genaiops.settings import REPO_ROOT, Settings
from rag.embeddings import build_embedder
from rag.retrieval import HybridRetriever
from rag.store import build_vector_store
from rag.types import Chunk

SIZES = (1_000, 10_000, 100_000)
QUERIES = 200
GOLDEN = REPO_ROOT / "eval" / "datasets" / "golden.jsonl"


def _vocabulary() -> list[str]:
    words: set[str] = set()
    for path in (REPO_ROOT / "data" / "course").glob("0*.txt"):
        words.update(w.strip(".,:;!?()*`|#>-[]{}\"'") for w in path.read_text(encoding="utf-8").split())
    return sorted(w for w in words if len(w) > 2)


def _fill(store, size: int, dim: int, rng: np.random.Generator) -> float:  # type: ignore[no-untyped-def]
    vocab = np.array(_vocabulary())
    started = time.perf_counter()
    for start in range(0, size, 5000):
        n = min(5000, size - start)
        vectors = rng.normal(size=(n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = [
            Chunk(f"syn-{start + i}", " ".join(rng.choice(vocab, rng.integers(80, 150))), f"syn/{(start + i) // 20}.md",
                  "Synthetic", (start + i) % 20)
            for i in range(n)
        ]  # fmt: skip
        store.upsert(chunks, vectors)
    return time.perf_counter() - started


def measure(size: int, questions: list[str], tmp: Path) -> dict:
    settings = Settings(_env_file=None, env="test", data_dir=tmp / f"var-{size}")  # type: ignore[call-arg]
    embedder = build_embedder(settings)
    store = build_vector_store(settings, embedder)
    dim = int(embedder.embed_query("dimension").shape[0])
    fill_s = _fill(store, size, dim, np.random.default_rng(size))
    retriever = HybridRetriever(settings, embedder, store)
    started = time.perf_counter()
    retriever.refresh()
    refresh_s = time.perf_counter() - started
    asked = [questions[i % len(questions)] for i in range(QUERIES)]
    for question in asked[:10]:  # warm-up: caches, HNSW pages, BLAS threads
        retriever.retrieve(question)
    full, embed, dense = [], [], []
    for question in asked:
        t0 = time.perf_counter()
        retriever.retrieve(question)
        t1 = time.perf_counter()
        query = embedder.embed_query(question)
        t2 = time.perf_counter()
        store.query(query, settings.rag.fetch_k)
        t3 = time.perf_counter()
        full.append(t1 - t0)
        embed.append(t2 - t1)
        dense.append(t3 - t2)
    return {
        "size": size,
        "full": percentiles(full),
        "embed": percentiles(embed),
        "dense": percentiles(dense),
        "fill_s": fill_s,
        "refresh_s": refresh_s,
        "embedder": embedder.name,
    }


def main() -> None:
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r["question"] for r in rows]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            r = measure(size, questions, Path(tmp))
            results.append(r)
            print(
                f"{size:>7} chunks: retrieve p50 {r['full'][0]:.1f} ms p99 {r['full'][1]:.1f} ms "
                f"(embed p50 {r['embed'][0]:.1f}, chroma p50 {r['dense'][0]:.1f}); "
                f"fill {r['fill_s']:.0f} s, BM25 build {r['refresh_s']:.1f} s",
                flush=True,
            )
    body = table(
        ["chunks", "retrieve p50 (ms)", "retrieve p99 (ms)", "query embedding p50 (ms)", "Chroma query p50 (ms)",
         "BM25 build (s)", "store fill (s)"],
        [[f"{r['size']:,}", r["full"][0], r["full"][1], r["embed"][0], r["dense"][0], r["refresh_s"], r["fill_s"]]
         for r in results],
    )  # fmt: skip
    write_section(
        "retrieval",
        "\n\n".join(
            [
                "## Retrieval latency (bench_retrieval)",
                machine(),
                f"Hybrid `retrieve()` (query embedding with `{results[0]['embedder']}` + Chroma HNSW + BM25 + RRF + "
                f"relevance scoring), {QUERIES} golden questions per size after 10 warm-up calls. Synthetic chunks: "
                "course-vocabulary texts with random unit vectors. Baselines in the same run: the query embedding "
                "alone and a bare Chroma query alone. Target: p50 <= 20 ms at 10k chunks.",
                body,
            ]
        ),
    )


if __name__ == "__main__":
    main()
