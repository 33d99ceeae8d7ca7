"""A stand-in Ollama server for the adapter tests: Ollama cannot run here, its HTTP API can.

It speaks the endpoints ``rag/llm.py`` uses, in the format of Ollama's docs/api.md:
``GET /api/tags`` (the pulled models) and ``POST /api/chat``, streamed as chunked NDJSON
(``{"message": {"role": "assistant", "content": piece}, "done": false}`` lines, then a last line
with ``done_reason`` and the timing counters) or as one JSON object with ``"stream": false``.
An unknown model is Ollama's 404 ``{"error": "model \"x\" not found, try pulling it first"}``.
Every chat request is recorded, so tests can check what the adapter sent.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], str]
_DIGEST = "a8b0c51577010a279d933d14c2f8ab4b268079d44c5c8830c0a93900f1827c67"


def quote_first_passage(request: dict[str, Any]) -> str:
    """What a well-behaved model answers: the first sentence of passage [1], cited."""
    user = request["messages"][-1]["content"]
    context = user.split("<context>", 1)[1].split("</context>", 1)[0]
    lines = [line.strip() for line in context.split("[1]", 1)[1].splitlines()[1:] if line.strip()]
    sentence = re.split(r"(?<=[.!?])\s", lines[0], maxsplit=1)[0].rstrip(".")
    return f"{sentence}. [1]"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _stats(prompt_chars: int, pieces: int) -> dict[str, Any]:
    return {
        "total_duration": 412_000_000,
        "load_duration": 2_150_000,
        "prompt_eval_count": max(1, prompt_chars // 4),
        "prompt_eval_duration": 150_000_000,
        "eval_count": pieces,
        "eval_duration": 250_000_000,
    }


class FakeOllama:
    """``with FakeOllama(models=[...]) as ollama:`` serves on ``ollama.url`` until the block ends."""

    def __init__(self, models: list[str], reply: Reply = quote_first_passage) -> None:
        self.models = list(models)
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOllama:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def tags(self) -> dict[str, Any]:
        details = {"format": "gguf", "family": "qwen2", "families": ["qwen2"], "parameter_size": "1.5B"}
        return {
            "models": [
                {
                    "name": name,
                    "model": name,
                    "modified_at": "2025-11-20T10:12:31.481Z",
                    "size": 986_061_892,
                    "digest": _DIGEST,
                    "details": {**details, "parent_model": "", "quantization_level": "Q4_K_M"},
                }
                for name in self.models
            ]
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # Ollama streams with chunked transfer encoding

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/api/tags":
                    self._json(200, fake.tags())
                else:
                    self._json(404, {"error": "404 page not found"})

            def do_POST(self) -> None:  # noqa: N802
                if self.path != "/api/chat":
                    self._json(404, {"error": "404 page not found"})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append(body)
                model = body.get("model", "")
                if model not in fake.models:
                    self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
                    return
                text = fake.reply(body)
                prompt_chars = sum(len(m.get("content", "")) for m in body.get("messages", []))
                if body.get("stream", True):
                    self._stream(model, text, prompt_chars)
                else:
                    message = {"role": "assistant", "content": text}
                    done = {"done_reason": "stop", "done": True, **_stats(prompt_chars, len(text.split()))}
                    self._json(200, {"model": model, "created_at": _now(), "message": message, **done})

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, model: str, text: str, prompt_chars: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = re.findall(r"\s*\S+", text)
                for piece in pieces:
                    message = {"role": "assistant", "content": piece}
                    self._chunk({"model": model, "created_at": _now(), "message": message, "done": False})
                last = {"role": "assistant", "content": ""}
                stats = _stats(prompt_chars, len(pieces))
                self._chunk(
                    {
                        "model": model,
                        "created_at": _now(),
                        "message": last,
                        "done_reason": "stop",
                        "done": True,
                        **stats,
                    }
                )
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, payload: dict[str, Any]) -> None:
                line = json.dumps(payload).encode() + b"\n"
                self.wfile.write(f"{len(line):X}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

        return Handler


class SilentServer:
    """Accepts TCP connections and never answers: a hung Ollama (model load stuck, server wedged)."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._accepted: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                self._accepted.append(self.sock.accept()[0])
            except OSError:
                continue

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._accepted:
            conn.close()
        self.sock.close()
