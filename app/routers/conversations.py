"""``GET /conversations``, ``GET /conversations/{id}``, ``DELETE /conversations/{id}``, and the two
helpers ``/ask`` and ``/ask/stream`` use to continue a conversation and to save its turns.

The store is ``rag.conversations.ConversationStore`` on ``app.state.conversations``. Every lookup
is scoped to the calling client key: another key's conversation is a 404, like one that never was.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from app.auth import CLIENT_KEY_RESPONSES, Client, ClientDep
from app.deps import ConversationsDep, get_conversations
from rag.conversations import new_conversation_id

log = logging.getLogger(__name__)
router = APIRouter(prefix="/conversations", tags=["conversations"], responses=CLIENT_KEY_RESPONSES)

ConversationId = Path(min_length=1, max_length=64, description="The conversation_id /ask returned.")
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such conversation for this client key"}}
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: {"description": "Conversation store unavailable (database)"}}


class ConversationSummary(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    turns: int


class TurnPublic(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    request_id: str | None
    created_at: datetime


class ConversationPublic(BaseModel):
    id: str
    title: str
    turns: list[TurnPublic]


def _not_found(conversation_id: str) -> HTTPException:
    return HTTPException(404, detail=f"unknown conversation {conversation_id!r}")


def open_conversation(
    request: Request, conversation_id: str | None, client: Client, history: list[dict[str, str]]
) -> tuple[str | None, list[dict[str, str]]]:
    """(the id to answer in, the history to answer with) for an ``/ask``; blocking (database).

    No id: a new conversation (saved with its first answer); without a store the answer is given
    anyway, unsaved (id None). An id: its turns are the history unless the caller sent one; an
    unknown id (or another key's) is a 404.
    """
    store = getattr(request.app.state, "conversations", None)
    if conversation_id is None:
        return (new_conversation_id() if store is not None else None), history
    store = get_conversations(request)
    if store.get(conversation_id, client.id) is None:
        raise _not_found(conversation_id)
    return conversation_id, history or store.history(conversation_id)


def save_exchange(
    request: Request, conversation_id: str | None, client: Client, question: str, answer: str, request_id: str
) -> None:
    """Append the question and its answer; a store that fails is logged, never the user's problem."""
    store = getattr(request.app.state, "conversations", None)
    if store is None or conversation_id is None:
        return
    try:
        store.add_exchange(conversation_id, client.id, question, answer, request_id)
    except Exception:  # noqa: BLE001 - the answer is given; losing its turn is logged
        log.warning("could not save request %s in conversation %s", request_id, conversation_id, exc_info=True)


@router.get("", response_model=list[ConversationSummary], responses=_UNAVAILABLE)
async def list_conversations(client: ClientDep, store: ConversationsDep) -> list[ConversationSummary]:
    """This client's conversations, most recently active first; ``title`` is the first question."""
    found = await run_in_threadpool(store.list, client.id)
    return [ConversationSummary(**vars(c)) for c in found]


@router.get("/{conversation_id}", response_model=ConversationPublic, responses={**_NOT_FOUND, **_UNAVAILABLE})
async def get_conversation(client: ClientDep, store: ConversationsDep, conversation_id: str = ConversationId) -> Any:
    """Every turn (user and assistant), oldest first."""
    conversation = await run_in_threadpool(store.get, conversation_id, client.id)
    if conversation is None:
        raise _not_found(conversation_id)
    turns = await run_in_threadpool(store.turns, conversation_id)
    return ConversationPublic(
        id=conversation.id, title=conversation.title, turns=[TurnPublic(**vars(t)) for t in turns]
    )


@router.delete("/{conversation_id}", status_code=204, responses={**_NOT_FOUND, **_UNAVAILABLE})
async def delete_conversation(
    client: ClientDep, store: ConversationsDep, conversation_id: str = ConversationId
) -> None:
    """Delete the conversation and its turns (the ask log keeps its rows, for monitoring)."""
    if not await run_in_threadpool(store.delete, conversation_id, client.id):
        raise _not_found(conversation_id)
