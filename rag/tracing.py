"""Traces of each answer in MLflow (experiment ``mlflow.rag_traces_experiment``), off the request path.

The request thread only draws the sample and puts a small record on a bounded queue (the shared
``genaiops.worker.QueueWorker``): a few microseconds, whatever state MLflow is in. Its thread turns each
record into an MLflow 3
trace with the imperative client API (``MlflowClient.start_trace`` / ``start_span``): a root span
``rag.ask`` and child spans ``retrieve``, ``generate`` and ``grounding_check``, their timestamps
rebuilt from the timings the service measured, with prompt name + version, model and top-k.
MLflow's own async trace logging then writes them. Why not ``with mlflow.start_span()`` around
each step: that runs MLflow's tracer set-up (and, with async logging off, the export itself)
inside the request, and generation happens in another thread than retrieval.

User feedback (``POST /feedback``) goes through the same queue and thread: ``feedback`` queues it, and
the exporter attaches it to the request's trace as an MLflow assessment (a ``Feedback``, name
``user_feedback``, value True for thumbs up, the comment as rationale). The trace is found by the
request id: remembered when this process exported it, else searched by its ``request_id`` tag (another
replica, a restart). A request that was not traced (sampled out, dropped) gets no assessment.

Failure is never the user's problem: a full queue drops the record with a (rate-limited) warning;
a tracking server that does not answer a short probe is not asked again for ``retry_after_s``
and its records are dropped, counted, and warned about; a process whose MLflow points at another
store (tests, notebooks) gets no trace rather than having its tracking URI switched under it.

Every MLflow call goes through the store's adapter (``genaiops.tracking.MlflowStore``); MLflow's trace
exporter reads only the process-wide URI, so the tracer binds it once, when it is built.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from genaiops.settings import Settings
from genaiops.tracking import MlflowStore, mlflow_store
from genaiops.worker import QueueWorker
from rag.types import Answer, ChatMessage

log = logging.getLogger(__name__)

SNIPPET_CHARS = 300  # passage text kept in a retrieve span: enough to recognise it, small enough to store
# The conversation the current request belongs to: set by the API around a RagService call, read by
# ``MlflowTracer.record`` on the request's thread, written as ``mlflow.trace.session`` metadata.
_SESSION: contextvars.ContextVar[str | None] = contextvars.ContextVar("genaiops_trace_session", default=None)
STATS = ("queued", "sampled_out", "dropped_full", "dropped_unreachable", "dropped_other_store", "exported", "failed",
         "feedback_queued", "feedback_logged", "feedback_no_trace")  # fmt: skip
FEEDBACK_NAME = "user_feedback"  # the assessment name of thumbs up / down, searchable as feedback.user_feedback
REMEMBERED_TRACES = 10_000  # request id -> trace id kept for feedback; older ones are searched by tag
_SEARCHABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # ids safe to put in a search filter


@contextlib.contextmanager
def trace_session(conversation_id: str | None) -> Iterator[None]:
    """Traces recorded inside this block belong to ``conversation_id`` (MLflow groups them as a session)."""
    token = _SESSION.set(conversation_id)
    try:
        yield
    finally:
        _SESSION.reset(token)


class Tracer(Protocol):
    def record(
        self,
        answer: Answer,
        *,
        question: str,
        top_k: int,
        messages: Sequence[ChatMessage] = (),
        prompt_source: str = "file",
        stream: bool = False,
        error: str | None = None,
    ) -> bool: ...

    def feedback(self, request_id: str, rating: str, comment: str | None = None) -> bool: ...

    def close(self) -> None: ...


class NullTracer:
    """No tracing (sample rate 0, the evaluation, tests that do not look at traces)."""

    def record(self, answer: Answer, **context: Any) -> bool:
        return False

    def feedback(self, request_id: str, rating: str, comment: str | None = None) -> bool:
        return False

    def flush(self, timeout_s: float = 10.0) -> bool:
        return True

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class TraceRecord:
    """What the request hands over: the finished answer and the little the answer does not carry."""

    answer: Answer
    question: str
    top_k: int
    messages: tuple[ChatMessage, ...]
    prompt_source: str
    stream: bool
    end_ns: int
    error: str | None = None  # why the request failed, when it did
    session: str | None = None  # the conversation id (``trace_session``), when there is one


@dataclass(frozen=True)
class FeedbackRecord:
    """A thumbs up / down to attach to the trace of ``request_id``."""

    request_id: str
    rating: str  # "up" | "down"
    comment: str | None


class MlflowTracer:
    """Bounded queue + one export thread. ``record`` never blocks and never raises."""

    def __init__(
        self,
        settings: Settings,
        *,
        sample_rate: float | None = None,
        queue_size: int | None = None,
        retry_after_s: float = 30.0,
        rng: Callable[[], float] = random.random,
        store: MlflowStore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or mlflow_store(settings)
        self.store.bind_process()  # the trace exporter reads only MLflow's process-wide URI
        self.uri = self.store.uri
        self.sample_rate = settings.mlflow.trace_sample_rate if sample_rate is None else sample_rate
        self.retry_after_s = retry_after_s
        self._rng = rng
        self._worker: QueueWorker[TraceRecord | FeedbackRecord] = QueueWorker(
            "rag-trace-export", self._export, queue_size=queue_size or settings.mlflow.trace_queue_size
        )
        self._trace_ids: OrderedDict[str, str] = OrderedDict()  # request id -> trace id, exported here
        self._lock = threading.Lock()
        self.stats = dict.fromkeys(STATS, 0)
        self._warned_at: dict[str, float] = {}
        self._experiment_id: str | None = None
        self._probe_after = 0.0  # monotonic time before which the store is not probed again

    # -- request path ------------------------------------------------------------------------
    def record(
        self,
        answer: Answer,
        *,
        question: str,
        top_k: int,
        messages: Sequence[ChatMessage] = (),
        prompt_source: str = "file",
        stream: bool = False,
        error: str | None = None,
    ) -> bool:
        """Queue ``answer`` for tracing if it is sampled; False when it will not be traced.

        With ``error`` the request failed (the LLM backend went away): ``answer`` holds what was
        done before, and the trace is marked ERROR with the reason.
        """
        try:
            if self._worker.closed or self._rng() >= self.sample_rate:
                self._count("sampled_out")
                return False
            item = TraceRecord(
                answer, question, top_k, tuple(messages), prompt_source, stream, time.time_ns(), error, _SESSION.get()
            )
            queued = self._worker.submit(item)
        except Exception:  # noqa: BLE001 - tracing must never cost a request its answer
            log.debug("could not queue a trace", exc_info=True)
            return False
        if not queued:
            self._count("dropped_full")
            size = self._worker.queue_size
            self._warn("full", f"trace queue full ({size}): dropping traces until the export catches up")
            return False
        self._count("queued")
        return True

    def feedback(self, request_id: str, rating: str, comment: str | None = None) -> bool:
        """Queue a rating for the trace of ``request_id``; False when it was dropped (never blocks, never raises)."""
        if self._worker.closed:
            return False
        try:
            queued = self._worker.submit(FeedbackRecord(request_id, rating, comment))
        except Exception:  # noqa: BLE001 - feedback to MLflow must never cost the user their 200
            log.debug("could not queue feedback", exc_info=True)
            return False
        if not queued:
            self._count("dropped_full")
            size = self._worker.queue_size
            self._warn("full", f"trace queue full ({size}): dropping feedback until the export catches up")
            return False
        self._count("feedback_queued")
        return True

    # -- housekeeping ------------------------------------------------------------------------
    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued record is handled and MLflow has written it (tests, shutdown)."""
        if not self._worker.flush(timeout_s):
            return False
        if self.stats["exported"]:
            import mlflow

            mlflow.flush_trace_async_logging()
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Export what is queued (bounded wait), then stop the thread. MLflow flushes its own queue at exit."""
        self._worker.close(timeout_s)

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _warn(self, key: str, message: str, every_s: float = 60.0) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(key, -every_s) >= every_s:
            self._warned_at[key] = now
            log.warning(message)

    # -- export thread -----------------------------------------------------------------------
    def _export(self, batch: list[TraceRecord | FeedbackRecord]) -> None:
        for item in batch:
            try:
                self._handle(item)
            except Exception:  # noqa: BLE001 - one bad trace must not stop the exporter
                self._count("failed")
                request_id = item.request_id if isinstance(item, FeedbackRecord) else item.answer.request_id
                log.warning("could not export the trace / feedback of request %s", request_id, exc_info=True)

    def _handle(self, item: TraceRecord | FeedbackRecord) -> None:
        if not self.store.is_bound():
            self._count("dropped_other_store")
            self._warn("store", f"trace dropped: MLflow in this process now points at another store than {self.uri}")
            return
        experiment_id = self._experiment()
        if experiment_id is None:
            self._count("dropped_unreachable")
            return
        if isinstance(item, FeedbackRecord):
            attached = attach_feedback(self.store, item, experiment_id, self._trace_id)
            self._count("feedback_logged" if attached else "feedback_no_trace")
            return
        trace_id = export_trace(self.store, item, experiment_id)
        self._trace_ids[item.answer.request_id] = trace_id
        while len(self._trace_ids) > REMEMBERED_TRACES:
            self._trace_ids.popitem(last=False)
        self._count("exported")

    def _trace_id(self, request_id: str, experiment_id: str) -> str | None:
        """The trace of ``request_id``: exported here, else found by its tag (another replica, a restart)."""
        if request_id in self._trace_ids:
            import mlflow

            mlflow.flush_trace_async_logging()  # MLflow writes traces on its own thread: the trace must exist first
            return self._trace_ids[request_id]
        return find_trace_id(self.store, request_id, experiment_id)

    def _experiment(self) -> str | None:
        """The traces experiment id; None while the store is unreachable (probed at most every retry_after_s)."""
        now = time.monotonic()
        if self._experiment_id is not None and (not self.store.is_server or now < self._probe_after):
            return self._experiment_id
        if now < self._probe_after:
            return None
        self._probe_after = now + self.retry_after_s
        if not self.store.reachable(timeout_s=1.0):
            self._warn("down", f"tracking server {self.uri} unreachable: traces dropped for {self.retry_after_s:.0f} s")
            self._experiment_id = None
            return None
        if self._experiment_id is None:
            self._experiment_id = self.store.experiment_id(self.settings.mlflow.rag_traces_experiment)
        return self._experiment_id


def _ns(ms: float) -> int:
    return int(ms * 1_000_000)


def export_trace(store: MlflowStore, item: TraceRecord, experiment_id: str) -> str:
    """One MLflow trace for one answer; span boundaries come from the service's measured timings.

    retrieve starts with the request; grounding_check ends with it and generate ends where the
    check starts. The gap between retrieve and generate is prompt building.
    """
    from mlflow.entities import SpanType

    a, timings = item.answer, item.answer.timings_ms
    mode, status = ("error", "ERROR") if item.error else (a.mode, "OK")
    end = item.end_ns
    start = end - _ns(timings.get("total", 0.0))
    prompt = {"name": a.prompt_name, "version": a.prompt_version, "source": item.prompt_source}
    attributes: dict[str, Any] = {  # any JSON value: MLflow serialises span attributes
        "request_id": a.request_id,
        "prompt": prompt,
        "model": a.model,
        "top_k": item.top_k,
        "stream": item.stream,
        "timings_ms": timings,
    }
    if item.error:
        attributes["error"] = item.error
    client = store.client
    root = client.start_trace(
        "rag.ask",
        span_type=SpanType.CHAIN,
        inputs={"question": item.question, "top_k": item.top_k},
        attributes=attributes,
        tags={
            "request_id": a.request_id,
            "prompt": f"{a.prompt_name}@{a.prompt_version}",
            "model": a.model,
            "mode": mode,
        },
        experiment_id=experiment_id,
        start_time_ns=start,
    )
    trace_id, parent = root.trace_id, root.span_id
    if item.session:
        _set_session(trace_id, item.session)

    def child(
        name: str, kind: str, begin: int, finish: int, inputs: Any, outputs: Any, attributes: dict, status: str = "OK"
    ) -> None:
        span = client.start_span(
            name, trace_id, parent, span_type=kind, inputs=inputs, attributes=attributes, start_time_ns=begin
        )
        client.end_span(trace_id, span.span_id, outputs=outputs, status=status, end_time_ns=max(begin, finish))

    if timings.get("retrieve", 0.0) > 0:
        documents = [
            {
                "id": s.chunk.id,
                "page_content": s.chunk.text[:SNIPPET_CHARS],
                "metadata": {"source": s.chunk.source, "heading": s.chunk.heading, "score": round(s.score, 4)},
            }
            for s in a.sources
        ]
        retrieve_end = start + _ns(timings["retrieve"])
        inputs = {"query": item.question, "top_k": item.top_k}
        child("retrieve", SpanType.RETRIEVER, start, retrieve_end, inputs, documents, {"top_k": item.top_k})
    grounding = _ns(timings.get("grounding", 0.0))
    if timings.get("generate", 0.0) > 0:
        generate_end = end - grounding
        child(
            "generate",
            SpanType.CHAT_MODEL,
            generate_end - _ns(timings["generate"]),
            generate_end,
            {"messages": [{"role": role, "content": content} for role, content in item.messages]},
            {"error": item.error} if item.error else {"tokens": a.tokens},
            {"model": a.model, "tokens": a.tokens, "first_token_ms": timings.get("first_token"), "prompt": prompt},
            status,
        )
    if "grounding" in timings:
        verdict = {"mode": a.mode, "grounded": a.grounded}
        child("grounding_check", SpanType.GUARDRAIL, end - grounding, end, {"passages": len(a.sources)}, verdict, {})
    outputs: dict[str, Any] = {"answer": a.answer, "mode": mode, "grounded": a.grounded}
    outputs["sources"] = [c.chunk.id for c in a.sources]
    if item.error:
        outputs = {"error": item.error, "mode": mode}
    client.end_trace(trace_id, outputs=outputs, status=status, end_time_ns=end)
    return trace_id


def _set_session(trace_id: str, session: str) -> None:
    """``mlflow.trace.session`` metadata, as ``mlflow.update_current_trace(session_id=...)`` sets it."""
    from mlflow.tracing.constant import TraceMetadataKey
    from mlflow.tracing.trace_manager import InMemoryTraceManager

    with InMemoryTraceManager.get_instance().get_trace(trace_id) as trace:
        if trace is not None:
            trace.info.trace_metadata[TraceMetadataKey.TRACE_SESSION] = session


def find_trace_id(store: MlflowStore, request_id: str, experiment_id: str) -> str | None:
    """The newest trace tagged with ``request_id`` in the traces experiment, or None."""
    if not _SEARCHABLE_ID.match(request_id):
        return None
    found = store.search_traces(experiment_id, f"tags.request_id = '{request_id}'", limit=1, include_spans=False)
    return found[0].info.trace_id if found else None


def attach_feedback(
    store: MlflowStore, item: FeedbackRecord, experiment_id: str, trace_id_of: Callable[[str, str], str | None]
) -> bool:
    """Log the rating as an assessment of the request's trace; False when the request has no trace."""
    from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback

    trace_id = trace_id_of(item.request_id, experiment_id)
    if trace_id is None:
        return False
    feedback = Feedback(
        name=FEEDBACK_NAME,
        value=item.rating == "up",
        source=AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="genaiops-api"),
        rationale=item.comment or None,
        metadata={"request_id": item.request_id, "rating": item.rating},
    )
    store.tracing_client().log_assessment(trace_id, feedback)
    return True


def build_tracer(settings: Settings) -> Tracer:
    """An MLflow tracer, or none at all when the sample rate is 0."""
    if settings.mlflow.trace_sample_rate <= 0:
        return NullTracer()
    return MlflowTracer(settings)
