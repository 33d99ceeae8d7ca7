"""Admission control and the answer scheduler, with a slow fake model: quick refusals, drops, cancellation, drain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from genaiops.settings import Settings
from rag.fake_llm import FakeChatModel
from rag.retrieval import HybridRetriever
from rag.service import build_rag_service
from rag.serving import Admission, AnswerScheduler, ClientGoneError, ShuttingDownError
from rag.tracing import NullTracer
from rag.types import OverloadedError

QUESTION = "Quels outils permettent de détecter le drift en production ?"
LONG_REPLY = " ".join(f"Evidently{i}" for i in range(200))  # no loop, no sentence end: runs to the end


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


# ---------------------------------------------------------------- admission alone


def test_capacity_then_a_bounded_queue_then_a_quick_refusal_with_retry_after() -> None:
    async def scenario() -> None:
        admission = Admission(capacity=1, max_queue=1, max_wait_s=100, service_s=7)
        await admission.acquire()
        waiter = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0.01)
        assert (admission.active, admission.waiting) == (1, 1)
        with pytest.raises(OverloadedError) as refused:
            await admission.acquire()
        assert refused.value.retry_after_s == 14  # two generations ahead of a newcomer at 7 s each
        admission.release(seconds=7)
        await asyncio.wait_for(waiter, 1)  # the slot went straight to the waiter
        assert (admission.active, admission.waiting) == (1, 0)

    run(scenario())


def test_a_wait_longer_than_the_deadline_is_refused_at_once() -> None:
    async def scenario() -> None:
        admission = Admission(capacity=2, max_queue=10, max_wait_s=5, service_s=6)
        await admission.acquire()
        await admission.acquire()
        with pytest.raises(OverloadedError, match="expected wait"):
            await asyncio.wait_for(admission.acquire(), 0.5)  # refused, not parked

    run(scenario())


def test_the_service_time_estimate_follows_measured_generations() -> None:
    admission = Admission(capacity=1, max_queue=1, max_wait_s=100, service_s=10)
    admission.active = 1
    for _ in range(20):
        admission.active = 1
        admission.release(seconds=2)
    assert admission.service_s == pytest.approx(2, abs=0.1)


def test_a_waiter_whose_client_left_is_dropped() -> None:
    async def scenario() -> None:
        admission = Admission(capacity=1, max_queue=5, max_wait_s=100, service_s=1)
        await admission.acquire()
        gone = asyncio.Event()

        async def disconnected() -> bool:
            return gone.is_set()

        waiter = asyncio.create_task(admission.acquire(disconnected))
        await asyncio.sleep(0.05)
        gone.set()
        with pytest.raises(ClientGoneError):
            await asyncio.wait_for(waiter, 2)
        assert admission.waiting == 0
        admission.release()
        assert admission.active == 0  # nobody inherited the slot

    run(scenario())


def test_drain_refuses_waiters_and_newcomers() -> None:
    async def scenario() -> None:
        admission = Admission(capacity=1, max_queue=5, max_wait_s=100, service_s=1)
        await admission.acquire()
        waiter = asyncio.create_task(admission.acquire())
        await asyncio.sleep(0.01)
        admission.drain()
        with pytest.raises(ShuttingDownError):
            await waiter
        with pytest.raises(ShuttingDownError):
            await admission.acquire()

    run(scenario())


# ---------------------------------------------------------------- the scheduler over a real index


@pytest.fixture
def slow(course_index: tuple[Settings, HybridRetriever]) -> Iterator[tuple[AnswerScheduler, FakeChatModel]]:
    """A scheduler (1 slot, 1 waiting) over the real course index and a fake model at 20 ms a word."""
    settings, retriever = course_index
    fake = FakeChatModel(default=LONG_REPLY, delay_s=0.02)
    service = build_rag_service(settings, retriever=retriever, chat_model=fake, tracer=NullTracer())
    scheduler = AnswerScheduler(service, Admission(capacity=1, max_queue=1, max_wait_s=100, service_s=2))
    yield scheduler, fake
    scheduler.close()


@pytest.mark.slow  # generations held on purpose
def test_one_generation_at_a_time_and_a_quick_429_beyond_the_queue(slow) -> None:  # type: ignore[no-untyped-def]
    scheduler, fake = slow
    fake.delay_s = 0.005  # the three arrive together, long before the first answer ends

    async def scenario() -> list[object]:
        tasks = [asyncio.create_task(scheduler.ask(QUESTION)) for _ in range(3)]
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = run(scenario())
    refused = [r for r in results if isinstance(r, OverloadedError)]
    answered = [r for r in results if isinstance(r, dict)]
    assert len(refused) == 1 and len(answered) == 2 and refused[0].retry_after_s >= 1
    assert len(fake.calls) == 2
    assert scheduler.stats()["active"] == 0 and scheduler.stats()["waiting"] == 0


@pytest.mark.slow  # generations held on purpose
def test_a_stream_whose_client_leaves_stops_at_the_next_token(slow) -> None:  # type: ignore[no-untyped-def]
    scheduler, fake = slow

    async def scenario() -> None:
        events = scheduler.stream(QUESTION)
        first = await anext(events)
        assert first["event"] == "token"
        await events.aclose()  # what Starlette does when the client disconnects

    run(scenario())
    assert 1 <= fake.calls[0].pieces < len(LONG_REPLY.split()) // 2
    assert scheduler.stats()["active"] == 0


@pytest.mark.slow  # generations held on purpose
def test_a_non_streaming_client_that_leaves_frees_the_model(slow) -> None:  # type: ignore[no-untyped-def]
    scheduler, fake = slow

    async def scenario() -> None:
        polls = 0

        async def disconnected() -> bool:
            nonlocal polls
            polls += 1
            return polls > 2

        with pytest.raises(ClientGoneError):
            await scheduler.ask(QUESTION, disconnected=disconnected)

    run(scenario())
    assert fake.calls[0].pieces < len(LONG_REPLY.split())
    assert scheduler.stats()["active"] == 0


@pytest.mark.slow  # generations held on purpose
def test_drain_ends_a_running_stream_with_an_error_event(slow) -> None:  # type: ignore[no-untyped-def]
    scheduler, _ = slow

    async def scenario() -> list[dict]:
        events = scheduler.stream(QUESTION)
        seen = [await anext(events)]
        scheduler.drain()
        seen += [e async for e in events]
        return seen

    events = run(scenario())
    assert events[-1]["event"] == "error" and "shutting down" in events[-1]["data"]["detail"]
    with pytest.raises(ShuttingDownError):
        run(scheduler.ask(QUESTION))


def test_drain_during_the_prompt_evaluation_is_a_quick_503(course_index) -> None:  # type: ignore[no-untyped-def]
    """No token yet, so no status line sent: the client gets a 503 now, not a connection cut after the grace."""
    settings, retriever = course_index
    fake = FakeChatModel(default=LONG_REPLY, prompt_s=6.0)
    service = build_rag_service(settings, retriever=retriever, chat_model=fake, tracer=NullTracer())
    scheduler = AnswerScheduler(service, Admission(capacity=1, max_queue=1, max_wait_s=100, service_s=2))

    async def scenario() -> float:
        task = asyncio.create_task(scheduler.ask(QUESTION))
        while not fake.calls:  # the model has the prompt
            await asyncio.sleep(0.01)
        drained = time.perf_counter()
        scheduler.drain()
        with pytest.raises(ShuttingDownError):
            await task
        return time.perf_counter() - drained

    try:
        assert run(scenario()) < 4.0  # did not wait for the 6 s prompt evaluation to end
        assert fake.calls[0].pieces == 0
    finally:
        scheduler.close()


@pytest.mark.slow  # generations held on purpose
def test_refusals_need_no_slot(slow) -> None:  # type: ignore[no-untyped-def]
    scheduler, fake = slow
    body = run(scheduler.ask("Donne-moi une recette de crêpes"))
    assert body["mode"] == "refusal" and fake.calls == []
