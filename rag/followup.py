"""History-aware retrieval: a follow-up question is searched together with the turn it follows.

"Et pour AWS ?" retrieved on its bare words finds nothing about deployment; searched as "Quelle
logique de déploiement a été utilisée sur GCP ? Et pour AWS ?" it finds the multi-cloud table.
Only elliptic questions are expanded (a continuation cue, a pronoun, or too few content words of
their own), so a new, self-contained question in the same chat is searched alone. Expansion costs
nothing; rewriting with the LLM costs a generation (see docs/benchmarks.md for both).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rag.ingest import embedding_text
from rag.text import fold, tokenize
from rag.types import ChatMessage, Retrieval

_CUE = re.compile(
    r"^\s*(et|and|also|aussi|ok|alors|puis|ensuite|what about|how about|and what|and how|same|pareil|idem|"
    r"et pour|et avec|et sur|et en|et dans|and for|and on|and in|and with)\b",
)
_PRONOUN = re.compile(
    r"\b(il|elle|ils|elles|ca|cela|celui|celle|ceux|celles|ce dernier|cette derniere|ces derniers|"
    r"it|its|they|them|their|this one|that one|these|those|the latter|the former)\b"
)
MIN_OWN_TERMS = 3  # a question with fewer content terms of its own leans on the conversation


@dataclass(frozen=True)
class SearchQuery:
    text: str  # what is retrieved
    follow_up: bool  # expanded with the previous user turn
    own_terms: frozenset[str]  # the question's own content terms (a new topic must be found by them)


def previous_question(history: Sequence[ChatMessage]) -> str | None:
    return next((content for role, content in reversed(history) if role == "user" and content.strip()), None)


def is_follow_up(question: str, history: Sequence[ChatMessage]) -> bool:
    """Whether the question only makes sense with the conversation before it."""
    if previous_question(history) is None:
        return False
    folded = fold(question)
    return bool(_CUE.match(folded) or _PRONOUN.search(folded)) or len(set(tokenize(question))) < MIN_OWN_TERMS


def search_query(question: str, history: Sequence[ChatMessage]) -> SearchQuery:
    """The text to retrieve with: the question, preceded by the previous user turn when it is a follow-up."""
    own = frozenset(tokenize(question))
    if not is_follow_up(question, history):
        return SearchQuery(question, False, own)
    previous = previous_question(history)
    return SearchQuery(f"{previous}\n{question}", True, own)


def retrieve_in_conversation(
    retriever: Any, question: str, turns: Sequence[ChatMessage] = (), top_k: int | None = None
) -> Retrieval:
    """Retrieve for the question in its conversation (the service and the eval both call this).

    A follow-up that changes the subject ("Et la capitale de l'Australie ?") must not ride on the
    previous question's relevance: its own content terms must appear in what was found.
    """
    search = search_query(question, turns)
    retrieval: Retrieval = retriever.retrieve(search.text, top_k=top_k)
    if search.follow_up and retrieval.in_scope and not _own_terms_found(search.own_terms, retrieval):
        retrieval.in_scope = False
    return retrieval


def _own_terms_found(terms: frozenset[str], retrieval: Retrieval) -> bool:
    """At least one of the question's own content terms occurs in a retrieved passage (or it has none)."""
    if not terms:
        return True
    found: set[str] = set()
    for scored in retrieval.chunks:
        found.update(tokenize(embedding_text(scored.chunk)))
    return bool(terms & found)
