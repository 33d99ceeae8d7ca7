"""Answering many users at once: bounded admission, generation on its own executor, cancellation, draining.

The model can serve ``capacity`` generations at a time (llama-server's parallel slots, 1 for
in-process llama.cpp, Ollama's parallel requests). ``Admission`` lets that many run and keeps a
bounded FIFO of waiters; a request that would wait longer than ``max_wait_s`` (from the measured
service time) or find the queue full is refused at once with ``OverloadedError`` (HTTP 429 +
``Retry-After``), never left to hang. A waiter whose client left is dropped before it reaches the
model; a running generation whose client left stops at its next token.

``AnswerScheduler`` is the async face of ``RagService`` used by every HTTP entry point: retrieval
and the grounding check run on the default thread pool (short), waiting costs no thread at all,
and generations run on a dedicated executor of ``capacity`` threads, so ``/health``, ``/predict``
and ``/metrics`` keep their idle latency while ``/ask`` is saturated.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from rag.service import Plan, RagService, answer_to_dict
from rag.tracing import trace_session
from rag.types import Answer, LlmUnavailableError, OverloadedError

log = logging.getLogger(__name__)

Disconnected = Callable[[], Awaitable[bool]]
_POLL_S = 0.25  # how often a waiter or a running generation checks that its client is still there


class ClientGoneError(RuntimeError):
    """The client disconnected: its request was dropped before or during generation."""


class ShuttingDownError(OverloadedError):
    """The server is draining for shutdown: no new generation starts (HTTP 503 + Retry-After)."""


class Observer(Protocol):
    """What the scheduler reports (the API turns it into Prometheus metrics)."""

    def queue(self, waiting: int, active: int) -> None: ...

    def rejected(self, reason: str) -> None: ...

    def first_token(self, seconds: float) -> None: ...

    def generated(self, tokens: int, seconds: float) -> None: ...


class _NoObserver:
    def queue(self, waiting: int, active: int) -> None:
        return None

    def rejected(self, reason: str) -> None:
        return None

    def first_token(self, seconds: float) -> None:
        return None

    def generated(self, tokens: int, seconds: float) -> None:
        return None


@dataclass
class Admission:
    """At most ``capacity`` generations at once, a bounded FIFO of waiters, quick refusals beyond.

    Lives on one event loop (the API's); every method is called from it.
    """

    capacity: int
    max_queue: int
    max_wait_s: float
    service_s: float = 8.0  # estimated seconds a generation holds its slot; an EWMA once measured
    observer: Observer = field(default_factory=_NoObserver)
    active: int = 0
    draining: bool = False
    _waiters: collections.deque[asyncio.Future[None]] = field(default_factory=collections.deque)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def expected_wait_s(self, position: int) -> float:
        """Seconds until the ``position``-th waiter (1-based) gets a slot, from the measured service time."""
        return math.ceil(position / max(1, self.capacity)) * self.service_s

    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.expected_wait_s(self.waiting + 1)))

    def check(self) -> None:
        """Refuse now (``OverloadedError``) when draining or when the waiting line is already full."""
        if self.draining:
            self.observer.rejected("shutting_down")
            raise ShuttingDownError("the server is shutting down", 5)
        if self.active >= self.capacity and self.waiting >= self.max_queue:
            self.observer.rejected("queue_full")
            raise OverloadedError(f"{self.waiting} questions are already waiting", self.retry_after_s())

    async def acquire(self, disconnected: Disconnected | None = None) -> None:
        """A slot, or ``OverloadedError`` at once, or ``ClientGoneError`` if the client leaves while waiting."""
        self.check()
        if self.active < self.capacity and not self._waiters:
            self.active += 1
            self._report()
            return
        if self.expected_wait_s(self.waiting + 1) > self.max_wait_s:
            self.observer.rejected("wait_too_long")
            raise OverloadedError(
                f"the expected wait ({self.expected_wait_s(self.waiting + 1):.0f} s) exceeds {self.max_wait_s:.0f} s",
                self.retry_after_s(),
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._report()
        try:
            await self._wait(waiter, disconnected)
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release_slot()  # handed a slot at the moment we gave up: pass it on
            self._report()
            raise
        self._report()

    async def _wait(self, waiter: asyncio.Future[None], disconnected: Disconnected | None) -> None:
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(waiter), _POLL_S)
                return
            except TimeoutError:
                if disconnected is not None and await disconnected():
                    raise ClientGoneError("the client left while waiting") from None

    def release(self, seconds: float | None = None) -> None:
        """Free a slot; ``seconds`` (the generation's wall time) refines the service-time estimate."""
        if seconds is not None and seconds > 0:
            self.service_s = 0.8 * self.service_s + 0.2 * seconds
        self._release_slot()
        self._report()

    def _release_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next waiter
                return
        self.active = max(0, self.active - 1)

    def drain(self) -> None:
        """Shutting down: refuse newcomers and every waiter (``ShuttingDownError``)."""
        self.draining = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ShuttingDownError("the server is shutting down", 5))
        self._report()

    def stats(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "active": self.active,
            "waiting": self.waiting,
            "max_queue": self.max_queue,
            "service_time_s": round(self.service_s, 2),
            "saturated": self.active >= self.capacity and self.waiting >= self.max_queue,
            "draining": self.draining,
        }

    def _report(self) -> None:
        self.observer.queue(self.waiting, self.active)


@dataclass(eq=False)
class _Running:
    cancel: threading.Event = field(default_factory=threading.Event)


class AnswerScheduler:
    """``RagService`` for concurrent async callers: admission control, a generation executor, cancellation."""

    def __init__(self, service: RagService, admission: Admission, observer: Observer | None = None) -> None:
        self.service = service
        self.admission = admission
        self.observer = observer or admission.observer
        self.executor = ThreadPoolExecutor(max_workers=admission.capacity, thread_name_prefix="llm")
        self._running: set[_Running] = set()

    async def stream(
        self,
        question: str,
        top_k: int | None = None,
        history: Sequence[Any] | None = None,
        *,
        session: str | None = None,
        disconnected: Disconnected | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """``token`` events as generated, then ``done`` (the ``/ask`` body) or ``error``.

        Bad input, an empty index, an unreachable backend before any token, an overload and a client
        gone while waiting raise before the first event, so the HTTP status can still say so.
        """
        loop = asyncio.get_running_loop()
        self.admission.check()  # a full queue refuses before paying for retrieval
        plan: Plan = await loop.run_in_executor(None, self._prepare, question, top_k, history, session)
        if plan.final is not None:
            answer = await loop.run_in_executor(None, self._complete_fixed, plan, session)
            yield {"event": "done", "data": answer_to_dict(answer)}
            return
        await self.admission.acquire(disconnected)
        started = time.perf_counter()
        running = _Running()
        pieces: list[str] = []
        tokens: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        job: asyncio.Future[None] | None = None
        try:
            self._running.add(running)
            job = loop.run_in_executor(self.executor, self._generate, plan, running.cancel, loop, tokens)
            async for piece in self._pieces(tokens, running, disconnected):
                if not pieces:
                    self.observer.first_token(time.perf_counter() - plan.started)
                pieces.append(piece)
                yield {"event": "token", "data": {"text": piece}}
            await job
        except LlmUnavailableError as exc:
            await loop.run_in_executor(None, self.service.fail, plan, exc, len(pieces))
            if not pieces:
                raise
            yield {"event": "error", "data": {"detail": str(exc)}}
            return
        finally:
            running.cancel.set()
            self._running.discard(running)
            if job is not None and not self.admission.draining:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(job)  # the slot is free only once the model stopped
            # draining: no slot will be handed out again, and a prompt still being evaluated would hold the
            # answer past the shutdown grace; the model process is stopped by the lifespan shutdown
            seconds = time.perf_counter() - started
            self.admission.release(seconds)
            if pieces:
                self.observer.generated(len(pieces), seconds)
        if self.admission.draining and plan.stopped == "cancelled":
            yield {"event": "error", "data": {"detail": "the server is shutting down: ask again in a few seconds"}}
            return
        answer = await loop.run_in_executor(None, self._complete, plan, "".join(pieces), len(pieces), session)
        yield {"event": "done", "data": answer_to_dict(answer)}

    async def ask(
        self,
        question: str,
        top_k: int | None = None,
        history: Sequence[Any] | None = None,
        *,
        session: str | None = None,
        disconnected: Disconnected | None = None,
    ) -> dict[str, Any]:
        """The ``/ask`` body; a client that leaves mid-generation stops it (``ClientGoneError``)."""
        done: dict[str, Any] | None = None
        async for event in self.stream(question, top_k, history, session=session, disconnected=disconnected):
            if event["event"] == "done":
                done = event["data"]
            elif event["event"] == "error":
                raise LlmUnavailableError(self.service.llm.backend, event["data"]["detail"])
        if done is None:
            raise ClientGoneError("the generation was stopped")
        return done

    def drain(self) -> None:
        """Shutdown: refuse new questions and waiters, stop running generations at their next token."""
        self.admission.drain()
        for running in list(self._running):
            running.cancel.set()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def stats(self) -> dict[str, Any]:
        return self.admission.stats()

    # -- in threads ----------------------------------------------------------------------------------
    def _prepare(self, question: str, top_k: int | None, history: Sequence[Any] | None, session: str | None) -> Plan:
        with trace_session(session):
            return self.service.prepare(question, top_k, history, stream=True, conversation_id=session)

    def _complete_fixed(self, plan: Plan, session: str | None) -> Answer:
        with trace_session(session):
            return self.service.complete_fixed(plan)

    def _complete(self, plan: Plan, text: str, n_pieces: int, session: str | None) -> Answer:
        with trace_session(session):
            return self.service.complete(plan, text, n_pieces)

    def _generate(
        self,
        plan: Plan,
        cancel: threading.Event,
        loop: asyncio.AbstractEventLoop,
        out: asyncio.Queue[tuple[str, Any]],
    ) -> None:
        """On the generation executor: every piece handed to the event loop, then an end or error marker."""
        try:
            for piece in self.service.tokens(plan, cancel):
                loop.call_soon_threadsafe(out.put_nowait, ("token", piece))
            loop.call_soon_threadsafe(out.put_nowait, ("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop, which re-raises
            loop.call_soon_threadsafe(out.put_nowait, ("error", exc))

    async def _pieces(
        self, out: asyncio.Queue[tuple[str, Any]], running: _Running, disconnected: Disconnected | None
    ) -> AsyncIterator[str]:
        checked, yielded = time.monotonic(), False
        while True:
            if self.admission.draining and not yielded:
                # still evaluating the prompt (no token yet, no status line sent): a 503 + Retry-After now
                # rather than a connection cut when the shutdown grace runs out
                running.cancel.set()
                raise ShuttingDownError("the server is shutting down", 5)
            if disconnected is not None and time.monotonic() - checked >= _POLL_S:
                checked = time.monotonic()
                if await disconnected():
                    running.cancel.set()
                    raise ClientGoneError("the client left during the generation")
            try:
                kind, value = await asyncio.wait_for(out.get(), _POLL_S)
            except TimeoutError:
                continue
            if kind == "token":
                yielded = True
                yield value
            elif kind == "error":
                raise value
            else:
                return
