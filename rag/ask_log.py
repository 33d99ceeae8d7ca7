"""The durable ask log: one row per ``/ask`` with the online quality signals, plus the user's feedback.

Same database as the prediction log (``settings.database_url``) and the same background writer
(``genaiops.db.BatchWriter``), so recording never slows an answer down. The question embedding
(for drift of what users ask) is taken from the caller when it has one, else computed on the
writer thread in one batch. Feedback is a direct update: it must say whether the id exists.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from genaiops.db import BatchWriter, make_engine
from genaiops.logs import count_rows, log_engine, read_rows
from genaiops.settings import Settings
from rag.types import Answer, Chunk, Embedder, ScoredChunk

log = logging.getLogger(__name__)

DEFAULT_TABLE = "rag_asks"
RATINGS = ("up", "down")


def ask_table(name: str = DEFAULT_TABLE, metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        name,
        metadata or sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # not unique: a duplicate id must not make the whole batch fail
        sa.Column("request_id", sa.String(64), nullable=False, index=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("question_embedding", sa.LargeBinary),  # float32 bytes, L2-normalised
        sa.Column("answer_chars", sa.Integer, nullable=False),
        sa.Column("top_score", sa.Float),  # best relevance retrieved (refusals too); None when nothing was retrieved
        sa.Column("n_sources", sa.Integer, nullable=False),
        sa.Column("sources", sa.JSON),  # [{source, heading, score}] for review and curation
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("grounded", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Float),
        sa.Column("retrieve_ms", sa.Float),
        sa.Column("generate_ms", sa.Float),
        sa.Column("tokens", sa.Integer),
        sa.Column("prompt_name", sa.String(200)),
        sa.Column("prompt_version", sa.String(50)),
        sa.Column("model", sa.String(200)),
        sa.Column("rating", sa.String(8)),
        sa.Column("comment", sa.Text),
        sa.Column("feedback_ts", sa.DateTime(timezone=True)),
        sa.Column("conversation_id", sa.String(64), index=True),  # migration 0002; None for stateless asks
    )


def encode_embedding(vector: Any) -> bytes:
    return np.asarray(vector, dtype=np.float32).ravel().tobytes()


def decode_embedding(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32)


def ask_row(
    question: str,
    answer: Answer,
    question_embedding: Any = None,
    *,
    top_score: float | None = None,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """The table row for one answer; ``top_score`` defaults to the best source score."""
    scores = [s.score for s in answer.sources]
    if top_score is None:  # a refusal keeps no source but still says how close the best passage was
        top_score = answer.retrieval_score if answer.retrieval_score is not None else max(scores, default=None)
    timings = answer.timings_ms or {}
    return {
        "request_id": answer.request_id,
        "ts": datetime.now(UTC),
        "question": question,
        "question_embedding": None if question_embedding is None else encode_embedding(question_embedding),
        "answer_chars": len(answer.answer or ""),
        "top_score": None if top_score is None else float(top_score),
        "n_sources": len(answer.sources),
        "sources": [
            {"source": s.chunk.source, "heading": s.chunk.heading, "score": round(float(s.score), 4)}
            for s in answer.sources
        ],
        "mode": answer.mode,
        "grounded": bool(answer.grounded),
        "latency_ms": timings.get("total"),
        "retrieve_ms": timings.get("retrieve"),
        "generate_ms": timings.get("generate"),
        "tokens": answer.tokens,
        "prompt_name": answer.prompt_name,
        "prompt_version": answer.prompt_version,
        "model": answer.model,
        "conversation_id": conversation_id,
    }


def answer_from_response(body: dict[str, Any]) -> Answer:
    """An ``Answer`` back from the ``/ask`` body (the ``done`` event of ``/ask/stream``), for ``record``."""
    sources = [
        ScoredChunk(
            Chunk(s["id"], s.get("text", ""), s["source"], s.get("heading", ""), 0, s.get("title", "")),
            float(s["score"]),
        )
        for s in body.get("sources", [])
    ]
    prompt = body.get("prompt") or {}
    return Answer(
        request_id=body["request_id"],
        answer=body.get("answer", ""),
        mode=body["mode"],
        grounded=bool(body.get("grounded")),
        sources=sources,
        prompt_name=prompt.get("name", ""),
        prompt_version=prompt.get("version", ""),
        model=body.get("model", ""),
        timings_ms=dict(body.get("timings_ms") or {}),
        tokens=int(body.get("tokens") or 0),
        retrieval_score=body.get("retrieval_score"),
    )


class AskLog(BatchWriter):
    """Records asks off the request path; ``embedder`` (optional) fills missing question embeddings."""

    def __init__(
        self, engine: Engine, table_name: str = DEFAULT_TABLE, *, embedder: Embedder | None = None, **options: Any
    ) -> None:
        super().__init__(engine, ask_table(table_name), name="ask-log", **options)
        self.embedder = embedder

    def record(
        self,
        question: str,
        answer: Answer,
        question_embedding: Any = None,
        *,
        top_score: float | None = None,
        conversation_id: str | None = None,
    ) -> None:
        """Queue one answered question (never raises on a slow database; see ``BatchWriter.append``)."""
        row = ask_row(question, answer, question_embedding, top_score=top_score, conversation_id=conversation_id)
        self.append([row])

    def prepare(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        missing = [r for r in rows if r["question_embedding"] is None]
        if missing and self.embedder is not None:
            vectors = self.embedder.embed_documents([r["question"] for r in missing])
            for row, vector in zip(missing, vectors, strict=True):
                row["question_embedding"] = encode_embedding(vector)
        return rows

    def add_feedback(self, request_id: str, rating: str, comment: str | None = None) -> bool:
        """Attach a rating to a recorded ask; False when no ask has this id. The latest rating wins."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        values = {"rating": rating, "comment": comment, "feedback_ts": datetime.now(UTC)}
        for attempt in range(2):
            with self.engine.begin() as conn:
                result = conn.execute(self.table.update().where(self.table.c.request_id == request_id).values(values))
            if result.rowcount:
                return True
            if attempt == 0 and not self.flush():  # the ask may still be queued: write it, then retry once
                break
        return False

    def read(self, limit: int | None = None, since: datetime | None = None) -> pd.DataFrame:
        return read_asks(self.engine, limit=limit, since=since, table_name=self.table.name)


def build_ask_log(settings: Settings, embedder: Embedder | None = None) -> AskLog:
    from genaiops.migrate import upgrade_database

    assert settings.database_url is not None
    upgrade_database(settings)  # an ask log made before migrations gets its conversation_id column
    c = settings.classic  # the two request logs share the writer knobs
    return AskLog(
        make_engine(settings.database_url),
        settings.monitoring.ask_log_table,
        embedder=embedder,
        queue_size=c.log_queue_size,
        batch_rows=c.log_batch_rows,
        flush_interval_s=c.log_flush_interval_s,
    )


def read_asks(
    source: Settings | Engine,
    limit: int | None = None,
    since: datetime | None = None,
    table_name: str | None = None,
    *,
    head: int | None = None,
) -> pd.DataFrame:
    """Logged asks, oldest first: all, the last ``limit`` or the first ``head``; embeddings as float32 arrays."""
    table = _table(source, table_name)
    columns = [c.name for c in table.columns if c.name != "id"]
    with log_engine(source) as engine:
        rows = read_rows(engine, table, limit=limit, head=head, since=since)
    if rows is None:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows, columns=["id", *columns]).drop(columns=["id"])
    if rows:  # SQLite hands back naive datetimes: they are UTC, say so
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        frame["feedback_ts"] = pd.to_datetime(frame["feedback_ts"], utc=True)
        frame["question_embedding"] = [decode_embedding(b) for b in frame["question_embedding"]]
    return frame


def count_asks(source: Settings | Engine, table_name: str | None = None) -> int:
    table = _table(source, table_name)
    with log_engine(source) as engine:
        return count_rows(engine, table)


def _table(source: Settings | Engine, table_name: str | None) -> sa.Table:
    """The ask table; from settings, the database is migrated first (an old log gets its new columns)."""
    if isinstance(source, Settings):
        from genaiops.migrate import upgrade_database

        upgrade_database(source)
        return ask_table(table_name or source.monitoring.ask_log_table)
    return ask_table(table_name or DEFAULT_TABLE)
