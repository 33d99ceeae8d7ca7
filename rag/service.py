"""The RAG service: question in, grounded answer with numbered sources out (whole or streamed).

Steps: validate -> screen injection -> retrieve -> refuse when out of scope -> prompt -> generate ->
grounding guard -> citations. The API, the CLI and the evaluation all go through ``RagService``,
so they answer identically: the CLI and the evaluation call ``ask`` in their own thread, the API
goes through ``rag.serving.AnswerScheduler`` (admission control, generation on its own executor).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from genaiops.settings import Settings
from prompts import PromptTemplate
from prompts.selector import PromptSelector, build_selector
from rag.answer import decide, runaway, trim_incomplete, units_to_keep
from rag.context import focus
from rag.followup import previous_answer, previous_question, retrieve_in_conversation
from rag.grounding import GroundingChecker
from rag.lookup import lookup_row
from rag.prompting import (
    INJECTION_REFUSAL,
    NOT_COVERED,
    BuiltPrompt,
    Lang,
    build_messages,
    detect_language,
    looks_like_injection,
    system_prompt,
)
from rag.tracing import NullTracer, Tracer, build_tracer
from rag.types import Answer, ChatMessage, ChatModel, LlmUnavailableError, Mode, Retrieval

log = logging.getLogger(__name__)

TOP_K_RANGE = (1, 20)
_CHARS_PER_TOKEN = 3  # French text through Qwen's tokenizer, rounded down to stay inside n_ctx


class InvalidRequestError(ValueError):
    """Bad user input; ``field`` names what to fix (maps to HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def validate_question(question: str, top_k: int | None, max_chars: int) -> str:
    """The question, stripped, or the field to fix: callers check it before paying for a model load."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidRequestError("question", "question must not be empty")
    if len(question) > max_chars:
        raise InvalidRequestError("question", f"question is {len(question)} characters long; the limit is {max_chars}")
    low, high = TOP_K_RANGE
    if top_k is not None and not low <= top_k <= high:
        raise InvalidRequestError("top_k", f"top_k must be between {low} and {high}")
    return question.strip()


@dataclass
class Plan:
    """One request on its way: what was asked, what was found, and the prompt or the final answer."""

    request_id: str
    question: str
    lang: Lang
    started: float
    timings: dict[str, float]
    top_k: int | None = None
    stream: bool = False
    final: Answer | None = None  # set when no generation is needed (refusals)
    prompt: BuiltPrompt | None = None
    stopped: str = ""  # why generation was cut short, if it was
    retrieval_score: float | None = None  # best relevance found, also when it was below the floor
    template: PromptTemplate | None = None  # the prompt version answering (production, or the canary's candidate)
    confidence: float | None = None  # how surely the passages answer (a follow-up's own relevance)
    previous: str = ""  # the user question this one follows, if any (a follow-up's table lookup)
    search: str = ""  # what was searched: the question, or a follow-up with the turn it follows
    said: str = ""  # a follow-up's previous answer (its opening): an answer must say more than it

    @property
    def follow_up(self) -> bool:
        """Searched with the turn it follows (``rag.followup``), not on its own words."""
        return bool(self.search) and self.search != self.question


class RagService:
    """Answers questions about the indexed course. Thread-safe; llama.cpp calls are serialized."""

    def __init__(
        self,
        settings: Settings,
        retriever: Any,
        llm: ChatModel,
        prompt: PromptTemplate,
        tracer: Tracer | None = None,
        selector: PromptSelector | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.llm = llm
        self.selector = selector if selector is not None else PromptSelector(prompt)
        self.tracer: Tracer = tracer or NullTracer()
        rag = settings.rag
        self.checker = GroundingChecker(retriever.embedder, rag.grounding_min_overlap, rag.grounding_min_similarity)

    # -- what callers ask about the service -------------------------------------------------
    @property
    def prompt(self) -> PromptTemplate:
        """The production prompt (the canary's candidate, if any, answers only its share of requests)."""
        return self.selector.production

    @prompt.setter
    def prompt(self, value: PromptTemplate) -> None:
        self.selector = replace(self.selector, production=value)

    def prompt_info(self) -> dict[str, str]:
        return {"name": self.prompt.name, "version": self.prompt.version, "source": self.prompt.source}

    def reload_prompt(self) -> tuple[dict[str, str], dict[str, str]]:
        """Pick up a newly promoted prompt (``prompts:/NAME@production``, else the file) and the canary's
        candidate; (previous, current) production prompt."""
        previous = self.prompt_info()
        self.selector = build_selector(self.settings, self.settings.rag.prompt_name)
        return previous, self.prompt_info()

    def system_prompt(self, lang: Lang = "fr") -> str:
        return system_prompt(self.prompt, lang)

    def readiness(self) -> str:
        """'ready', or why not: an empty index or an LLM backend that cannot answer."""
        try:
            if self.retriever.count() == 0:
                return "index is empty: run genaiops ingest"
        except Exception as exc:  # noqa: BLE001 - a store that cannot count cannot serve
            return f"vector store unavailable: {type(exc).__name__}: {exc}"
        check = getattr(self.llm, "readiness", None)
        return check() if check is not None else "ready"

    def reload_index(self) -> int:
        """Pick up a new ingest without restarting; returns the number of indexed chunks."""
        self.retriever.refresh()
        return int(self.retriever.count())

    def close(self) -> None:
        self.tracer.close()
        close = getattr(self.llm, "close", None)
        if close is not None:
            close()

    # -- answering ---------------------------------------------------------------------------
    # ``prepare`` -> ``tokens`` -> ``complete`` are the three steps; ``ask`` and ``stream`` run them in the
    # caller's thread (CLI, evaluation), ``rag.serving.AnswerScheduler`` runs them under admission control
    # with the generation on its own executor (the API).
    def ask(
        self,
        question: str,
        top_k: int | None = None,
        history: Sequence[Any] | None = None,
        conversation_id: str | None = None,
    ) -> Answer:
        """The whole answer at once (CLI, evaluation).

        ``conversation_id`` keeps every turn of a conversation on one prompt version (canary).
        """
        plan = self.prepare(question, top_k, history, conversation_id=conversation_id)
        if plan.final is not None:
            return self.complete_fixed(plan)
        try:
            pieces = list(self.tokens(plan))
        except LlmUnavailableError as exc:
            self.fail(plan, exc)
            raise
        return self.complete(plan, "".join(pieces), len(pieces))

    def stream(
        self,
        question: str,
        top_k: int | None = None,
        history: Sequence[Any] | None = None,
        conversation_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events for SSE: ``token`` {text} as generated, then ``done`` (the ``/ask`` body) or ``error``.

        Validation, an empty index and retrieval errors raise before the first event is produced.
        """
        plan = self.prepare(question, top_k, history, stream=True, conversation_id=conversation_id)
        if plan.final is not None:
            yield {"event": "done", "data": answer_to_dict(self.complete_fixed(plan))}
            return
        pieces: list[str] = []
        try:
            for piece in self.tokens(plan):
                pieces.append(piece)
                yield {"event": "token", "data": {"text": piece}}
        except LlmUnavailableError as exc:
            self.fail(plan, exc, tokens=len(pieces))
            if not pieces:
                raise
            yield {"event": "error", "data": {"detail": str(exc)}}
            return
        yield {"event": "done", "data": answer_to_dict(self.complete(plan, "".join(pieces), len(pieces)))}

    def prepare(
        self,
        question: str,
        top_k: int | None = None,
        history: Sequence[Any] | None = None,
        stream: bool = False,
        conversation_id: str | None = None,
    ) -> Plan:
        """Validate, screen and retrieve: a plan that either already holds its answer (``final``) or a prompt.

        The prompt version is chosen here, sticky per conversation (the canary's share, if any).
        """
        question = validate_question(question, top_k, self.settings.rag.max_question_chars)
        plan = Plan(uuid.uuid4().hex, question, detect_language(question), time.perf_counter(), {}, top_k, stream)
        plan.template = self.selector.select(conversation_id or plan.request_id)  # the canary hook
        if looks_like_injection(question):
            plan.final = self._fixed(plan, INJECTION_REFUSAL[plan.lang], "refusal", None)
            return plan
        turns = self._history(history)
        plan.previous = previous_question(turns) or ""
        retrieval = self.retrieve(question, turns, top_k)
        plan.search = retrieval.query or question
        plan.said = previous_answer(turns) if plan.follow_up else ""
        plan.retrieval_score = retrieval.best_score
        plan.confidence = retrieval.answer_confidence
        plan.timings["retrieve"] = _ms(plan.started)
        if not retrieval.in_scope:
            plan.final = self._fixed(plan, NOT_COVERED[plan.lang], "refusal", None)
            return plan
        budget = self._context_budget(question, turns)
        texts = None
        if self.settings.rag.context_chars:
            previous = plan.previous if plan.follow_up else ""
            texts = focus(
                question, retrieval.chunks, self.retriever.embedder, self.settings.rag.context_chars, previous
            )
        best_last = self.settings.rag.context_order == "best_last"
        plan.prompt = build_messages(
            plan.template, question, retrieval.chunks, plan.lang, turns, budget, texts, best_last
        )
        return plan

    def tokens(self, plan: Plan, cancel: threading.Event | None = None) -> Iterator[str]:
        """The generation's pieces of text, stopped early on a loop, a ramble or ``cancel`` (client gone).

        The backend's stream is consumed and closed in the caller's thread, so stopping here frees the
        model at the next token (llama.cpp's lock, the server's slot, the Ollama request).
        """
        assert plan.prompt is not None
        started = time.perf_counter()
        generation = self.llm.stream(plan.prompt.messages)
        text = ""
        try:
            for piece in generation:
                plan.timings.setdefault("first_token", _ms(plan.started))
                text += piece
                yield piece
                plan.stopped = runaway(text)
                if plan.stopped:  # a loop or a ramble: stop paying for tokens that will be discarded
                    break
                if cancel is not None and cancel.is_set():
                    plan.stopped = "cancelled"
                    break
        finally:
            close = getattr(generation, "close", None)
            if close is not None:
                close()
            plan.timings["generate"] = round((time.perf_counter() - started) * 1000, 1)

    def complete(self, plan: Plan, generated: str, n_pieces: int) -> Answer:
        """Guard the generation (grounded, extractive or refusal), trace it and return the answer."""
        return self._traced(plan, self._finish(plan, generated, n_pieces))

    def complete_fixed(self, plan: Plan) -> Answer:
        """The answer of a plan that needed no generation (refusal, injection), traced."""
        assert plan.final is not None
        return self._traced(plan, plan.final)

    def fail(self, plan: Plan, exc: Exception, tokens: int = 0) -> None:
        """A failed generation is traced too (status ERROR, the reason): an outage shows in the traces."""
        attempt = self._fixed(plan, "", "refusal", list(plan.prompt.passages) if plan.prompt is not None else [])
        attempt.tokens = tokens
        self._traced(plan, attempt, error=str(exc))

    def retrieve(self, question: str, turns: Sequence[ChatMessage] = (), top_k: int | None = None) -> Retrieval:
        """Passages for the question in its conversation: a follow-up is searched with the turn it follows.

        A follow-up that changes the subject ("Et la capitale de l'Australie ?") must not ride on the
        previous question's relevance: its own content terms must appear in what was found.
        """
        mode = self.settings.rag.followup
        return retrieve_in_conversation(self.retriever, question, turns, top_k, mode, self.llm)

    def _history(self, history: Sequence[Any] | None) -> list[ChatMessage]:
        """The last few user/assistant turns, each cut short: enough for follow-ups, bounded in cost."""
        rag = self.settings.rag
        turns: list[ChatMessage] = []
        for turn in list(history or [])[-rag.history_messages :] if rag.history_messages else []:
            role, content = (turn["role"], turn["content"]) if isinstance(turn, dict) else (turn[0], turn[1])
            if role not in ("user", "assistant"):
                raise InvalidRequestError("history", f"history role must be 'user' or 'assistant', not {role!r}")
            turns.append((role, str(content)[: rag.history_message_chars]))
        return turns

    def _context_budget(self, question: str, turns: list[ChatMessage]) -> int:
        llm = self.settings.llm
        reserved_tokens = llm.max_tokens + 350  # system prompt, delimiters, chat template
        free_chars = (llm.n_ctx - reserved_tokens) * _CHARS_PER_TOKEN - len(question) - sum(len(c) for _, c in turns)
        return max(600, free_chars)

    def _finish(self, plan: Plan, generated: str, n_pieces: int) -> Answer:
        assert plan.prompt is not None
        passages = plan.prompt.passages
        if plan.stopped or n_pieces >= self.settings.llm.max_tokens:
            generated = trim_incomplete(generated, units_to_keep(plan.stopped))
        checked = time.perf_counter()
        decision = decide(
            generated,
            plan.question,
            plan.lang,
            passages,
            self.checker,
            plan.prompt.system,
            self.settings.rag.extractive_sentences,
            retrieval_score=plan.confidence,
            confident_floor=self.settings.rag.confident_floor,
            lookup=lookup_row(plan.question, passages, plan.previous, plan.said),
            previous=plan.previous if plan.follow_up else "",
            said=plan.said,
        )
        plan.timings["grounding"] = _ms(checked)
        if decision.reason:
            log.info("request %s: %s answer (%s)", plan.request_id, decision.mode, decision.reason)
        sources = [] if decision.mode == "refusal" else list(passages)
        answer = self._fixed(plan, decision.text, decision.mode, sources, grounded=decision.grounded)
        answer.tokens = n_pieces
        answer.guard_reason = decision.reason
        return answer

    def _traced(self, plan: Plan, answer: Answer, error: str | None = None) -> Answer:
        """Hand the answer to the tracer: a sample draw and a queue put, the export runs elsewhere."""
        self.tracer.record(
            answer,
            question=plan.question,
            top_k=plan.top_k or self.settings.rag.top_k,
            messages=plan.prompt.messages if plan.prompt is not None else (),
            prompt_source=(plan.template or self.prompt).source,
            stream=plan.stream,
            error=error,
        )
        return answer

    def _fixed(self, plan: Plan, text: str, mode: Mode, sources: list[Any] | None, grounded: bool = False) -> Answer:
        timings = {"retrieve": 0.0, "generate": 0.0, **plan.timings, "total": _ms(plan.started)}
        template = plan.template or self.prompt
        return Answer(
            request_id=plan.request_id,
            answer=text,
            mode=mode,
            grounded=grounded,
            sources=sources or [],
            prompt_name=template.name,
            prompt_version=template.version,
            model=self.llm.name,
            timings_ms=timings,
            retrieval_score=None if plan.retrieval_score is None else round(plan.retrieval_score, 4),
        )


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The ``/ask`` response body (also the ``done`` event of ``/ask/stream`` and ``ask --json``)."""
    return {
        "request_id": answer.request_id,
        "answer": answer.answer,
        "mode": answer.mode,
        "grounded": answer.grounded,
        "sources": [
            {
                "id": s.chunk.id,
                "source": s.chunk.source,
                "title": s.chunk.title or s.chunk.source,
                "heading": s.chunk.heading,
                "score": round(s.score, 4),
                "text": s.chunk.text,
            }  # fmt: skip
            for s in answer.sources
        ],
        "prompt": {"name": answer.prompt_name, "version": answer.prompt_version},
        "model": answer.model,
        "tokens": answer.tokens,
        "retrieval_score": answer.retrieval_score,
        "timings_ms": answer.timings_ms,
    }


def build_rag_service(
    settings: Settings, *, retriever: Any = None, chat_model: ChatModel | None = None, tracer: Tracer | None = None
) -> RagService:
    """Everything the service needs, from settings; tests pass a shared retriever or model.

    ``tracer``: default an MLflow tracer at ``mlflow.trace_sample_rate``; ``NullTracer()`` for none.
    """
    from rag.llm import build_chat_model
    from rag.retrieval import build_retriever

    selector = build_selector(settings, settings.rag.prompt_name)
    retriever = retriever or build_retriever(settings)
    if retriever.count() > 0:
        retriever.refresh()  # build BM25 now rather than on the first question
    llm = chat_model or build_chat_model(settings)
    tracer = tracer if tracer is not None else build_tracer(settings)
    return RagService(settings, retriever, llm, selector.production, tracer, selector)
