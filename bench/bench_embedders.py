"""all-MiniLM-L6-v2 vs multilingual USE v3 on the golden set: retrieval quality, scope separation, speed.

For each embedder the real course is ingested into a fresh Chroma; then, on the golden questions:
hit@1 / hit@5 / MRR with dense retrieval only and with the hybrid retriever, the relevance scores of
in-scope vs out-of-scope questions (the floor that separates them), and encoding speed.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import machine, table, write_section
from genaiops.settings import REPO_ROOT, Settings
from rag.embeddings import MINILM, USE_MULTILINGUAL, build_embedder
from rag.ingest import embedding_text, ingest
from rag.retrieval import HybridRetriever
from rag.store import build_vector_store
from rag.text import fold

GOLDEN = REPO_ROOT / "eval" / "datasets" / "golden.jsonl"


def _norm(text: str) -> str:
    return " ".join(fold(text).replace("’", "'").split())


def _rank(row: dict, hits: list[tuple[str, str]]) -> int | None:
    """1-based rank of the first chunk from the right source containing the key phrase."""
    for rank, (source, text) in enumerate(hits, start=1):
        if source == row["source"] and _norm(row["key_phrase"]) in _norm(text):
            return rank
    return None


def _quality(ranks: list[int | None]) -> tuple[float, float, float]:
    n = len(ranks)
    return (
        sum(r == 1 for r in ranks) / n,
        sum(r is not None for r in ranks) / n,
        sum(1 / r for r in ranks if r) / n,
    )


def _speed(retriever: HybridRetriever, questions: list[str]) -> tuple[float, float, int]:
    """(course chunks embedded per second over three passes, query embedding p50 ms, number of chunks)."""
    texts = [embedding_text(c) for c in retriever.store.all_chunks()]
    retriever.embedder.embed_documents(texts[:4])
    started = time.perf_counter()
    for _ in range(3):
        retriever.embedder.embed_documents(texts)
    docs_per_s = 3 * len(texts) / (time.perf_counter() - started)
    query_ms = []
    for question in questions:
        t = time.perf_counter()
        retriever.embedder.embed_query(question)
        query_ms.append((time.perf_counter() - t) * 1000)
    return docs_per_s, statistics.median(query_ms), len(texts)


def evaluate(model: str, rows: list[dict], data_dir: Path) -> dict:
    settings = Settings(_env_file=None, env="test", data_dir=data_dir)  # type: ignore[call-arg]
    settings.rag.embedding_model = model
    started = time.perf_counter()
    embedder = build_embedder(settings)
    load_s = time.perf_counter() - started
    ingest(settings, embedder=embedder, progress=False)
    retriever = HybridRetriever(settings, embedder, build_vector_store(settings, embedder))
    retriever.refresh()
    in_scope = [r for r in rows if r["kind"] == "in_scope"]
    dense, hybrid, best_in = [], [], []
    for row in in_scope:
        query = embedder.embed_query(row["question"])
        dense.append(_rank(row, [(c.source, c.text) for c, _ in retriever.store.query(query, 5)]))
        result = retriever.retrieve(row["question"], top_k=5)
        hybrid.append(_rank(row, [(s.chunk.source, s.chunk.text) for s in result.chunks]))
        best_in.append(retriever.retrieve(row["question"]).best_score)
    best_out = [retriever.retrieve(r["question"]).best_score for r in rows if r["kind"] == "out_of_scope"]
    docs_per_s, query_ms, n_chunks = _speed(retriever, [r["question"] for r in rows])
    floor = settings.rag.relevance_floor
    return {
        "model": model,
        "dense": _quality(dense),
        "hybrid": _quality(hybrid),
        "min_in": min(best_in),
        "max_out": max(best_out),
        "floor": (min(best_in) + max(best_out)) / 2 if min(best_in) > max(best_out) else None,
        "in_rate_default": sum(b >= floor for b in best_in) / len(best_in),
        "out_refused_default": sum(b < floor for b in best_out) / len(best_out),
        "load_s": load_s,
        "docs_per_s": docs_per_s,
        "query_ms": query_ms,
        "chunks": n_chunks,
        "default_floor": floor,
    }


def _markdown(results: list[dict], rows: list[dict], winner: dict) -> str:
    n_in = sum(r["kind"] == "in_scope" for r in rows)
    n_out = sum(r["kind"] == "out_of_scope" for r in rows)
    quality = table(
        ["embedder", "dense hit@1", "dense hit@5", "dense MRR", "hybrid hit@1", "hybrid hit@5", "hybrid MRR"],
        [[r["model"], *r["dense"], *r["hybrid"]] for r in results],
    )
    scope = table(
        ["embedder", "lowest in-scope score", "highest out-of-scope score", "separating floor",
         f"in-scope kept at {results[0]['default_floor']}", f"out-of-scope refused at {results[0]['default_floor']}"],
        [[r["model"], r["min_in"], r["max_out"], "none" if r["floor"] is None else round(r["floor"], 2),
          r["in_rate_default"], r["out_refused_default"]] for r in results],
    )  # fmt: skip
    speed = table(
        ["embedder", "load (s)", "course chunks/s", "query p50 (ms)"],
        [[r["model"], r["load_s"], r["docs_per_s"], r["query_ms"]] for r in results],
    )
    return "\n\n".join(
        [
            "## Embedders on the golden set (bench_embedders)",
            machine(),
            f"Golden set: {n_in} in-scope questions (French and English), {n_out} out-of-scope; "
            f"course: {results[0]['chunks']} chunks. A hit is a chunk from the right file containing the key phrase.",
            quality,
            "Relevance score = 0.7 x cosine + 0.3 x share of the question's terms in the passage "
            "(`rag.lexical_weight`); a question is in scope when its best score reaches `rag.relevance_floor`.",
            scope,
            speed,
            f"**Default: `{winner['model']}`** (best hybrid hit@5, then MRR, and a floor that separates "
            f"in-scope from out-of-scope questions).",
        ]
    )


def main() -> None:
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        results = [evaluate(model, rows, Path(tmp) / model) for model in (MINILM, USE_MULTILINGUAL)]
    winner = max(results, key=lambda r: (r["floor"] is not None, r["hybrid"][1], r["hybrid"][2]))
    for r in results:
        print(
            f"{r['model']}: dense hit@5={r['dense'][1]:.2f} hybrid hit@1={r['hybrid'][0]:.2f} "
            f"hit@5={r['hybrid'][1]:.2f} MRR={r['hybrid'][2]:.3f} in>={r['min_in']:.3f} out<={r['max_out']:.3f} "
            f"{r['docs_per_s']:.0f} chunks/s query {r['query_ms']:.1f} ms"
        )
    print(f"winner: {winner['model']}")
    write_section("embedders", _markdown(results, rows, winner))


if __name__ == "__main__":
    main()
