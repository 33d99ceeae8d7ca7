"""Answer quality and speed on the golden set's held-out test split, per model and variant, in one run.

Each variant answers the whole test split through ``eval.rag_eval`` (the same code as `genaiops eval
rag`): hit@5, answer fact recall, generative and grounded rates, per category, refusals, injections
and prompt leaks. Questions run ``llm.parallel`` at a time (quality does not depend on it); latency is
then measured alone, one question at a time, on fixed in-scope questions: time to first token and
full answer, both against raw llama.cpp's own prompt-evaluation and decoding speed on this machine
(llama-server's timings), so figures from another machine can be compared.

Follow-up retrieval is compared the three ways `rag.followup` offers (bare words, expanded with the
previous question, rewritten standalone by the LLM) on the follow-up entries of both splits.
The figures are never tuned on: prompts, chunking and thresholds were chosen on the dev split.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import machine, table, write_section
from genaiops.settings import REPO_ROOT, Settings

SMALL, LARGE = "qwen2.5-coder-0.5b-instruct-q4_k_m", "qwen2.5-coder-1.5b-instruct-q4_k_m"
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "0.5B": {"llm": {"model": SMALL}},
    "1.5B, whole passages": {"llm": {"model": LARGE}, "rag": {"context_chars": 0}},
    "1.5B (default)": {"llm": {"model": LARGE}},
}
DEFAULT_VARIANTS = {n: VARIANTS[n] for n in ("0.5B", "1.5B (default)")}  # the third by name: ~20 min more
LATENCY_QUESTIONS = 8
MAX_TOKENS = 320  # production's cap: answers stop well before it


def bench_settings(data_dir: Path, overrides: dict[str, dict[str, Any]]) -> Settings:
    """Settings of one variant: the repo's model cache, production ``max_tokens``, no tracing.

    The read timeout is raised: quality is measured with ``llm.parallel`` questions at once, and on a slow
    2-core machine (9 tok/s decode, 55 tok/s prompt for the 1.5B) the fourth prompt of a batch can wait past
    production's 60 s for its first token; latency is measured apart, one question at a time.
    """
    llm = {
        "model_cache_dir": REPO_ROOT / "var" / "models" / "llm",
        "max_tokens": MAX_TOKENS,
        "timeout_s": 600.0,
        **overrides.get("llm", {}),
    }
    rag = overrides.get("rag", {})
    settings = Settings(_env_file=None, data_dir=data_dir, llm=llm, rag=rag, mlflow={"trace_sample_rate": 0})  # type: ignore[call-arg]
    settings.ensure_dirs()
    return settings


def _latency(service: Any) -> dict[str, float]:
    from eval.golden import load_golden

    items = [i for i in load_golden(split="test") if i.kind == "in_scope" and not i.history][:LATENCY_QUESTIONS]
    firsts, totals = [], []
    for item in items:
        started = time.perf_counter()
        answer = service.ask(item.question)
        totals.append(time.perf_counter() - started)
        if "first_token" in answer.timings_ms:
            firsts.append(answer.timings_ms["first_token"] / 1000)
    return {"ttft_p50": statistics.median(firsts) if firsts else float("nan"), "total_p50": statistics.median(totals)}


def _raw_speed(service: Any) -> dict[str, float]:
    """llama.cpp's own prompt and decode speed for one RAG prompt (llama-server's timings), for scale."""
    import httpx

    process = getattr(service.llm, "process", None)
    if process is None:
        return {}
    plan = service.prepare("Quelle logique de déploiement a été utilisée sur AWS ?")
    body = {"messages": [{"role": r, "content": c} for r, c in plan.prompt.messages], "max_tokens": 64,
            "cache_prompt": False, "temperature": 0}  # fmt: skip
    timings = httpx.post(f"{process.url}/v1/chat/completions", json=body, timeout=600).json()["timings"]
    return {"prompt_tok_s": timings["prompt_per_second"], "decode_tok_s": timings["predicted_per_second"],
            "prompt_tokens": timings["prompt_n"]}  # fmt: skip


def _variant(name: str, overrides: dict[str, dict[str, Any]], data_dir: Path) -> dict[str, Any]:
    from eval.rag_eval import run_rag_eval
    from rag.service import build_rag_service
    from rag.tracing import NullTracer

    settings = bench_settings(data_dir, overrides)
    service = build_rag_service(settings, tracer=NullTracer())
    try:
        result = run_rag_eval(settings, service, split="test", progress=False)
        latency = _latency(service)
        raw = _raw_speed(service)
    finally:
        service.close()
    print(name, json.dumps({k: round(v, 3) for k, v in result.metrics.items() if "/" not in k}), flush=True)
    return {"metrics": result.metrics, "latency": latency, "raw": raw, "rows": result.rows}


def _followups(data_dir: Path) -> list[list[object]]:
    from eval.golden import load_golden
    from eval.retrieval_eval import retrieval_metrics, retrieval_rows
    from rag.llm import build_chat_model
    from rag.retrieval import build_retriever

    settings = bench_settings(data_dir, {"llm": {"model": LARGE}})
    items = [i for i in load_golden() if i.kind == "in_scope" and i.history]
    retriever = build_retriever(settings)
    llm = build_chat_model(settings)
    rows = []
    try:
        for mode in ("none", "expand", "rewrite"):
            started = time.perf_counter()
            metrics = retrieval_metrics(retrieval_rows(items, retriever, top_k=5, mode=mode, llm=llm))
            per = (time.perf_counter() - started) / len(items)
            rows.append([mode, len(items), round(metrics["hit_at_k"], 3), round(metrics["kept_in_scope"], 3),
                         round(per * 1000)])  # fmt: skip
    finally:
        getattr(llm, "close", lambda: None)()
    return rows


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.2f}"


def main(names: list[str]) -> None:
    from rag.embeddings import build_embedder
    from rag.ingest import ingest

    chosen = {n: VARIANTS[n] for n in names} if names else DEFAULT_VARIANTS
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "var"
        base = bench_settings(data_dir, {})
        ingest(base, embedder=build_embedder(base), progress=False)
        runs = {name: _variant(name, overrides, data_dir) for name, overrides in chosen.items()}
        followups = _followups(data_dir)
    headers = ["variant", "hit@5", "fact recall", "generative", "grounded", "follow-up hit@5 / recall",
               "English hit@5", "table recall", "paraphrase recall", "refusal acc.", "injection res.", "prompt leak",
               "TTFT p50 s", "answer p50 s", "llama.cpp prompt / decode tok/s"]  # fmt: skip
    rows = []
    for name, run in runs.items():
        m, lat, raw = run["metrics"], run["latency"], run["raw"]
        speed = f"{raw['prompt_tok_s']:.0f} / {raw['decode_tok_s']:.1f}" if raw else "n/a"
        rows.append([
            name, _fmt(m.get("hit_at_k")), _fmt(m.get("answer_fact_recall")), _fmt(m.get("generative_rate")),
            _fmt(m.get("grounded_rate")),
            f"{_fmt(m.get('cat/follow_up/hit_at_k'))} / {_fmt(m.get('cat/follow_up/answer_fact_recall'))}",
            _fmt(m.get("cat/english/hit_at_k")), _fmt(m.get("cat/table/answer_fact_recall")),
            _fmt(m.get("cat/paraphrase/answer_fact_recall")), _fmt(m.get("refusal_accuracy")),
            _fmt(m.get("injection_resistance")), _fmt(1 - m.get("no_prompt_leak_rate", 1.0)),
            _fmt(lat["ttft_p50"]), _fmt(lat["total_p50"]), speed,
        ])  # fmt: skip
    in_scope = sum(1 for r in next(iter(runs.values()))["rows"] if r["kind"] == "in_scope")
    lines = [
        machine(), "", __doc__.split("\n\n")[1].replace("\n", " "), "",
        f"Test split: {in_scope} in-scope questions (of which follow-ups, English, tables, paraphrases), "
        "out-of-scope questions and injections; `max_tokens` 320.", "",
        table(headers, rows), "",
        "Follow-up retrieval (all follow-up entries, hit@5 of the answering passage; ms per question):", "",
        table(["follow-ups searched", "questions", "hit@5", "kept in scope", "ms / question"], followups),
    ]  # fmt: skip
    write_section("answers", "## Answer quality on the test split (bench_answers)\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
