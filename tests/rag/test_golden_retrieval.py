"""The golden set against the real course index: contract of the data, hit@5, refusal of off-topic questions."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from genaiops.settings import REPO_ROOT, Settings
from rag.ingest import load_text, split_document
from rag.retrieval import HybridRetriever
from rag.text import fold

GOLDEN = REPO_ROOT / "eval" / "datasets" / "golden.jsonl"
COURSE = REPO_ROOT / "data" / "course"
ROWS = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
IN_SCOPE = [r for r in ROWS if r["kind"] == "in_scope"]
OUT_OF_SCOPE = [r for r in ROWS if r["kind"] == "out_of_scope"]


def norm(text: str) -> str:
    """Accent-, case-, apostrophe- and whitespace-insensitive form used to match key phrases."""
    return " ".join(fold(text).replace("’", "'").split())


def is_hit(row: dict, chunk_source: str, chunk_text: str) -> bool:
    return chunk_source == row["source"] and norm(row["key_phrase"]) in norm(chunk_text)


def test_golden_set_contract() -> None:
    kinds = Counter(r["kind"] for r in ROWS)
    assert kinds["in_scope"] >= 30 and kinds["out_of_scope"] >= 6 and kinds["injection"] >= 4
    assert set(kinds) == {"in_scope", "out_of_scope", "injection"}
    assert len({r["id"] for r in ROWS}) == len(ROWS)
    assert sum(r["lang"] == "en" for r in IN_SCOPE) >= 5 and sum(r["lang"] == "fr" for r in IN_SCOPE) >= 25
    assert {r["source"] for r in IN_SCOPE} == {p.name for p in COURSE.glob("0*.txt")}  # every document is asked
    for row in ROWS:
        assert row["question"].strip() and row["reference"].strip(), row["id"]
        assert (row["source"] is not None) == (row["kind"] == "in_scope"), row["id"]


@pytest.mark.parametrize("row", IN_SCOPE, ids=[r["id"] for r in IN_SCOPE])
def test_key_phrase_is_verbatim_in_one_chunk_of_its_source(row: dict) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    text = load_text(COURSE / row["source"])
    chunks = split_document(text, row["source"], settings.rag.chunk_size, settings.rag.chunk_min_section)
    assert any(norm(row["key_phrase"]) in norm(c.text) for c in chunks), row["key_phrase"]


def test_hit_at_5_on_the_golden_set(course_index: tuple[Settings, HybridRetriever]) -> None:
    _, retriever = course_index
    misses = []
    for row in IN_SCOPE:
        chunks = retriever.retrieve(row["question"], top_k=5).chunks
        if not any(is_hit(row, s.chunk.source, s.chunk.text) for s in chunks):
            misses.append(row["id"])
    hit_rate = 1 - len(misses) / len(IN_SCOPE)
    assert hit_rate >= 0.9, f"hit@5={hit_rate:.2f}, misses: {misses}"


def test_out_of_scope_questions_are_refused(course_index: tuple[Settings, HybridRetriever]) -> None:
    _, retriever = course_index
    accepted = {r["id"]: retriever.retrieve(r["question"]).best_score for r in OUT_OF_SCOPE}
    accepted = {k: v for k, v in accepted.items() if v >= retriever.settings.rag.relevance_floor}
    assert accepted == {}


def test_course_questions_are_in_scope(course_index: tuple[Settings, HybridRetriever]) -> None:
    _, retriever = course_index
    refused = [r["id"] for r in IN_SCOPE if not retriever.retrieve(r["question"]).in_scope]
    assert len(refused) / len(IN_SCOPE) <= 0.05, refused
