"""A chat model for tests and benchmarks of everything around the LLM: queued replies, recorded calls.

Where model behaviour is not the point (routes, logs, traces, admission control, the UI), a real
generation only makes a test slow and dependent on the machine's speed. ``FakeChatModel`` speaks
the ``ChatModel`` port: it streams its next queued reply word by word (optionally ``delay_s``
between pieces, to play a slow model) and keeps every call for assertions.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from rag.types import ChatMessage, LlmUnavailableError


@dataclass
class FakeCall:
    messages: list[ChatMessage]
    max_tokens: int | None
    pieces: int = 0  # pieces actually streamed (fewer when the consumer stopped early)


@dataclass
class FakeChatModel:
    """Replies come from ``replies`` in order, then ``default``; a reply that is an exception is raised.

    ``default=None`` answers by quoting the first line of the first passage with ``[1]``, which the
    grounding guard accepts: a plausible generative answer without a model.
    """

    replies: Iterable[str | BaseException] = ()
    default: str | None = None
    delay_s: float = 0.0
    prompt_s: float = 0.0  # before the first piece, like a real model evaluating the prompt
    name: str = "fake-chat-model"
    backend: str = "fake"
    parallel: int = 1  # generations it serves at once (the scheduler's capacity)
    hold: threading.Event | None = None  # generations wait for it: a model busy exactly as long as a test needs
    calls: list[FakeCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: deque[str | BaseException] = deque(self.replies)
        self._lock = threading.Lock()

    def queue(self, *replies: str | BaseException) -> None:
        with self._lock:
            self._queue.extend(replies)

    def generate(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_tokens))

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int | None = None) -> Iterator[str]:
        call = FakeCall(list(messages), max_tokens)
        with self._lock:
            self.calls.append(call)
            reply = self._queue.popleft() if self._queue else self._default(messages)
        if isinstance(reply, BaseException):
            raise reply
        words = reply.split(" ")
        if self.hold is not None:
            self.hold.wait()
        if self.prompt_s:
            time.sleep(self.prompt_s)
        for index, word in enumerate(words[: max_tokens or None]):
            if self.delay_s:
                time.sleep(self.delay_s)
            call.pieces += 1
            yield word if index == 0 else " " + word

    def _default(self, messages: Sequence[ChatMessage]) -> str:
        if self.default is not None:
            return self.default
        prompt = messages[-1][1] if messages else ""
        context = prompt.split("<context>", 1)[-1].split("</context>", 1)[0]
        for line in context.splitlines():
            stripped = line.strip().removeprefix("- ")
            if line.startswith("[") or len(stripped.split()) < 4 or stripped.startswith("<"):
                continue
            return f"{stripped.rstrip('.')}. [1]"
        return "Le cours ne couvre pas cette question."

    def readiness(self) -> str:
        return "ready"

    def close(self) -> None:
        return None


def unavailable(reason: str = "fake outage") -> LlmUnavailableError:
    """An error to queue as a reply: the backend went away."""
    return LlmUnavailableError("fake", reason)
