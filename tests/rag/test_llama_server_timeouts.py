"""The llama-server adapter's waits, against a stand-in server that evaluates prompts in turn.

llama-server sends a stream's headers with its first token, once the prompt is evaluated, and its
slots evaluate prompts roughly one after the other. On a slow CPU, the last of several users at
once waits for every prompt ahead of it: the adapter must wait that long instead of answering 503,
and still give up on a server that sends nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rag.llama_server import LlamaServerChatModel, first_token_limit_s
from rag.types import LlmUnavailableError
from tests.settings import make_settings

PROMPT_S = 0.6  # the stand-in's time to evaluate one prompt
TIMEOUT_S = 1.0  # llm.timeout_s: one prompt fits, two or three in turn do not
QUESTION = [("user", "Qu'est-ce que le MLOps ?")]


class PromptsInTurn:
    """Answers each stream after the prompts queued before it and its own: ``PROMPT_S`` each, FIFO."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self._lock = threading.Lock()
        self._busy_until = 0.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def first_token_at(self) -> float:
        with self._lock:
            self._busy_until = max(self._busy_until, time.monotonic()) + PROMPT_S
            return self._busy_until

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                if fake.silent:
                    time.sleep(30)
                    return
                time.sleep(max(0.0, fake.first_token_at() - time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in ("Le ", "MLOps."):
                    chunk = {"choices": [{"delta": {"content": piece}}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        return Handler


class _Process:
    """What the adapter needs of the child process: its URL and a stop."""

    def __init__(self, url: str) -> None:
        self.url = url

    def health(self) -> str:
        return "ready"

    def stop(self) -> None:
        return None


@pytest.fixture
def model_on(tmp_path: Path) -> Iterator[Any]:
    made: list[LlamaServerChatModel] = []

    def build(server: PromptsInTurn, parallel: int) -> LlamaServerChatModel:
        settings = make_settings(tmp_path / "var", llm={"timeout_s": TIMEOUT_S, "parallel": parallel})
        model = LlamaServerChatModel(_Process(server.url), "stand-in", settings)  # type: ignore[arg-type]
        made.append(model)
        return model

    yield build
    for model in made:
        model.close()


def test_the_limit_grows_with_the_prompts_waiting_ahead() -> None:
    assert first_token_limit_s(60, 0) == 60
    assert first_token_limit_s(60, 3) == 240


def test_the_last_of_several_users_waits_for_the_prompts_ahead(model_on: Any) -> None:
    """Three streams at once: the third's first token comes after 3 prompts (1.8 s), past one timeout_s."""
    model = model_on(PromptsInTurn(), parallel=3)
    answers: dict[int, str] = {}
    errors: list[BaseException] = []

    def ask(index: int) -> None:
        try:
            answers[index] = model.generate(QUESTION)
        except LlmUnavailableError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # sent in this order
    for thread in threads:
        thread.join(20)
    assert not errors and answers == {0: "Le MLOps.", 1: "Le MLOps.", 2: "Le MLOps."}
    # and the line is empty again: a fourth stream alone gets the plain limit
    assert model._first_token_line.waiting == 0


def test_a_server_that_sends_nothing_is_given_up_on_after_timeout_s(model_on: Any) -> None:
    model = model_on(PromptsInTurn(silent=True), parallel=2)
    started = time.monotonic()
    with pytest.raises(LlmUnavailableError, match="nothing from .* for 1 s"):
        model.generate(QUESTION)
    assert time.monotonic() - started < 10
    assert model._first_token_line.waiting == 0


def test_a_stream_closed_early_or_never_read_leaves_the_line(model_on: Any) -> None:
    model = model_on(PromptsInTurn(), parallel=2)
    stream = model.stream(QUESTION)
    assert next(stream) == "Le "
    stream.close()
    unstarted = model.stream(QUESTION)
    unstarted.close()  # never iterated: never joined
    assert model._first_token_line.waiting == 0
