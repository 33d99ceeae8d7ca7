"""``POST /ask`` and ``POST /ask/stream``: thin HTTP over ``rag.service.RagService``.

Blocking work (retrieval, llama.cpp) runs in the thread pool, never on the event loop. Errors a
caller can act on are mapped here: bad input -> 422 naming the field, empty index or unreachable
LLM backend -> 503 with the fix or the backend's name.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.auth import CLIENT_KEY_RESPONSES, Client, ClientDep
from app.deps import RagDep
from app.routers.conversations import open_conversation, save_exchange
from rag.ask_log import answer_from_response
from rag.service import InvalidRequestError, answer_to_dict
from rag.store import VectorStoreUnavailableError
from rag.tracing import trace_session
from rag.types import EmptyIndexError, LlmUnavailableError

_UNAVAILABLE = (EmptyIndexError, LlmUnavailableError, VectorStoreUnavailableError)

log = logging.getLogger(__name__)
router = APIRouter(tags=["rag"])


class HistoryTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="The question, in French or English.", examples=["Qu'est-ce que le MLOps ?"])
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
    source: str
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
    404: {"description": "Unknown conversation_id (or another client key's)"},
    422: {},
    503: {"description": "index empty / LLM down / conversation store down"},
}


def _http_error(exc: Exception) -> HTTPException:
    if isinstance(exc, InvalidRequestError):
        return HTTPException(422, detail=[{"loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}])
    if isinstance(exc, _UNAVAILABLE):
        return HTTPException(503, detail=str(exc))
    raise exc


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
def ask(body: AskRequest, client: ClientDep, rag: RagDep, request: Request) -> dict[str, Any]:
    """Answer from the course, with numbered sources ([1] is ``sources[0]``), in a conversation kept on the server."""
    conversation_id, history = open_conversation(request, body.conversation_id, client, _history(body))
    try:
        with trace_session(conversation_id):
            answer = rag.ask(body.question, top_k=body.top_k, history=history)
    except (InvalidRequestError, *_UNAVAILABLE) as exc:
        raise _http_error(exc) from exc
    _record(request, body.question, answer, conversation_id)
    save_exchange(request, conversation_id, client, body.question, answer.answer, answer.request_id)
    return {**answer_to_dict(answer), "conversation_id": conversation_id}


_END = object()


def _next(events: Iterator[dict[str, Any]], conversation_id: str | None = None) -> Any:
    with trace_session(conversation_id):  # the answer is traced inside next() when it is done
        return next(events, _END)


def _finish_stream(request: Request, body: AskRequest, client: Client, conversation_id: str | None, data: dict) -> None:
    """At the ``done`` event: the ask log row and the conversation's two turns."""
    _record(request, body.question, answer_from_response(data), conversation_id)
    save_exchange(request, conversation_id, client, body.question, data.get("answer", ""), data["request_id"])


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event['event']}\ndata: {json.dumps(event['data'], ensure_ascii=False)}\n\n"


@router.post("/ask/stream", responses={200: {"content": {"text/event-stream": {}}}, **_ASK_RESPONSES})
async def ask_stream(body: AskRequest, client: ClientDep, rag: RagDep, request: Request) -> StreamingResponse:
    """Server-sent events: ``token`` {text}..., then ``done`` (the ``/ask`` body) or ``error`` {detail}.

    The first event is computed before answering, so validation, an empty index and an unreachable
    backend still get their 422 / 503 status instead of an error inside a 200 stream.
    """
    conversation_id, history = await run_in_threadpool(
        open_conversation, request, body.conversation_id, client, _history(body)
    )
    events = rag.stream(body.question, top_k=body.top_k, history=history)
    try:
        first = await run_in_threadpool(_next, events, conversation_id)
    except (InvalidRequestError, *_UNAVAILABLE) as exc:
        raise _http_error(exc) from exc

    async def body_events() -> AsyncIterator[str]:
        event = first
        try:
            while event is not _END:
                if event["event"] == "done":
                    event["data"]["conversation_id"] = conversation_id
                    await run_in_threadpool(_finish_stream, request, body, client, conversation_id, event["data"])
                yield _sse(event)
                event = await run_in_threadpool(_next, events, conversation_id)
        except (InvalidRequestError, *_UNAVAILABLE) as exc:
            yield _sse({"event": "error", "data": {"detail": str(exc)}})
        except Exception as exc:  # noqa: BLE001 - the status line is sent: the stream must say it failed
            log.exception("ask/stream failed")
            yield _sse({"event": "error", "data": {"detail": f"internal error: {type(exc).__name__}"}})
        finally:
            # A client that left: stop the generation. ValueError: the generator is still running in a
            # worker thread; its producer then finishes on its own and releases the model.
            with contextlib.suppress(ValueError):
                events.close()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body_events(), media_type="text/event-stream", headers=headers)
