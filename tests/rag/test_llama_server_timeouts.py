"""The llama-server adapter's waits, against a stand-in server that evaluates prompts in turn.

llama-server answers a stream's headers when it takes it into a slot, then evaluates the slots'
prompts one after the other and, unless asked for ``return_progress``, says nothing until the first
token. On a slow CPU a user's first token comes after every prompt evaluated before it: the adapter
must keep waiting while the server works, and still give up on a server that sends nothing.
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

from rag.llama_server import LlamaServerChatModel, first_line_limit_s
from rag.types import LlmUnavailableError
from tests.settings import make_settings

PROMPT_S = 0.6  # the stand-in's time to evaluate one prompt
PROGRESS_S = 0.2  # between two progress lines (one per batch in llama-server)
TIMEOUT_S = 1.0  # llm.timeout_s: one prompt fits, two or three in turn do not
QUESTION = [("user", "Qu'est-ce que le MLOps ?")]


class PromptsInTurn:
    """Evaluates prompts FIFO, ``PROMPT_S`` each, then streams "Le MLOps.".

    ``headers``: "at_once" (a slot is free: headers, then progress lines if the request asked for
    them, until its first token), "when_evaluated" (no slot yet: nothing until its turn is done), or
    "never" (a hung server).
    """

    def __init__(self, headers: str = "at_once") -> None:
        self.headers = headers
        self._lock = threading.Lock()
        self._busy_until = 0.0
        self.asked_progress: list[bool] = []
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

            def send(self, payload: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                progress = bool(body.get("return_progress"))
                fake.asked_progress.append(progress)
                if fake.headers == "never":
                    time.sleep(30)
                    return
                first_token_at = fake.first_token_at()
                if fake.headers == "when_evaluated":
                    time.sleep(max(0.0, first_token_at - time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.send({"choices": [{"delta": {"role": "assistant", "content": None}}]})
                while (left := first_token_at - time.monotonic()) > 0:
                    time.sleep(min(left, PROGRESS_S))
                    if progress:
                        self.send({"choices": [], "prompt_progress": {"processed": 512}})
                for piece in ("Le ", "MLOps."):
                    self.send({"choices": [{"delta": {"content": piece}}]})
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


def test_the_limit_grows_with_the_streams_in_flight() -> None:
    assert first_line_limit_s(60, 0) == 60
    assert first_line_limit_s(60, 3) == 240


def ask_at_once(model: LlamaServerChatModel, n: int) -> tuple[dict[int, str], list[BaseException]]:
    answers: dict[int, str] = {}
    errors: list[BaseException] = []

    def ask(index: int) -> None:
        try:
            answers[index] = model.generate(QUESTION)
        except LlmUnavailableError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # sent in this order
    for thread in threads:
        thread.join(20)
    return answers, errors


def test_progress_lines_keep_a_long_evaluation_alive(model_on: Any) -> None:
    """Three streams with slots at once: the third's first token comes at 1.8 s, past one timeout_s of 1 s."""
    server = PromptsInTurn("at_once")
    answers, errors = ask_at_once(model_on(server, parallel=3), 3)
    assert not errors and answers == {0: "Le MLOps.", 1: "Le MLOps.", 2: "Le MLOps."}
    assert server.asked_progress == [True, True, True]


def test_each_stream_in_flight_adds_one_timeout_before_the_headers(model_on: Any) -> None:
    """No headers before the turn ends: the third stream hears nothing for 1.8 s and may wait 3 s."""
    model = model_on(PromptsInTurn("when_evaluated"), parallel=3)
    answers, errors = ask_at_once(model, 3)
    assert not errors and answers == {0: "Le MLOps.", 1: "Le MLOps.", 2: "Le MLOps."}
    assert model._in_flight.count == 0  # a fourth stream alone gets the plain limit


def test_a_server_that_sends_nothing_is_given_up_on_after_timeout_s(model_on: Any) -> None:
    model = model_on(PromptsInTurn("never"), parallel=2)
    started = time.monotonic()
    with pytest.raises(LlmUnavailableError, match="nothing from .* for 1 s"):
        model.generate(QUESTION)
    assert time.monotonic() - started < 10
    assert model._in_flight.count == 0


def test_a_stream_closed_early_or_never_read_leaves_the_line(model_on: Any) -> None:
    model = model_on(PromptsInTurn(), parallel=2)
    stream = model.stream(QUESTION)
    assert next(stream) == "Le "
    stream.close()
    unstarted = model.stream(QUESTION)
    unstarted.close()  # never iterated: never joined
    assert model._in_flight.count == 0
