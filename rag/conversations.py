"""Conversations kept on the server: each ``/ask`` turn pair, so a chat survives a page refresh.

Same database as the request logs (``settings.database_url``; tables made by the migrations in
``genaiops/migrations``). Unlike the logs, turns are written synchronously: the next question of
the conversation must find them. A conversation belongs to the client key that created it
(``owner``); asked for with another key it does not exist (the API's 404). ``owner=None`` is the
API without client keys: every conversation is visible.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genaiops.db import make_engine
from genaiops.settings import Settings

TITLE_CHARS = 120
_metadata = sa.MetaData()
conversations = sa.Table(
    "conversations",
    _metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
turns = sa.Table(
    "conversation_turns",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(64), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("request_id", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str
    request_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    turns: int = 0


def new_conversation_id() -> str:
    return uuid.uuid4().hex


def title_of(question: str) -> str:
    """The first question, on one line and cut short: what the sidebar shows."""
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite hands back naive UTC


class ConversationStore:
    """Create, read, append to and delete conversations; every read and write is scoped to ``owner``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _owned(self, owner: str | None) -> Any:
        return sa.true() if owner is None else conversations.c.owner == owner

    def get(self, conversation_id: str, owner: str | None) -> Conversation | None:
        query = sa.select(conversations).where(conversations.c.id == conversation_id, self._owned(owner))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return Conversation(row["id"], row["title"], _utc(row["created_at"]), _utc(row["updated_at"]))

    def turns(self, conversation_id: str) -> list[Turn]:
        """Every turn, oldest first."""
        query = sa.select(turns).where(turns.c.conversation_id == conversation_id).order_by(turns.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Turn(r["role"], r["content"], r["request_id"], _utc(r["created_at"])) for r in rows]

    def history(self, conversation_id: str) -> list[dict[str, str]]:
        """The turns as the ``history`` RagService takes (it keeps the most recent ones itself)."""
        return [{"role": t.role, "content": t.content} for t in self.turns(conversation_id)]

    def list(self, owner: str | None, limit: int = 100) -> list[Conversation]:
        """The owner's conversations, most recently active first, with their number of turns."""
        count = sa.select(sa.func.count()).where(turns.c.conversation_id == conversations.c.id).scalar_subquery()
        query = (
            sa.select(conversations, count.label("n_turns"))
            .where(self._owned(owner))
            .order_by(conversations.c.updated_at.desc(), conversations.c.created_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Conversation(r["id"], r["title"], _utc(r["created_at"]), _utc(r["updated_at"]), int(r["n_turns"]))
            for r in rows
        ]

    def add_exchange(
        self, conversation_id: str, owner: str | None, question: str, answer: str, request_id: str | None
    ) -> None:
        """Append a question and its answer; the conversation is created (titled by the question) if new."""
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(conversations.c.id).where(conversations.c.id == conversation_id)).first()
            if exists is None:
                conn.execute(
                    conversations.insert().values(
                        id=conversation_id, owner=owner, title=title_of(question), created_at=now, updated_at=now
                    )
                )
            else:
                conn.execute(conversations.update().where(conversations.c.id == conversation_id).values(updated_at=now))
            conn.execute(
                turns.insert(),
                [
                    {
                        "conversation_id": conversation_id,
                        "role": "user",
                        "content": question,
                        "request_id": request_id,
                        "created_at": now,
                    },
                    {
                        "conversation_id": conversation_id,
                        "role": "assistant",
                        "content": answer,
                        "request_id": request_id,
                        "created_at": now,
                    },
                ],  # fmt: skip
            )

    def delete(self, conversation_id: str, owner: str | None) -> bool:
        """Remove the conversation and its turns; False when the owner has no such conversation."""
        with self.engine.begin() as conn:
            found = conn.execute(
                conversations.delete().where(conversations.c.id == conversation_id, self._owned(owner))
            ).rowcount
            if found:
                conn.execute(turns.delete().where(turns.c.conversation_id == conversation_id))
        return bool(found)

    def close(self) -> None:
        self.engine.dispose()


def build_conversation_store(settings: Settings) -> ConversationStore:
    """The store on ``settings.database_url``, migrated to the newest schema first."""
    from genaiops.migrate import upgrade_database

    assert settings.database_url is not None
    upgrade_database(settings)
    return ConversationStore(make_engine(settings.database_url))
