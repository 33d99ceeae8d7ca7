"""Ingestion throughput vs the raw encoder on the same chunks, in the same run.

The corpus is the course copied into several sub-folders (distinct sources, so distinct chunk ids).
"ours" is a full ``ingest()`` into an empty Chroma: walk, read, chunk, hash, embed, upsert. The
baseline encodes the very same chunk texts with the model's own ``encode`` (sentence-transformers'
``SentenceTransformer.encode`` for MiniLM, ``USE.encode`` for USE), nothing else. Runs alternate and
the median of each is kept, so background load hits both sides alike. Target: ours >= 0.85x raw.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import machine, table, write_section
from genaiops.settings import REPO_ROOT, Settings
from rag.embeddings import MINILM, USE_MULTILINGUAL, SentenceTransformerEmbedder, UseEmbedder, build_embedder
from rag.ingest import discover, embedding_text, ingest, load_text, split_document

COPIES = 8
REPEATS = 3


def _corpus(root: Path) -> Path:
    for copy in range(COPIES):
        shutil.copytree(REPO_ROOT / "data" / "course", root / f"copy{copy}", ignore=shutil.ignore_patterns("README*"))
    return root


def _texts(settings: Settings, root: Path) -> list[str]:
    files, _ = discover(root, settings.rag.ingest_exclude)
    rag = settings.rag
    texts = []
    for source, path in files:
        chunks = split_document(load_text(path), source, rag.chunk_size, rag.chunk_min_section)
        texts += [embedding_text(c) for c in chunks]
    return texts


def _raw_encode(embedder: object, texts: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    if isinstance(embedder, SentenceTransformerEmbedder):
        embedder.model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    elif isinstance(embedder, UseEmbedder):
        for i in range(0, len(texts), batch_size):
            embedder.model.encode(texts[i : i + batch_size])
    else:  # pragma: no cover
        raise TypeError(type(embedder))
    return time.perf_counter() - started


def measure(model: str, tmp: Path) -> dict:
    root = _corpus(tmp / "corpus")
    base = Settings(_env_file=None, env="test", data_dir=tmp / "var")  # type: ignore[call-arg]
    base.rag.embedding_model = model
    embedder = build_embedder(base)
    texts = _texts(base, root)
    embedder.embed_documents(texts[:8])  # warm-up: weights in cache, threads started
    raw, ours, noop = [], [], []
    for run in range(REPEATS):
        raw.append(_raw_encode(embedder, texts, base.rag.embedding_batch_size))
        settings = base.model_copy(deep=True)
        settings.rag.chroma_dir = tmp / f"chroma-{run}"
        report = ingest(settings, root, embedder=embedder, progress=False)
        assert report.chunks_added == len(texts), (report.chunks_added, len(texts))
        ours.append(report.seconds)
        noop.append(ingest(settings, root, embedder=embedder, progress=False).seconds)
    raw_s, ours_s = statistics.median(raw), statistics.median(ours)
    return {
        "model": model,
        "files": COPIES * 5,
        "chunks": len(texts),
        "raw_cps": len(texts) / raw_s,
        "ours_cps": len(texts) / ours_s,
        "ratio": raw_s / ours_s,
        "noop_s": statistics.median(noop),
    }


def main() -> None:
    results = []
    for model in (MINILM, USE_MULTILINGUAL):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(measure(model, Path(tmp)))
        r = results[-1]
        print(f"{model}: ingest {r['ours_cps']:.1f} chunks/s vs raw encode {r['raw_cps']:.1f} -> {r['ratio']:.2f}x")
    rows = [
        [r["model"], r["files"], r["chunks"], r["raw_cps"], r["ours_cps"], f"**{r['ratio']:.2f}x**", r["noop_s"]]
        for r in results
    ]
    write_section(
        "ingest",
        "\n\n".join(
            [
                "## Ingestion throughput (bench_ingest)",
                machine(),
                f"The course copied {COPIES} times; median of {REPEATS} alternating runs. Raw = the model's own "
                "`encode` on the same chunk texts; ingest = walk + read + chunk + hash + embed + Chroma upsert "
                "into an empty store. Target: ingest >= 0.85x raw.",
                table(
                    [
                        "embedder",
                        "files",
                        "chunks",
                        "raw encode chunks/s",
                        "ingest chunks/s",
                        "ratio",
                        "re-ingest unchanged (s)",
                    ],
                    rows,
                ),  # fmt: skip
            ]
        ),
    )


if __name__ == "__main__":
    main()
