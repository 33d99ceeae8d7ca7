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

from rag.answer import says_not_covered
from rag.grounding import strip_citations
from rag.prompting import INJECTION_REFUSAL
from rag.retrieval import coverage
from rag.text import fold, tokenize
from rag.types import ChatMessage, ChatModel, Retrieval

_CUE = re.compile(
    r"^\s*(et|and|also|aussi|ok|alors|puis|ensuite|what about|how about|and what|and how|same|pareil|idem|"
    r"et pour|et avec|et sur|et en|et dans|and for|and on|and in|and with|"
    # "Lequel sert d'interface utilisateur ?": which one of what the previous answer listed
    r"lequel|laquelle|lesquels|lesquelles|which one|which ones)\b",
)
_PRONOUN = re.compile(
    r"\b(il|elle|ils|elles|ca|cela|celui|celle|ceux|celles|ce dernier|cette derniere|ces derniers|"
    r"it|its|they|them|their|this one|that one|these|those|the latter|the former)\b"
)
# "What might that involve?", "Why is this?", "Is anything else versioned?", "Quoi d'autre ?": "that" and "this"
# as the subject or object of a verb, not as a determiner or a relative ("the tool that monitors drift").
_REFERS_BACK = re.compile(
    r"\b(does|did|do|is|was|are|were|might|may|would|could|can|will|about|means?)\s+(that|this)\b|"
    r"\b(that|this)\s*\?|\belse\b|\bd'autres?\s*\?|\bautre chose\b"
)
MIN_OWN_TERMS = 3  # a question with fewer content terms of its own leans on the conversation


@dataclass(frozen=True)
class SearchQuery:
    text: str  # what is retrieved
    follow_up: bool  # expanded with the previous turns
    own_terms: frozenset[str]  # the question's own content terms (a new topic must be found by them)


def previous_question(history: Sequence[ChatMessage]) -> str | None:
    return next((content for role, content in reversed(history) if role == "user" and content.strip()), None)


OWN_CANDIDATES = 3  # passages the follow-up alone finds, one of which may join the conversation's
ANSWER_CHARS = 200  # of the previous answer searched with a follow-up: its opening names what "it" is
_INJECTION_REFUSALS = frozenset(fold(text) for text in INJECTION_REFUSAL.values())


def _is_refusal(answer: str) -> bool:
    return says_not_covered(answer) or fold(answer.strip()) in _INJECTION_REFUSALS


def previous_answer(history: Sequence[ChatMessage]) -> str:
    """The opening of the last assistant turn, citations and the extractive fallback's intro line dropped.

    "Qu'est-ce que ça implique concrètement ?" after "Le déploiement de modèles" points at the answer,
    which the previous question ("le troisième composant de la liste") does not name. A refusal names nothing.
    """
    answer = next((content for role, content in reversed(history) if role == "assistant" and content.strip()), "")
    if _is_refusal(answer):
        return ""
    lines = [line for line in answer.splitlines() if line.strip() and not line.rstrip().endswith(":")]
    return " ".join(strip_citations(" ".join(lines)).split())[:ANSWER_CHARS]


def is_follow_up(question: str, history: Sequence[ChatMessage]) -> bool:
    """Whether the question only makes sense with the conversation before it."""
    if previous_question(history) is None:
        return False
    folded = fold(question)
    refers_back = _CUE.match(folded) or _PRONOUN.search(folded) or _REFERS_BACK.search(folded)
    return bool(refers_back) or len(set(tokenize(question))) < MIN_OWN_TERMS


REWRITE_PROMPT = (
    "Rewrite the user's last question as one standalone question that can be understood without the "
    "conversation: replace pronouns and ellipses with what they refer to. Keep its language. Reply with the "
    "question only."
)


def search_query(
    question: str, history: Sequence[ChatMessage], mode: str = "expand", llm: ChatModel | None = None
) -> SearchQuery:
    """The text to retrieve with: the question alone, or for a follow-up the question made standalone.

    ``expand`` prefixes the previous question and the opening of its answer (free); ``rewrite`` asks the
    LLM for a standalone question (a generation before retrieval); ``none`` searches the bare words (the old
    behaviour, for comparison).
    """
    own = frozenset(tokenize(question))
    if mode == "none" or not is_follow_up(question, history):
        return SearchQuery(question, False, own)
    if mode == "rewrite" and llm is not None:
        transcript = "\n".join(f"{role}: {content[:400]}" for role, content in history[-4:])
        messages = [("system", REWRITE_PROMPT), ("user", f"{transcript}\nuser: {question}\n\nStandalone question:")]
        rewritten = " ".join(llm.generate(messages, max_tokens=48).split())
        if rewritten:
            return SearchQuery(rewritten, True, own)
    said = [previous_question(history), previous_answer(history), question]
    return SearchQuery("\n".join(part for part in said if part), True, own)


def retrieve_in_conversation(
    retriever: Any,
    question: str,
    turns: Sequence[ChatMessage] = (),
    top_k: int | None = None,
    mode: str = "expand",
    llm: ChatModel | None = None,
) -> Retrieval:
    """Retrieve for the question in its conversation (the service and the eval both call this).

    A follow-up is searched with the turn it follows, and its ``confidence`` is the question's own
    relevance: the model decides whether passages about the conversation answer it. A follow-up
    that names something neither the conversation nor the passages mention ("Et la capitale de
    l'Australie ?") changes the subject: it is out of scope, however relevant the previous turn was.
    """
    search = search_query(question, turns, mode, llm)
    retrieval: Retrieval = retriever.retrieve(search.text, top_k=top_k)
    if not search.follow_up:
        return retrieval
    retrieval.query = search.text
    alone: Retrieval = retriever.retrieve(question, top_k=OWN_CANDIDATES)
    retrieval.confidence = min(retrieval.best_score, alone.best_score)
    _join_own_best(retrieval, alone, search.own_terms)
    if retrieval.in_scope and _names_a_new_subject(question, turns, retrieval):
        retrieval.in_scope = False
    return retrieval


def _join_own_best(retrieval: Retrieval, alone: Retrieval, own_terms: frozenset[str]) -> None:
    """The follow-up's own best passage in the conversation's sections takes the last place, when missing.

    "What about monitoring?" after a question on the training tools is searched with that question and its
    answer, which find the training rows of a table split over several passages, not the monitoring row.
    Among the passages the question alone finds, the first one that holds every content word of the question
    ("monitoring") and sits in a section the conversation's search found (the same table) joins them; an
    elliptic "Et la dernière ?" or a passage from elsewhere in the course brings nothing in.
    """
    if not own_terms or not retrieval.chunks:
        return
    found = {s.chunk.id for s in retrieval.chunks}
    sections = {(s.chunk.source, s.chunk.heading) for s in retrieval.chunks}
    for candidate in alone.chunks:
        if candidate.chunk.id in found or (candidate.chunk.source, candidate.chunk.heading) not in sections:
            continue
        if coverage(set(own_terms), candidate.chunk, cognates=True) == 1.0:
            retrieval.chunks = [*retrieval.chunks[:-1], candidate]
            return


_WORDS = re.compile(r"[^\W\d_][\w-]*")


def proper_names(question: str) -> list[str]:
    """Capitalised words after the first one, elided articles split off ("l'Australie" -> "Australie")."""
    words = _WORDS.findall(question.replace("\u2019", "'").replace("'", " "))
    return [w for w in words[1:] if w[0].isupper() and len(w) > 1]


def _names_a_new_subject(question: str, turns: Sequence[ChatMessage], retrieval: Retrieval) -> bool:
    """The question names something (a proper noun, a product) absent from the conversation and the passages."""
    said = [content for _, content in turns] + [f"{s.chunk.path} {s.chunk.text}" for s in retrieval.chunks]
    known = fold(" ".join(said))
    return any(fold(name) not in known for name in proper_names(question))
