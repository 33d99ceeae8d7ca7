"""llama.cpp's own server as a managed child process: parallel slots, continuous batching, prompt cache.

In-process llama-cpp-python serves one generation at a time behind a lock: a class of 40 users
queues behind it. ``llama-server`` (built from llama.cpp by ``make llama-server``) decodes several
conversations in one batch (``llm.parallel`` slots), keeps each slot's KV cache so the identical
system prompt is evaluated once per slot, and can draft tokens by prompt lookup (``llm.speculative``:
a RAG answer copies spans of its context). It listens on a free 127.0.0.1 port, is started with
the service, watched by ``readiness`` and stopped with it; it never reaches a network.

Closing a stream closes the HTTP response, and the server frees that slot at its next token.

The server answers a stream's headers when it takes the request into a slot, then evaluates the
slots' prompts one batch at a time, in slot order rather than arrival order, and sent nothing more
until the first token: on 2 cores, of four ~900-token prompts sent at once, the first waited 38 s for
its first token, so with ``llm.timeout_s`` 12 it was refused while the server worked as it should.
Every stream now asks for ``return_progress``: a progress line per evaluated batch (``--batch-size
512``: about 5 s apart there), so ``timeout_s`` bounds a silence, not a whole evaluation. Before its
headers a stream waits for the server to take it into a slot, one between two batches and not in
arrival order (the second of four sent at once: 21 s there); each stream already in flight adds one
``timeout_s`` to that wait (``first_line_limit_s``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from genaiops.children import killed_with_parent
from genaiops.settings import REPO_ROOT, Settings
from rag.types import ChatMessage, LlmUnavailableError

log = logging.getLogger(__name__)

BACKEND = "llama-server"
DEFAULT_BINARY = REPO_ROOT / ".tools" / "llama-server"


def find_binary(configured: Path | None) -> Path:
    """``llm.server_binary``, else the one ``make llama-server`` built, else ``llama-server`` on PATH."""
    candidates = [configured] if configured is not None else [DEFAULT_BINARY]
    on_path = shutil.which("llama-server")
    if configured is None and on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise LlmUnavailableError(BACKEND, f"no llama-server binary at {candidates[0]}: run `make llama-server`")


def first_line_limit_s(timeout_s: float, in_flight: int) -> float:
    """How long a stream may wait for the server's first line: one ``timeout_s``, and one per stream in flight."""
    return timeout_s * (1 + max(0, in_flight))


class _InFlight:
    """How many streams this adapter has open on the server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def join(self) -> int:
        """Add a stream; returns how many were already open."""
        with self._lock:
            ahead = self.count
            self.count += 1
        return ahead

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_args(settings: Settings, model: Path, port: int) -> list[str]:
    """The command line: every slot gets ``llm.n_ctx`` tokens of context."""
    llm = settings.llm
    args = [
        "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--threads", str(llm.n_threads or os.cpu_count() or 1),
        "--ctx-size", str(llm.n_ctx * llm.parallel), "--parallel", str(llm.parallel),
        "--batch-size", "512", "--flash-attn", "on", "--no-webui", "--log-verbosity", "2",
        "--seed", str(llm.seed),
    ]  # fmt: skip
    if llm.speculative == "ngram":
        args += ["--spec-type", "ngram-map-k", "--spec-ngram-map-k-size-n", "2", "--spec-ngram-map-k-size-m", "8",
                 "--spec-draft-n-max", str(llm.speculative_tokens)]  # fmt: skip
    return args


class LlamaServerProcess:
    """The child process: started once, checked on ``health()``, terminated on ``stop()``."""

    def __init__(self, binary: Path, args: list[str], port: int, start_timeout_s: float) -> None:
        self.binary, self.args, self.port = binary, args, port
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(os.devnull, "wb")  # noqa: SIM115 - closed in stop(); the server's own log is noise here
        self.process = subprocess.Popen(
            [str(binary), *args], stdout=self._log, stderr=subprocess.PIPE, preexec_fn=killed_with_parent
        )
        self._stderr_tail: list[str] = []
        threading.Thread(target=self._drain_stderr, name="llama-server-log", daemon=True).start()
        self._wait_ready(start_timeout_s)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode("utf-8", errors="replace").rstrip()
            self._stderr_tail = [*self._stderr_tail[-19:], line]

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = " | ".join(self._stderr_tail[-3:])
                raise LlmUnavailableError(BACKEND, f"exited with code {self.process.returncode}: {tail}")
            if self.health() == "ready":
                return
            time.sleep(0.2)
        self.stop()
        raise LlmUnavailableError(BACKEND, f"not ready within {timeout_s:.0f} s")

    def health(self) -> str:
        if self.process.poll() is not None:
            return f"LLM backend '{BACKEND}' exited with code {self.process.returncode}"
        try:
            response = httpx.get(f"{self.url}/health", timeout=2.0)
        except httpx.HTTPError as exc:
            return f"LLM backend '{BACKEND}' unreachable: {type(exc).__name__}"
        return "ready" if response.status_code == 200 else f"LLM backend '{BACKEND}' loading ({response.status_code})"

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)
        self._log.close()


class LlamaServerChatModel:
    """The ``ChatModel`` port over the child's OpenAI-compatible ``/v1/chat/completions`` (streamed)."""

    backend = BACKEND

    def __init__(self, process: LlamaServerProcess, name: str, settings: Settings) -> None:
        self.process = process
        self.name = name
        llm = settings.llm
        self.parallel = llm.parallel
        self.max_tokens = llm.max_tokens
        self.options = {"temperature": llm.temperature, "seed": llm.seed, "repeat_penalty": 1.1, "cache_prompt": True}
        self.timeout_s = llm.timeout_s
        self._http = httpx.Client(base_url=process.url, timeout=httpx.Timeout(llm.timeout_s, connect=5.0))
        self._in_flight = _InFlight()

    def generate(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_tokens))

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> Iterator[str]:
        body = {
            "messages": [{"role": role, "content": content} for role, content in messages],
            "max_tokens": max_tokens or self.max_tokens,
            "stream": True,
            "return_progress": True,  # a line per evaluated batch: the read timeout measures silence
            **self.options,
        }
        limit_s = first_line_limit_s(self.timeout_s, self._in_flight.join())
        try:
            for attempt in (1, 2):
                started = False
                try:
                    with self._http.stream(
                        "POST", "/v1/chat/completions", json=body, timeout=httpx.Timeout(limit_s, connect=5.0)
                    ) as response:
                        if response.status_code != 200:
                            response.read()
                            raise LlmUnavailableError(BACKEND, f"HTTP {response.status_code}: {response.text[:200]}")
                        for line in response.iter_lines():
                            piece = _delta(line)
                            if piece:
                                started = True
                                yield piece
                    return
                except httpx.RemoteProtocolError as exc:
                    # a kept-alive connection the server had just closed (after a stream a client left): nothing was
                    # generated yet, so asking again on a fresh connection is safe
                    if started or attempt == 2:
                        raise LlmUnavailableError(BACKEND, f"{type(exc).__name__} from {self.process.url}") from exc
                except httpx.TimeoutException as exc:
                    raise LlmUnavailableError(
                        BACKEND, f"nothing from {self.process.url} for {limit_s:.0f} s (llm.timeout_s)"
                    ) from exc
                except httpx.HTTPError as exc:
                    raise LlmUnavailableError(BACKEND, f"{type(exc).__name__} from {self.process.url}") from exc
        finally:
            self._in_flight.leave()

    def readiness(self) -> str:
        return self.process.health()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._http.close()
        self.process.stop()


def _delta(line: str) -> str:
    """The text of one SSE line of an OpenAI chat-completion stream ('' for keep-alives and the end)."""
    if not line.startswith("data: ") or line == "data: [DONE]":
        return ""
    payload: dict[str, Any] = json.loads(line[len("data: ") :])
    choices = payload.get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


def build_llama_server(settings: Settings) -> LlamaServerChatModel:
    """Start the child on the verified GGUF and return the chat model speaking to it."""
    from rag.llm_weights import WeightsError, model_path

    try:
        model = model_path(settings)
    except WeightsError as exc:
        raise LlmUnavailableError(BACKEND, str(exc)) from exc
    binary = find_binary(settings.llm.server_binary)
    port = free_port()
    process = LlamaServerProcess(binary, server_args(settings, model, port), port, settings.llm.start_timeout_s)
    name = settings.llm.model if settings.llm.model_path is None else model.stem
    log.info("llama-server on %s: %s, %d slots", process.url, model.name, settings.llm.parallel)
    return LlamaServerChatModel(process, name, settings)
