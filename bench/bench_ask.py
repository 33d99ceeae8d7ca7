"""``/ask`` time to first token and tokens/s against raw llama.cpp on the same prompts, same run.

Three paths answer the same golden questions with the same GGUF, settings and ``max_tokens``:
- raw: ``llama_cpp.Llama.create_chat_completion(stream=True)`` on the exact messages the service builds,
  in a child process (the baseline: what llama.cpp alone does with that prompt);
- service: ``RagService.stream`` in-process (retrieval + prompt + LangChain ``ChatLlamaCpp`` + guard);
- HTTP: ``POST /ask/stream`` on ``genaiops serve`` in a child process, read as server-sent events.
Each path owns its own model instance in its own process, so each sees the same sequence of prompts and
reuses llama.cpp's prompt cache the same way (the shared system-prompt prefix). Rounds alternate the order.
tokens/s = generated pieces / (last piece - first piece), i.e. decoding speed; TTFT is measured from the
call (HTTP: from sending the request), so it includes retrieval and prompt evaluation for the service.
Target: service tokens/s >= 0.9x raw llama.cpp.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.report import machine, table, write_section
from genaiops.settings import REPO_ROOT, Settings

GOLDEN = REPO_ROOT / "eval" / "datasets" / "golden.jsonl"
QUESTIONS = 6
ROUNDS = 4
MAX_TOKENS = 96


def _questions() -> list[str]:
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows if r["kind"] == "in_scope" and r["lang"] == "fr"][:QUESTIONS]


def _timed(pieces: Iterator[str], started: float) -> dict[str, float]:
    stamps = [time.perf_counter() for piece in pieces if piece]
    if not stamps:
        return {"ttft_s": float("nan"), "tokens": 0, "tok_s": float("nan")}
    decode = stamps[-1] - stamps[0]
    rate = (len(stamps) - 1) / decode if decode > 0 else float("nan")
    return {"ttft_s": stamps[0] - started, "tokens": len(stamps), "tok_s": rate}


def raw_worker(model_path: str, prompts_file: str, n_ctx: str, threads: str, temperature: str, seed: str) -> None:
    """Child process: raw llama.cpp answers every prompt of the file, one JSON line of timings each.

    A process of its own: a second llama.cpp context in the bench process, driven from another thread
    than the service's, slowed the service's decoding by a third (OpenMP thread teams spinning).
    """
    from llama_cpp import Llama

    raw = Llama(model_path=model_path, n_ctx=int(n_ctx), n_threads=int(threads), n_batch=512, seed=int(seed),
                verbose=False)  # fmt: skip
    for messages in json.loads(Path(prompts_file).read_text(encoding="utf-8")):
        started = time.perf_counter()
        stream = raw.create_chat_completion(
            messages=messages, stream=True, max_tokens=MAX_TOKENS, temperature=float(temperature),
            repeat_penalty=1.1, seed=int(seed),
        )  # fmt: skip
        print(json.dumps(_timed((c["choices"][0]["delta"].get("content", "") for c in stream), started)), flush=True)  # type: ignore[index,union-attr]


def _raw_round(settings: Settings, model_path: Path, prompts_file: Path) -> list[dict[str, float]]:
    llm = settings.llm
    args = [str(model_path), str(prompts_file), str(llm.n_ctx), str(llm.n_threads or os.cpu_count() or 1),
            str(llm.temperature), str(llm.seed)]  # fmt: skip
    code = "import sys; from bench.bench_ask import raw_worker; raw_worker(*sys.argv[1:])"
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _service_pieces(service: Any, question: str) -> Iterator[str]:
    for event in service.stream(question):
        if event["event"] == "token":
            yield event["data"]["text"]


def _sse_pieces(url: str, question: str) -> Iterator[str]:
    with httpx.stream("POST", f"{url}/ask/stream", json={"question": question}, timeout=300) as response:
        response.raise_for_status()
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "token":
                yield json.loads(line.removeprefix("data: "))["text"]


def _serve(settings: Settings, port: int, log_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENAIOPS_")}
    env |= {
        "GENAIOPS_DATA_DIR": str(settings.data_dir),
        "GENAIOPS_LLM__MAX_TOKENS": str(MAX_TOKENS),
        "GENAIOPS_LLM__MODEL_CACHE_DIR": str(settings.llm.model_cache_dir),
        "MLFLOW_TRACKING_URI": str(settings.mlflow.tracking_uri),
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


def _wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"genaiops serve exited with {process.returncode}")
        try:  # the RAG side is enough here: no classic model is trained for this bench
            if httpx.get(f"{url}/ready", timeout=2).json()["checks"]["rag"] == "ready":
                return
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise RuntimeError("genaiops serve was not ready in time")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(tmp: Path) -> dict[str, list[dict[str, float]]]:
    from rag.ingest import ingest
    from rag.llm_weights import model_path
    from rag.service import build_rag_service

    settings = Settings(_env_file=None, data_dir=tmp / "var", llm={"max_tokens": MAX_TOKENS})  # type: ignore[call-arg]
    settings.ensure_dirs()
    ingest(settings, progress=False)
    service = build_rag_service(settings)
    questions = _questions()
    prompts = []
    for question in questions:
        prompt = service._prepare(question, None, None).prompt  # the exact messages the service sends
        assert prompt is not None, f"{question!r} was refused: pick in-scope questions"
        prompts.append([{"role": r, "content": c} for r, c in prompt.messages])
    prompts_file = tmp / "prompts.json"
    prompts_file.write_text(json.dumps(prompts), encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(settings, port, tmp / "serve.log")
    results: dict[str, list[dict[str, float]]] = {"raw llama.cpp": [], "RagService.stream": [], "/ask/stream": []}
    paths: list[tuple[str, Callable[[], list[dict[str, float]]]]] = [
        ("raw llama.cpp", lambda: _raw_round(settings, model_path(settings), prompts_file)),
        ("RagService.stream", lambda: [_timed(_service_pieces(service, q), time.perf_counter()) for q in questions]),
        ("/ask/stream", lambda: [_timed(_sse_pieces(url, q), time.perf_counter()) for q in questions]),
    ]
    try:
        _wait_ready(url, server)
        for round_index in range(ROUNDS):
            for name, run in paths if round_index % 2 == 0 else paths[::-1]:
                results[name].extend(run())
                print(
                    f"round {round_index} {name:18} {[round(r['tok_s'], 1) for r in results[name][-len(questions) :]]}"
                )
    finally:
        server.terminate()
        server.wait(timeout=60)
        service.close()  # flushes its traces while the tmp MLflow store still exists
    return results


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows if r[key] == r[key])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(Path(tmp))
    raw_rate = _median(results["raw llama.cpp"], "tok_s")
    rows = [
        [name, len(runs), round(_median(runs, "ttft_s") * 1000), _median(runs, "tok_s"),
         f"**{_median(runs, 'tok_s') / raw_rate:.2f}x**", statistics.mean(r["tokens"] for r in runs)]
        for name, runs in results.items()
    ]  # fmt: skip
    service_ratio = _median(results["RagService.stream"], "tok_s") / raw_rate
    http_ratio = _median(results["/ask/stream"], "tok_s") / raw_rate
    write_section(
        "ask",
        "\n\n".join(
            [
                "## /ask: time to first token and tokens/s against raw llama.cpp (bench_ask)",
                machine(),
                f"Qwen2.5-Coder-0.5B-Instruct Q4_K_M, llama-cpp-python, `max_tokens={MAX_TOKENS}`, "
                f"{QUESTIONS} French golden questions x {ROUNDS} rounds in alternating order; each path has its own "
                "model instance and process (raw: a child process; service: the bench process; HTTP: `genaiops serve`) "
                "and sees the same prompts (the service's own messages, passages included). TTFT of the service "
                "paths includes retrieval; tokens/s is the decoding rate (first to last piece). Medians.",
                table(["path", "answers", "TTFT p50 (ms)", "tokens/s p50", "vs raw", "pieces (mean)"], rows),
                f"**Service tokens/s: {service_ratio:.2f}x raw llama.cpp in-process, {http_ratio:.2f}x over HTTP "
                "(SSE)** (target >= 0.9x). The service may stop a generation early when it starts looping "
                "(`rag/answer.runaway`), hence fewer pieces.",
            ]
        ),
    )


if __name__ == "__main__":
    main()
