"""Helpers of the answering tests: one GGUF cache per session, short generations, hand-made passages."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from genaiops.settings import REPO_ROOT, Settings
from rag.types import Chunk, ScoredChunk
from tests.settings import make_settings

MAX_TOKENS = 40  # a sentence or two with a citation; short enough for 2 shared cores
TOP_K = 2  # prompt evaluation dominates an answer's time on CPU: few passages
COURSE_DIR = REPO_ROOT / "data" / "course"
GOLDEN = REPO_ROOT / "eval" / "datasets" / "golden.jsonl"
GOLDEN_ROWS = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
INJECTIONS = [r for r in GOLDEN_ROWS if r["kind"] == "injection"]

FR_QUESTION = "Quels outils permettent de détecter le drift en production ?"
FR_SOURCE = "001_d7d9398d42cf6008.txt"  # the golden source of FR_QUESTION
EN_QUESTION = "Which cloud tools are typically used to serve a model?"
OUT_OF_SCOPE = "Donne-moi une recette de crêpes"
# the keys of the /ask body (also the done event of /ask/stream and `genaiops ask --json`)
ANSWER_KEYS = {
    "request_id", "answer", "mode", "grounded", "sources", "prompt", "model", "tokens", "retrieval_score", "timings_ms",
}  # fmt: skip


# The model tier of the tests checks the runtime and guard contracts (streams, slots, refusals, citations)
# with the fast 0.5B model; what the default 1.5B answers is measured by the eval gate (`make eval-gate`).
TEST_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"


def answer_settings(data_dir: Path, llm_cache: Path, **overrides: Any) -> Settings:
    """Test settings with all state under ``data_dir``, the shared GGUF cache, the test model and short answers."""
    llm = {"model_cache_dir": llm_cache, "max_tokens": MAX_TOKENS, "model": TEST_MODEL, **overrides.pop("llm", {})}
    rag = {"top_k": TOP_K, **overrides.pop("rag", {})}
    return make_settings(data_dir, llm=llm, rag=rag, **overrides)


def passage(text: str, heading: str = "", source: str = "cours.md", index: int = 0, score: float = 0.6) -> ScoredChunk:
    """A retrieved passage built by hand, for the deterministic answer and grounding tests."""
    return ScoredChunk(Chunk(f"{source}-{index}", text, source, heading, index), score)


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
