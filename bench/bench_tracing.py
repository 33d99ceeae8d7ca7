"""What tracing costs a request: ``tracer.record()`` on the request path, against no tracer, same run.

Three tracers receive the same finished answer: ``NullTracer`` (the baseline: a method call),
``MlflowTracer`` to a sqlite store (traces really exported in the background), and ``MlflowTracer``
to a tracking server that accepts connections and never answers (the export thread is stuck on its
probe, the queue fills, records are dropped). Reported: per-call p50/p99 in microseconds, and how
many traces the export thread wrote per second. Target: a few ms at most per request, whatever MLflow does.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

from bench.report import machine, table, write_section
from genaiops.settings import Settings
from rag.tracing import MlflowTracer, NullTracer
from rag.types import Answer, Chunk, ScoredChunk

CALLS = 2000


def _answer(i: int) -> Answer:
    chunk = Chunk(f"c{i}", "Le MLOps industrialise le machine learning. " * 10, "000_cours.txt", "Intro", 0)
    return Answer(
        request_id=f"bench-{i}",
        answer="Le MLOps industrialise le ML [1].",
        mode="generative",
        grounded=True,
        sources=[ScoredChunk(chunk, 0.7)] * 4,
        prompt_name="rag_answer",
        prompt_version="1",
        model="bench",
        timings_ms={"retrieve": 12.0, "generate": 900.0, "grounding": 8.0, "total": 925.0},
        tokens=40,
    )


def _calls_us(tracer: object, n: int) -> list[float]:
    messages = [("system", "x" * 1500), ("user", "y" * 3000)]
    samples = []
    for i in range(n):
        answer = _answer(i)
        started = time.perf_counter()
        tracer.record(answer, question="Qu'est-ce que le MLOps ?", top_k=4, messages=messages)  # type: ignore[attr-defined]
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    header = machine()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "var")  # type: ignore[call-arg]
        settings.ensure_dirs()
        base = _calls_us(NullTracer(), CALLS)
        rows.append(("none (NullTracer)", _pct(base, 0.5), _pct(base, 0.99), "-"))

        live = MlflowTracer(settings, queue_size=CALLS)
        started = time.perf_counter()
        samples = _calls_us(live, CALLS // 20)  # exported for real: a sqlite store writes tens per second
        live.flush(timeout_s=600)
        rate = live.stats["exported"] / (time.perf_counter() - started)
        rows.append(("MlflowTracer -> sqlite", _pct(samples, 0.5), _pct(samples, 0.99), f"{rate:.0f} traces/s"))
        live.close()

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # accepts, never answers
        hung = settings.model_copy(deep=True)
        hung.mlflow.tracking_uri = f"http://127.0.0.1:{sock.getsockname()[1]}"
        stuck = MlflowTracer(hung, queue_size=100)
        samples = _calls_us(stuck, CALLS)
        rows.append(("MlflowTracer -> hung server", _pct(samples, 0.5), _pct(samples, 0.99),
                     f"{stuck.stats['dropped_full']} of {CALLS} dropped (queue 100)"))  # fmt: skip
        stuck.close(timeout_s=3)
        sock.close()
    body = table(("tracer", "record() p50 µs", "record() p99 µs", "export"), rows)
    write_section("tracing", f"## Tracing cost on the request path (bench_tracing)\n\n{header}\n\n{body}\n")
    print(body)


if __name__ == "__main__":
    main()
