"""Which in-process llama.cpp runtime: llama-cpp-python (the project's) against xllamacpp, same GGUF, same prompts.

Each runtime runs in its own child process (both bundle a libllama; one process must not load two),
with the same threads, context, batch and greedy sampling, prompt cache off. For each RAG-shaped prompt
(the answering template, three course passages, a golden question) a runtime answers twice: with
``max_tokens=1`` (about the prompt evaluation) and with ``max_tokens=MAX_TOKENS``; decode tokens/s =
(completion tokens - 1) / (difference of the two wall times). xllamacpp is optional (``make bench``
installs the ``bench`` extra); without it the table has the llama-cpp-python row only.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import machine, table, write_section
from genaiops.settings import REPO_ROOT, Settings

GOLDEN = REPO_ROOT / "eval" / "datasets" / "golden.jsonl"
PROMPTS = 6
MAX_TOKENS = 96
RUNTIMES = ("llama-cpp-python", "xllamacpp")


def build_prompts() -> list[list[dict[str, str]]]:
    """Chat messages shaped like the service's: the real template, real passages, real questions."""
    from prompts import load_prompt
    from rag.ingest import load_text, split_document
    from rag.prompting import build_messages, detect_language
    from rag.types import ScoredChunk

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    template = load_prompt(settings.rag.prompt_name)
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    prompts = []
    for row in [r for r in rows if r["kind"] == "in_scope"][:PROMPTS]:
        text = load_text(REPO_ROOT / "data" / "course" / row["source"])
        chunks = split_document(text, row["source"], settings.rag.chunk_size, settings.rag.chunk_min_section)[:3]
        scored = [ScoredChunk(c, 0.5) for c in chunks]
        built = build_messages(template, row["question"], scored, detect_language(row["question"]), [], 6000)
        prompts.append([{"role": role, "content": content} for role, content in built.messages])
    return prompts


class _LlamaCppPython:
    def __init__(self, path: str, threads: int, n_ctx: int) -> None:
        from llama_cpp import Llama

        self.llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_batch=512, seed=42, verbose=False)

    def answer(self, messages: list[dict[str, str]], max_tokens: int) -> int:
        self.llm.reset()  # no prompt cache: every call evaluates its whole prompt
        out = self.llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)  # type: ignore[arg-type]
        return int(out["usage"]["completion_tokens"])  # type: ignore[index]


class _XLlamaCpp:
    def __init__(self, path: str, threads: int, n_ctx: int) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_ctx = n_ctx
        params.n_batch = 512
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        self.server = xllamacpp.Server(params)

    def answer(self, messages: list[dict[str, str]], max_tokens: int) -> int:
        body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0.0, "cache_prompt": False}
        out = self.server.handle_chat_completions(body)
        if isinstance(out, dict) and out.get("error"):
            raise RuntimeError(out["error"])
        return int(out["usage"]["completion_tokens"])


def worker(runtime: str, model_path: str, prompts_file: str) -> dict[str, Any]:
    """Runs in the child process: load, warm up, then time every prompt at 1 and MAX_TOKENS tokens."""
    prompts = json.loads(Path(prompts_file).read_text(encoding="utf-8"))
    threads, n_ctx = os.cpu_count() or 1, 4096
    started = time.perf_counter()
    engine = (_LlamaCppPython if runtime == "llama-cpp-python" else _XLlamaCpp)(model_path, threads, n_ctx)
    load_s = time.perf_counter() - started
    engine.answer(prompts[0], 8)  # warm-up
    runs = []
    for messages in prompts:
        t0 = time.perf_counter()
        engine.answer(messages, 1)
        t1 = time.perf_counter()
        tokens = engine.answer(messages, MAX_TOKENS)
        t2 = time.perf_counter()
        decode_s = (t2 - t1) - (t1 - t0)
        runs.append({"prompt_s": t1 - t0, "answer_s": t2 - t1, "tokens": tokens, "tok_s": (tokens - 1) / decode_s})
    return {"runtime": runtime, "load_s": load_s, "runs": runs}


def _run_child(runtime: str, model_path: Path, prompts_file: Path) -> dict[str, Any] | str:
    code = "import json,sys; from bench.bench_llm_runtime import worker; print(json.dumps(worker(*sys.argv[1:])))"
    proc = subprocess.run(
        [sys.executable, "-c", code, runtime, str(model_path), str(prompts_file)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"not measured: {last}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    import tempfile

    from rag.llm_weights import model_path

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "var")  # type: ignore[call-arg]
        settings.ensure_dirs()
        path = model_path(settings)
        prompts_file = Path(tmp) / "prompts.json"
        prompts_file.write_text(json.dumps(build_prompts()), encoding="utf-8")
        results = {name: _run_child(name, path, prompts_file) for name in RUNTIMES}
    rows, notes = [], []
    for name, result in results.items():
        if isinstance(result, str):
            notes.append(f"- {name}: {result}")
            continue
        runs = result["runs"]
        rows.append(
            [name, result["load_s"], round(statistics.median(r["prompt_s"] for r in runs) * 1000),
             statistics.median(r["answer_s"] for r in runs), statistics.median(r["tok_s"] for r in runs),
             statistics.mean(r["tokens"] for r in runs)]
        )  # fmt: skip
        print(name, rows[-1], flush=True)
    write_section(
        "llm_runtime",
        "\n\n".join(
            [
                "## In-process llama.cpp runtimes (bench_llm_runtime)",
                machine(),
                f"Qwen2.5-Coder-0.5B-Instruct Q4_K_M, {PROMPTS} RAG-shaped prompts (template + 3 course passages + "
                f"a golden question), greedy, `max_tokens={MAX_TOKENS}`, prompt cache off, each runtime in its own "
                "process with the same threads / n_ctx / n_batch. Medians.",
                table(["runtime", "load (s)", "prompt eval (ms)", "answer (s)", "decode tokens/s", "tokens"], rows),
                "\n".join(notes),
            ]
        ),
    )


if __name__ == "__main__":
    main()
