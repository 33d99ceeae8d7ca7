"""An OpenAI-compatible face of the RAG: ``GET /v1/models``, ``POST /v1/chat/completions``.

Any OpenAI client (the ``openai`` package, LangChain's ``ChatOpenAI``, Open WebUI) can use genaiops
as a model: the last user message is the question, the earlier user/assistant messages are the
history (system messages are ignored: the answering prompt is ours, versioned). The answer keeps
its ``[n]`` citations and the passages travel in an extra top-level ``sources`` field (plus
``genaiops``: request id, mode, grounding, prompt). A refusal is an ordinary completion whose
``message.refusal`` is set too. Errors have OpenAI's shape (``app.errors``); a busy model or a key
over its limit is a 429 with ``Retry-After``, which OpenAI clients back off on.

Streaming sends the model's tokens as they come, like ``/ask/stream``. When the grounding guard
then replaces the generation (an extractive answer or a refusal), the checked answer follows
after a ``---`` line: a stream cannot take back what it sent, so the reader sees both.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth import CLIENT_KEY_RESPONSES, require_client
from app.deps import SchedulerDep, SettingsDep
from app.errors import ApiError
from rag.ask_log import answer_from_response
from rag.serving import AnswerScheduler
from rag.store import VectorStoreUnavailableError
from rag.types import LlmUnavailableError

log = logging.getLogger(__name__)
router = APIRouter(
    prefix="/v1",
    tags=["openai"],
    dependencies=[Depends(require_client)],
    responses={
        **CLIENT_KEY_RESPONSES,
        400: {"description": "Invalid request (OpenAI error shape)"},
        404: {"description": "Unknown model"},
    },
)
CREATED = 1_735_689_600  # 2025-01-01: a fixed "created" for the one model we list
CORRECTION = "\n\n---\n"


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls...: accepted, unused

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p, max_tokens, user...: accepted, unused

    model: str = Field(examples=["genaiops-rag"])
    messages: list[Message] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(1, ge=1, le=1, description="One choice only.")


def _model(settings: Any) -> dict[str, Any]:
    return {"id": settings.api.openai_model_id, "object": "model", "created": CREATED, "owned_by": "genaiops"}


@router.get("/models")
def list_models(settings: SettingsDep) -> dict[str, Any]:
    """The one model: the RAG over the indexed course."""
    return {"object": "list", "data": [_model(settings)]}


@router.get("/models/{model}")
def get_model(model: str, settings: SettingsDep) -> dict[str, Any]:
    if model != settings.api.openai_model_id:
        raise HTTPException(404, detail=f"model {model!r} does not exist; use {settings.api.openai_model_id!r}")
    return _model(settings)


def _question_and_history(body: ChatCompletionRequest, settings: Any) -> tuple[str, list[dict[str, str]]]:
    if body.model != settings.api.openai_model_id:
        raise HTTPException(404, detail=f"model {body.model!r} does not exist; use {settings.api.openai_model_id!r}")
    last = body.messages[-1]
    if last.role != "user" or not last.text().strip():
        raise _bad_request("the last message must be the user's question", "messages")
    history = [{"role": m.role, "content": m.text()} for m in body.messages[:-1] if m.role in ("user", "assistant")]
    return last.text(), history


def _bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, f"{param}: {message}" if param else message, type_="invalid_request_error")


def _log_ask(request: Request, question: str, answer: Any) -> None:
    ask_log = getattr(request.app.state, "ask_log", None)
    try:
        if ask_log is not None:
            ask_log.record(question, answer)
    except Exception:  # noqa: BLE001 - monitoring must not cost the user their answer
        log.warning("could not record a /v1 ask in the ask log", exc_info=True)


def _extras(body: dict[str, Any]) -> dict[str, Any]:
    """What the OpenAI shape has no field for: the passages and our own verdicts."""
    keys = ("request_id", "mode", "grounded", "prompt", "model", "retrieval_score", "timings_ms")
    return {"sources": body["sources"], "genaiops": {k: body.get(k) for k in keys}}


@router.post(
    "/chat/completions",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "A chat.completion, or chunks with stream"},
        429: {"description": "Model busy or key over its limit (Retry-After)"},
        503: {"description": "index empty / LLM down"},
    },
)
async def chat_completions(
    body: ChatCompletionRequest, settings: SettingsDep, scheduler: SchedulerDep, request: Request
) -> Any:
    """A chat completion answered by the RAG, whole or streamed (``stream: true``)."""
    question, history = _question_and_history(body, settings)
    if body.stream:
        options = body.stream_options or {}
        return await _stream(request, scheduler, question, history, settings.api.openai_model_id, options)
    data = await scheduler.ask(question, history=history, disconnected=request.is_disconnected)
    await run_in_threadpool(_log_ask, request, question, answer_from_response(data))
    refusal = data["answer"] if data["mode"] == "refusal" else None
    message = {"role": "assistant", "content": data["answer"], "refusal": refusal}
    return {
        "id": f"chatcmpl-{data['request_id']}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": settings.api.openai_model_id,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": data["tokens"], "total_tokens": data["tokens"]},
        **_extras(data),
    }


def _correction(streamed: str, final: str) -> str:
    """What to append so the reader ends with the checked answer (see the module docstring)."""
    if final.startswith(streamed):
        return final[len(streamed) :]
    if streamed.startswith(final):  # trimmed to whole sentences: the extra words are harmless
        return ""
    return CORRECTION + final


async def _stream(
    request: Request,
    scheduler: AnswerScheduler,
    question: str,
    history: list[dict[str, str]],
    model: str,
    options: dict[str, Any],
) -> StreamingResponse:
    # the first event before the status line: bad input, a busy or absent model keep their status
    events = scheduler.stream(question, history=history)
    first: dict[str, Any] | None = await anext(events, None)
    created, chunk_id = int(time.time()), f"chatcmpl-{int(time.time() * 1000)}"

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        payload = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model}
        return f"data: {json.dumps({**payload, 'choices': [choice], **extra}, ensure_ascii=False)}\n\n"

    async def sse() -> AsyncIterator[str]:
        event, streamed = first, []
        try:
            yield chunk({"role": "assistant", "content": ""})
            while event is not None:
                if event["event"] == "token":
                    streamed.append(event["data"]["text"])
                    yield chunk({"content": event["data"]["text"]})
                elif event["event"] == "done":
                    data = event["data"]
                    await run_in_threadpool(_log_ask, request, question, answer_from_response(data))
                    if rest := _correction("".join(streamed), data["answer"]):
                        yield chunk({"content": rest})
                    yield chunk({}, "stop", **_extras(data))
                    if options.get("include_usage"):
                        usage = {
                            "prompt_tokens": 0,
                            "completion_tokens": data["tokens"],
                            "total_tokens": data["tokens"],
                        }
                        payload = {"id": chunk_id, "object": "chat.completion.chunk", "created": created}
                        yield f"data: {json.dumps({**payload, 'model': model, 'choices': [], 'usage': usage})}\n\n"
                else:  # "error": the status line is sent; OpenAI clients raise on an error object
                    yield _error_line(str(event["data"].get("detail", "generation failed")))
                    return
                event = await anext(events, None)
            yield "data: [DONE]\n\n"
        except (LlmUnavailableError, VectorStoreUnavailableError) as exc:
            yield _error_line(str(exc))
        except Exception as exc:  # noqa: BLE001 - the status line is sent: the stream must say it failed
            log.exception("/v1/chat/completions stream failed")
            yield _error_line(f"internal error: {type(exc).__name__}")
        finally:
            await events.aclose()  # a client that left: the generation stops at its next token

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(sse(), media_type="text/event-stream", headers=headers)


def _error_line(message: str) -> str:
    return f"data: {json.dumps({'error': {'message': message, 'type': 'server_error', 'code': None}})}\n\n"
