"""Retrieval alone on the golden set, per split and per category: is the answering passage among the top 5?

The answering eval (bench_answers) counts a passage as found only when the answer cites it, so a
question the model then declines ("not covered") loses its hit there. This runs the service's own
retrieval (``rag.followup.retrieve_in_conversation``, follow-ups expanded with the previous question
and the opening of its answer) without the LLM, on the same index, to tell retrieval misses from
answering misses. Also: how many in-scope questions retrieval alone keeps in scope (the rest are
refused without the LLM), and how many out-of-scope questions it refuses by itself (the others go to
the LLM, which declines them).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.report import machine, table, write_section
from genaiops.settings import Settings

CATEGORIES = ("fact", "table", "list", "english", "paraphrase", "multi_fact", "follow_up")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    from eval.golden import load_golden
    from eval.retrieval_eval import retrieval_metrics, retrieval_rows
    from rag.embeddings import build_embedder
    from rag.ingest import ingest
    from rag.retrieval import build_retriever

    items = load_golden()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "var")  # type: ignore[call-arg]
        settings.ensure_dirs()
        ingest(settings, embedder=build_embedder(settings), progress=False)
        retriever = build_retriever(settings)
        started = time.perf_counter()
        rows = retrieval_rows(items, retriever, top_k=settings.rag.top_k, mode="expand")
        per_question_ms = (time.perf_counter() - started) / len(items) * 1000
    lines = [machine(), "", __doc__.split("\n\n")[1].replace("\n", " "), ""]
    headers = ["slice", "in-scope questions", "hit@5", "MRR", "kept in scope", "out-of-scope refused by retrieval"]
    body = []
    for split in ("dev", "test"):
        for category in (None, *CATEGORIES):
            chosen = [r for r in rows if r["split"] == split and (category is None or category in r["categories"])]
            if not chosen:
                continue
            m = retrieval_metrics(chosen)
            n = sum(1 for r in chosen if r["kind"] == "in_scope")
            name = split if category is None else f"{split} / {category}"
            body.append([name, n, _fmt(m.get("hit_at_k")), _fmt(m.get("mrr")), _fmt(m.get("kept_in_scope")),
                         _fmt(m.get("refusal_accuracy")) if category is None else ""])  # fmt: skip
    lines += [table(headers, body), "", f"{per_question_ms:.0f} ms per question (embedding, search, scope decision)."]
    write_section(
        "retrieval_quality", "## Retrieval alone on the golden set (bench_retrieval_quality)\n\n" + "\n".join(lines)
    )


if __name__ == "__main__":
    main()
