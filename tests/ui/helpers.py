"""Helpers of the UI tests: page paths, free ports, a uvicorn server in a thread, test settings."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from genaiops.settings import REPO_ROOT, Settings
from tests.settings import make_settings

UI_DIR = REPO_ROOT / "ui"
PAGES = {
    "chat": UI_DIR / "Home.py",
    "predict": UI_DIR / "pages" / "1_Predict.py",
    "monitoring": UI_DIR / "pages" / "2_Monitoring.py",
    "prompts": UI_DIR / "pages" / "3_Prompts_and_eval.py",
    "documents": UI_DIR / "pages" / "4_Documents.py",
}
MAX_TOKENS = 40  # enough for a sentence with a citation, short enough for 2 shared cores
TOP_K = 2  # passages in the prompt: prompt evaluation dominates an answer's time on CPU
MAX_BATCH = 5  # small, so the Predict page's CSV scoring has to chunk


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sides_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("rag.service", "classic_ml.serving"))


@dataclass
class LiveApi:
    url: str
    settings: Settings
    app: object


class ServerThread:
    """uvicorn in a daemon thread, started and stopped from the test process (lifespan included)."""

    def __init__(self, app: object, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout_s: float = 180.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test API did not start (see the log above)")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def ui_settings(data_dir: Path, llm_cache: Path) -> Settings:
    """The UI tests' settings: short answers and small batches, the session's GGUF cache."""
    return make_settings(
        data_dir,
        llm={"model_cache_dir": llm_cache, "max_tokens": MAX_TOKENS},
        rag={"top_k": TOP_K},
        classic={"max_batch": MAX_BATCH},
    )


CANDIDATE_EDIT = ("in one or two short sentences", "in at most three short sentences")


def register_prompt_versions(settings: Settings, folder: Path) -> None:
    """The registry as a prompt engineer leaves it: version 1 = the committed file (``production``), version 2 =
    a one-line edit of it (``candidate``). Idempotent: pushing unchanged text registers nothing."""
    import shutil

    from prompts.loader import TEMPLATES_DIR
    from prompts.registry import promote, push

    shutil.copytree(TEMPLATES_DIR, folder, dirs_exist_ok=True)
    push(settings, folder)
    path = folder / "rag_answer.yaml"
    text = path.read_text(encoding="utf-8")
    assert CANDIDATE_EDIT[0] in text, "the prompt changed: update CANDIDATE_EDIT"
    path.write_text(text.replace(*CANDIDATE_EDIT), encoding="utf-8")
    push(settings, folder)
    promote(settings, "rag_answer", 1, "production")
    promote(settings, "rag_answer", 2, "candidate")


def evaluate_prompt_versions(settings: Settings) -> None:
    """A real (short) ``genaiops eval rag`` of the production and the candidate prompt, logged to MLflow."""
    from eval.rag_eval import run_rag_eval
    from eval.tracking import log_eval_run
    from prompts import load_prompt
    from rag.service import build_rag_service
    from rag.tracing import NullTracer

    service = build_rag_service(settings, tracer=NullTracer())
    try:
        for alias in ("production", "candidate"):
            service.prompt = load_prompt(settings.rag.prompt_name, settings, alias=alias)
            assert service.prompt.source == "registry", f"no {alias} prompt in the registry"
            log_eval_run(settings, run_rag_eval(settings, service, limit=2, progress=False))
    finally:
        service.close()
