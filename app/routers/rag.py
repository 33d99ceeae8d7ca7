"""``POST /ask`` and ``POST /ask/stream``: thin HTTP over ``rag.service.RagService``.

The work goes through ``rag.serving.AnswerScheduler``: retrieval on the thread pool, waiting for the
model without holding a thread, generation on its own executor. Errors are mapped once in
app/errors.py: bad input -> 422 naming the field, a busy model -> 429 + Retry-After, empty index or
unreachable LLM backend -> 503 with the fix or the backend's name.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.auth import CLIENT_KEY_RESPONSES, Client, ClientDep
from app.deps import SchedulerDep
from app.routers.conversations import open_conversation, save_exchange
from rag.ask_log import answer_from_response
from rag.store import VectorStoreUnavailableError
from rag.types import LlmUnavailableError

log = logging.getLogger(__name__)
router = APIRouter(tags=["rag"])


class HistoryTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        description="The question, in French or English (rag.max_question_chars at most).",
        examples=["Qu'est-ce que le MLOps ?"],
        # documented for clients and fuzzers; enforced with messages that say what to fix (below, and the service)
        json_schema_extra={"minLength": 1, "maxLength": 2000, "pattern": r"\S"},
    )
    top_k: int | None = Field(None, ge=1, le=20, description="Passages to retrieve; default settings rag.top_k.")
    history: list[HistoryTurn] = Field(
        default_factory=list,
        max_length=100,
        description="Earlier turns, oldest first, for stateless callers; with a conversation_id the server's are used.",
    )
    conversation_id: str | None = Field(
        None, min_length=1, max_length=64, description="Continue this conversation; none starts a new one."
    )

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be empty")
        return value


class SourcePublic(BaseModel):
    id: str
    source: str = Field(description="The file the passage comes from (what `DELETE /documents` names).")
    title: str = Field("", description="The document's title: what to show users.")
    heading: str
    score: float
    text: str


class PromptRef(BaseModel):
    name: str
    version: str


class AskResponse(BaseModel):
    request_id: str
    answer: str
    mode: Literal["generative", "extractive", "refusal"]
    grounded: bool
    sources: list[SourcePublic]
    prompt: PromptRef
    model: str
    tokens: int = Field(0, description="Pieces of text the LLM generated (0 for a refusal).")
    retrieval_score: float | None = Field(
        None, description="Best relevance of the retrieved passages, compared with the floor (None: not retrieved)."
    )
    timings_ms: dict[str, float]
    conversation_id: str | None = Field(
        None, description="The conversation this turn was saved in (None only while the database is down)."
    )


_ASK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CLIENT_KEY_RESPONSES,
    400: {"description": "The body is not JSON"},
    404: {"description": "Unknown conversation_id (or another client key's)"},
    422: {},
    429: {"description": "The model is busy: retry after the Retry-After header's seconds"},
    503: {"description": "index empty / LLM down / conversation store down / shutting down"},
}


def _history(body: AskRequest) -> list[dict[str, str]]:
    return [turn.model_dump() for turn in body.history]


def _record(request: Request, question: str, answer: Any, conversation_id: str | None = None) -> None:
    """Queue the answer in the ask log (monitoring, /feedback); a log that is down never fails the answer."""
    ask_log = getattr(request.app.state, "ask_log", None)
    if ask_log is None:
        return
    try:
        ask_log.record(question, answer, conversation_id=conversation_id)
    except Exception:  # noqa: BLE001 - monitoring must not cost the user their answer
        log.warning("could not record ask %s in the ask log", getattr(answer, "request_id", "?"), exc_info=True)


@router.post("/ask", response_model=AskResponse, responses=_ASK_RESPONSES)
async def ask(body: AskRequest, client: ClientDep, scheduler: SchedulerDep, request: Request) -> dict[str, Any]:
    """Answer from the course, with numbered sources ([1] is ``sources[0]``), in a conversation kept on the server.

    A busy model answers 429 with ``Retry-After`` at once; a client that leaves stops its generation.
    """
    conversation_id, history = await run_in_threadpool(
        open_conversation, request, body.conversation_id, client, _history(body)
    )
    data = await scheduler.ask(
        body.question, body.top_k, history, session=conversation_id, disconnected=request.is_disconnected
    )
    await run_in_threadpool(_finish_exchange, request, body, client, conversation_id, data)
    return {**data, "conversation_id": conversation_id}


def _finish_exchange(
    request: Request, body: AskRequest, client: Client, conversation_id: str | None, data: dict
) -> None:
    """After an answer: the ask log row and the conversation's two turns."""
    _record(request, body.question, answer_from_response(data), conversation_id)
    save_exchange(request, conversation_id, client, body.question, data.get("answer", ""), data["request_id"])


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event['event']}\ndata: {json.dumps(event['data'], ensure_ascii=False)}\n\n"


@router.post("/ask/stream", responses={200: {"content": {"text/event-stream": {}}}, **_ASK_RESPONSES})
async def ask_stream(
    body: AskRequest, client: ClientDep, scheduler: SchedulerDep, request: Request
) -> StreamingResponse:
    """Server-sent events: ``token`` {text}..., then ``done`` (the ``/ask`` body) or ``error`` {detail}.

    The first event is computed before answering, so validation, an empty index, an unreachable
    backend and a busy model (429 + ``Retry-After``) keep their status instead of an error inside a
    200 stream. A client that leaves stops the generation at its next token.
    """
    conversation_id, history = await run_in_threadpool(
        open_conversation, request, body.conversation_id, client, _history(body)
    )
    events = scheduler.stream(body.question, body.top_k, history, session=conversation_id)
    first: dict[str, Any] | None = await anext(events, None)

    async def body_events() -> AsyncIterator[str]:
        event = first
        try:
            while event is not None:
                if event["event"] == "done":
                    event["data"]["conversation_id"] = conversation_id
                    await run_in_threadpool(_finish_exchange, request, body, client, conversation_id, event["data"])
                yield _sse(event)
                event = await anext(events, None)
        except (LlmUnavailableError, VectorStoreUnavailableError) as exc:
            yield _sse({"event": "error", "data": {"detail": str(exc)}})
        except Exception as exc:  # noqa: BLE001 - the status line is sent: the stream must say it failed
            log.exception("ask/stream failed")
            yield _sse({"event": "error", "data": {"detail": f"internal error: {type(exc).__name__}"}})
        finally:
            await events.aclose()  # a client that left: the generation stops at its next token

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body_events(), media_type="text/event-stream", headers=headers)
