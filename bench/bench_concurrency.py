"""Many users at once on the real model: `genaiops serve` with each LLM path, measured in one run.

Paths (same GGUF, same settings, same questions, ``max_tokens`` fixed; the 0.5B model, so that the
32-client levels finish in minutes on 2 cores: admission, fairness and parallel decoding do not depend on
the model's size, only the absolute figures do):
- llama-server: llama.cpp's server as a child process, ``llm.parallel`` slots decoded in one batch;
- llamacpp: llama-cpp-python in-process, one generation at a time (the previous default).
Each path serves the API in a process of its own (a prepared data dir: the course indexed, the
penguins model trained). For 1, 2, 4, 8 and 32 concurrent streaming clients, each asking golden
questions back to back: aggregate tokens/s, time to first token (p50 / p95) and how many were
refused with 429. During the 32-client level, ``/health`` and ``/predict`` are timed against the
same calls on the idle server. Then a 32-client burst where half the clients give up after 3 s,
the first question after it, and a SIGTERM with generations in flight (exit time, ask log flushed).
Targets (issue #12): 4 clients >= 1.8x the tokens/s of 1; TTFT p95 at 4 <= 3x the 1-client p50;
/health and /predict p99 during the burst <= 2x idle and <= 100 ms; no client waits past its
deadline without an answer or a quick 429; exit <= 10 s after SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.report import machine, table, write_section
from genaiops.settings import REPO_ROOT, Settings

LEVELS = (1, 2, 4, 8, 32)
QUESTIONS_PER_CLIENT = 2
MAX_TOKENS = 64
MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"
WARM_UP = 8  # questions that warm the slots up; the levels 1 to 8 ask the next 30, each once
PATHS = {"llama-server": {"GENAIOPS_LLM__BACKEND": "llama-server"}, "llamacpp": {"GENAIOPS_LLM__BACKEND": "llamacpp"}}
RECORD = {"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 15.0, "flipper_length_mm": 217.0,
          "body_mass_g": 5200.0, "sex": "male"}  # fmt: skip


def _questions() -> list[str]:
    from eval.golden import load_golden

    return [i.question for i in load_golden() if i.kind == "in_scope" and not i.history][:40]


@dataclass
class Ask:
    status: int = 0
    ttft_s: float | None = None
    tokens: int = 0
    seconds: float = 0.0
    retry_after: str | None = None
    last_event: str = ""
    events: list[str] = field(default_factory=list)


async def _ask(client: httpx.AsyncClient, question: str, give_up_s: float | None = None) -> Ask:
    result = Ask()
    started = time.perf_counter()

    async def run() -> None:
        async with client.stream("POST", "/ask/stream", json={"question": question}) as response:
            result.status = response.status_code
            result.retry_after = response.headers.get("retry-after")
            if response.status_code != 200:
                await response.aread()
                return
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    result.last_event = line.removeprefix("event: ")
                    if result.last_event == "token":
                        result.tokens += 1
                        if result.ttft_s is None:
                            result.ttft_s = time.perf_counter() - started

    try:
        await asyncio.wait_for(run(), give_up_s) if give_up_s else await run()
    except TimeoutError:
        result.last_event = "gave_up"
    except httpx.TransportError:  # the server cut the connection: status stays 0, counted as cut
        result.last_event = "cut"
    result.seconds = time.perf_counter() - started
    return result


async def _level(url: str, clients: int, questions: list[str], offset: int = 0) -> tuple[list[Ask], float]:
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:

        async def one_client(index: int) -> list[Ask]:
            out = []
            for k in range(QUESTIONS_PER_CLIENT):
                position = offset + index * QUESTIONS_PER_CLIENT + k
                out.append(await _ask(http, questions[position % len(questions)]))
            return out

        started = time.perf_counter()
        results = await asyncio.gather(*(one_client(i) for i in range(clients)))
        return [a for per in results for a in per], time.perf_counter() - started


async def _probe(url: str, record: dict[str, Any], seconds: float) -> dict[str, list[float]]:
    """``/health`` and ``/predict`` timings, one call of each every 100 ms for ``seconds``."""
    timings: dict[str, list[float]] = {"health": [], "predict": []}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for name, call in (("health", http.get("/health")), ("predict", http.post("/predict", json=record))):
                started = time.perf_counter()
                response = await call
                if response.status_code == 200:
                    timings[name].append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.1)
    return timings


async def _burst_with_probes(url: str, record: dict[str, Any], questions: list[str]) -> dict[str, Any]:
    probe = asyncio.create_task(_probe(url, record, 20.0))
    asks, wall = await _level(url, 32, questions, offset=len(questions) // 2)
    return {"asks": asks, "wall": wall, "probes": await probe}


async def _impatient_burst(url: str, questions: list[str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        tasks = [_ask(http, questions[i % len(questions)], give_up_s=3.0 if i % 2 else None) for i in range(32)]
        asks = await asyncio.gather(*tasks)
        after = await _ask(http, questions[0])
    return {"asks": asks, "after": after}


def llm_slots() -> int:
    return int(Settings(_env_file=None).llm.parallel)  # type: ignore[call-arg]


def _prepare(data_dir: Path) -> Settings:
    """The course indexed and the penguins model trained, in a data dir both paths share."""
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    settings.ensure_dirs()
    from classic_ml.pipeline import run_training
    from rag.ingest import ingest

    ingest(settings, progress=False)
    run_training(settings, settings.classic.config_path)
    return settings


def _serve(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    full = {
        **os.environ,
        **env,
        "GENAIOPS_DATA_DIR": str(data_dir),
        "GENAIOPS_LLM__MAX_TOKENS": str(MAX_TOKENS),
        "GENAIOPS_LLM__MODEL": MODEL,
        "GENAIOPS_LLM__MODEL_CACHE_DIR": str(REPO_ROOT / "var" / "models" / "llm"),
        "GENAIOPS_MLFLOW__TRACE_SAMPLE_RATE": "0",
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise RuntimeError(f"genaiops serve exited with {server.returncode}")
        time.sleep(1)
    server.kill()
    raise RuntimeError("genaiops serve not ready in 300 s")


def _shutdown(server: subprocess.Popen[bytes], url: str, questions: list[str]) -> dict[str, Any]:
    async def in_flight() -> list[Ask]:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            tasks = [asyncio.create_task(_ask(http, q)) for q in questions[:4]]
            await asyncio.sleep(6.0)  # prompts evaluated, tokens flowing
            server.send_signal(signal.SIGTERM)
            return list(await asyncio.gather(*tasks))

    started = time.perf_counter()
    asks = asyncio.run(in_flight())
    server.wait(60)
    return {"exit_s": time.perf_counter() - started - 6.0, "asks": asks, "code": server.returncode}


def _path_run(name: str, data_dir: Path, record: dict[str, Any], questions: list[str]) -> dict[str, Any]:
    from tests.ui.helpers import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(data_dir, port, PATHS[name])
    try:
        # Warm-up on questions kept apart: every slot holds the system prompt, but no level finds its own
        # question's prompt already cached (the 1-client level would otherwise skip its prompt evaluation).
        warm, fresh = questions[-WARM_UP:], questions[:-WARM_UP]
        asyncio.run(_level(url, llm_slots(), warm))
        idle = asyncio.run(_probe(url, record, 5.0))  # after the warm-up: first calls load lazy imports
        levels, offset = {}, 0
        for n in (n for n in LEVELS if n != 32):
            levels[n] = asyncio.run(_level(url, n, fresh, offset))
            offset += n * QUESTIONS_PER_CLIENT
        burst = asyncio.run(_burst_with_probes(url, record, questions))
        levels[32] = (burst["asks"], burst["wall"])
        impatient = asyncio.run(_impatient_burst(url, questions))
        shutdown = _shutdown(server, url, questions)
    finally:
        if server.poll() is None:
            server.kill()
    return {"levels": levels, "idle": idle, "burst": burst, "impatient": impatient, "shutdown": shutdown}


def percentiles(values: list[float], pcts: tuple[int, ...]) -> tuple[float, ...]:
    return tuple(float(np.percentile(values, p)) for p in pcts) if values else tuple(float("nan") for _ in pcts)


def _level_row(name: str, n: int, asks: list[Ask], wall: float, base: float | None) -> list[object]:
    served = [a for a in asks if a.status == 200 and a.tokens]
    ttfts = [a.ttft_s for a in served if a.ttft_s is not None]
    rate = sum(a.tokens for a in served) / wall if wall else float("nan")
    p50, p95 = percentiles(ttfts, (50, 95))
    refused = sum(1 for a in asks if a.status in (429, 503))
    ratio = f"{rate / base:.2f}x" if base else "1.00x"
    return [name, n, len(asks), len(served), refused, round(rate, 1), ratio, round(p50, 2), round(p95, 2)]


def main() -> None:
    questions = _questions()
    with tempfile.TemporaryDirectory() as tmp:
        settings = _prepare(Path(tmp) / "var")
        record = RECORD
        runs = {name: _path_run(name, settings.data_dir, record, questions) for name in PATHS}
    lines = [machine(), "", __doc__.split("\n\n")[1].replace("\n", " "), ""]
    rows = []
    for name, run in runs.items():
        base_asks, base_wall = run["levels"][1]
        base = sum(a.tokens for a in base_asks if a.status == 200) / base_wall
        rows += [_level_row(name, n, *run["levels"][n], None if n == 1 else base) for n in LEVELS]
    headers = ["path", "clients", "asks", "answered", "429/503", "tokens/s", "vs 1 client", "TTFT p50 s", "TTFT p95 s"]
    lines += [table(headers, rows), ""]
    probe_rows = []
    for name, run in runs.items():
        for endpoint in ("health", "predict"):
            idle = percentiles(run["idle"][endpoint], (50, 99))
            busy = percentiles(run["burst"]["probes"][endpoint], (50, 99))
            probe_rows.append([name, f"/{endpoint}", round(idle[0], 1), round(idle[1], 1), round(busy[0], 1),
                               round(busy[1], 1), f"{busy[1] / idle[1]:.2f}x"])  # fmt: skip
    lines += ["During the 32-client level:", "", table(
        ["path", "endpoint", "idle p50 ms", "idle p99 ms", "burst p50 ms", "burst p99 ms", "p99 vs idle"], probe_rows
    ), ""]  # fmt: skip
    burst_rows = []
    for name, run in runs.items():
        asks, after = run["impatient"]["asks"], run["impatient"]["after"]
        patient = asks[0::2]
        impatient = asks[1::2]
        stranded = sum(1 for a in impatient if a.last_event == "gave_up" and a.ttft_s is None and a.status == 200)
        quick = sum(1 for a in asks if a.status in (429, 503) and a.seconds < 3.0)
        shutdown = run["shutdown"]
        burst_rows.append([
            name, sum(1 for a in patient if a.last_event == "done"), quick, stranded,
            round(after.seconds, 1), after.last_event or after.status,
            round(shutdown["exit_s"], 1), sum(1 for a in shutdown["asks"] if a.last_event == "error"),
            sum(1 for a in shutdown["asks"] if a.status == 503), sum(1 for a in shutdown["asks"] if a.status == 0),
        ])  # fmt: skip
    lines += ["32 clients at once, every other one giving up after 3 s; then one question; then SIGTERM with four "
              "generations in flight:", "", table(
        ["path", "patient answered", "refused < 3 s (429/503)", "impatient left waiting with nothing",
         "next ask s", "next ask", "exit after SIGTERM s", "streams ended with error",
         "still evaluating the prompt: 503", "cut without an answer"], burst_rows
    )]  # fmt: skip
    write_section("concurrency", "## Many users at once (bench_concurrency)\n\n" + "\n".join(lines))
    print(json.dumps({name: [r for r in rows if r[0] == name] for name in runs}, default=str, indent=1))


if __name__ == "__main__":
    main()
