"""The ask log: one row per answer off the request path, embeddings, feedback; SQLite and Postgres."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from genaiops.db import make_engine
from genaiops.settings import Settings
from rag.ask_log import AskLog, answer_from_response, build_ask_log, count_asks, read_asks
from rag.service import answer_to_dict
from rag.types import Answer, Chunk, Embedder, ScoredChunk
from tests.classic_ml.helpers import PG_URL, require_postgres

QUESTION = "Qu'est-ce que le MLOps ?"


def make_answer(mode: str = "generative", scores: tuple[float, ...] = (0.61, 0.44), **extra: object) -> Answer:
    sources = [
        ScoredChunk(Chunk(f"c{i}", f"passage {i}", f"00{i}_cours.txt", f"Chapitre {i} > Intro", i), score)
        for i, score in enumerate(scores)
    ]
    fields: dict = {
        "request_id": uuid.uuid4().hex,
        "answer": "Le MLOps applique les pratiques DevOps au machine learning [1].",
        "mode": mode,
        "grounded": mode != "refusal",
        "sources": sources if mode != "refusal" else [],
        "prompt_name": "rag_answer",
        "prompt_version": "3",
        "model": "qwen2.5-coder-0.5b-instruct-q4_k_m",
        "timings_ms": {"retrieve": 12.5, "generate": 840.0, "total": 861.2},
        "tokens": 42,
    }
    fields.update(extra)
    return Answer(**fields)


def test_record_reads_back_every_signal(settings: Settings, embedder: Embedder) -> None:
    log = build_ask_log(settings)
    answer = make_answer()
    vector = embedder.embed_query(QUESTION)
    log.record(QUESTION, answer, vector)
    log.record("Météo à Paris ?", make_answer("refusal"))  # no embedder, no embedding given: stored without
    log.close()
    df = read_asks(settings)
    assert len(df) == 2 and count_asks(settings) == 2
    row = df.iloc[0]
    assert row["request_id"] == answer.request_id and row["question"] == QUESTION
    assert row["answer_chars"] == len(answer.answer) and row["n_sources"] == 2
    assert row["top_score"] == pytest.approx(0.61) and row["mode"] == "generative" and bool(row["grounded"])
    assert (row["latency_ms"], row["retrieve_ms"], row["generate_ms"], row["tokens"]) == (861.2, 12.5, 840.0, 42)
    assert (row["prompt_name"], row["prompt_version"], row["model"]) == ("rag_answer", "3", answer.model)
    assert row["sources"][0] == {"source": "000_cours.txt", "heading": "Chapitre 0 > Intro", "score": 0.61}
    np.testing.assert_allclose(row["question_embedding"], vector, rtol=1e-6)
    refusal = df.iloc[1]
    assert refusal["mode"] == "refusal" and refusal["n_sources"] == 0 and pd.isna(refusal["top_score"])
    assert refusal["question_embedding"] is None and refusal["rating"] is None
    assert str(df["ts"].dt.tz) == "UTC"


def test_a_refusal_logs_how_close_the_best_passage_was(settings: Settings) -> None:
    log = build_ask_log(settings)
    log.record("Une recette de crêpes ?", make_answer("refusal", retrieval_score=0.12))
    log.close()
    row = read_asks(settings).iloc[0]
    assert row["n_sources"] == 0 and row["top_score"] == pytest.approx(0.12)


def test_missing_embeddings_are_computed_on_the_writer_thread(tmp_path: Path, embedder: Embedder) -> None:
    log = AskLog(make_engine(f"sqlite:///{tmp_path / 'asks.db'}"), embedder=embedder)
    questions = ["Qu'est-ce que le MLOps ?", "Comment versionner un modèle avec MLflow ?"]
    for question in questions:
        log.record(question, make_answer())
    log.close()
    stored = read_asks(make_engine(f"sqlite:///{tmp_path / 'asks.db'}"))["question_embedding"]
    for question, vector in zip(questions, stored, strict=True):
        np.testing.assert_allclose(vector, embedder.embed_query(question), atol=1e-5)


def test_feedback_on_a_just_recorded_answer_unknown_id_and_bad_rating(settings: Settings) -> None:
    log = build_ask_log(settings)
    answer = make_answer()
    log.record(QUESTION, answer)
    # no flush in between: the row may still be queued, feedback must find it anyway
    assert log.add_feedback(answer.request_id, "down", "la réponse ne cite pas le cours") is True
    assert log.add_feedback(answer.request_id, "up") is True  # the latest rating wins
    assert log.add_feedback("no-such-id", "up") is False
    with pytest.raises(ValueError, match="rating"):
        log.add_feedback(answer.request_id, "meh")
    row = log.read().iloc[0]
    assert row["rating"] == "up" and row["comment"] is None and row["feedback_ts"] is not None
    log.close()


def test_stream_done_event_round_trips_to_the_same_row(settings: Settings) -> None:
    answer = make_answer("extractive", scores=(0.52,))
    rebuilt = answer_from_response(answer_to_dict(answer))
    assert (rebuilt.request_id, rebuilt.mode, rebuilt.grounded, rebuilt.answer) == (
        answer.request_id, answer.mode, answer.grounded, answer.answer
    )  # fmt: skip
    assert [s.chunk.source for s in rebuilt.sources] == [s.chunk.source for s in answer.sources]
    log = build_ask_log(settings)
    log.record(QUESTION, rebuilt)
    log.close()
    row = read_asks(settings).iloc[0]
    assert row["mode"] == "extractive" and row["top_score"] == pytest.approx(0.52) and row["latency_ms"] == 861.2


def test_reads_head_and_tail_and_an_empty_log(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'asks.db'}")
    assert read_asks(engine).empty and count_asks(engine) == 0
    log = AskLog(engine, batch_rows=7, flush_interval_s=5.0)  # long interval: close() must write everything
    for i in range(30):
        log.record(f"question {i}", make_answer())
    log.close()
    engine = make_engine(f"sqlite:///{tmp_path / 'asks.db'}")
    assert log.written == 30 and log.dropped == 0
    assert list(read_asks(engine, head=3)["question"]) == ["question 0", "question 1", "question 2"]
    assert list(read_asks(engine, limit=2)["question"]) == ["question 28", "question 29"]


@pytest.mark.postgres
def test_ask_log_on_postgres() -> None:
    require_postgres()
    table = f"rag_asks_{uuid.uuid4().hex[:8]}"
    log = AskLog(make_engine(PG_URL), table, batch_rows=10)
    try:
        answers = [make_answer() for _ in range(25)]
        for answer in answers:
            log.record(QUESTION, answer, np.ones(8, dtype=np.float32) / np.sqrt(8))
        assert log.add_feedback(answers[3].request_id, "down", "hors sujet") is True
        assert log.add_feedback("unknown", "down") is False
        log.close()
        df = read_asks(make_engine(PG_URL), table_name=table)
        assert len(df) == 25 and df["rating"].tolist().count("down") == 1
        assert df.loc[df["request_id"] == answers[3].request_id, "comment"].item() == "hors sujet"
        assert df["question_embedding"].iloc[0].shape == (8,) and df["sources"].iloc[0][0]["score"] == 0.61
    finally:
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        engine.dispose()
