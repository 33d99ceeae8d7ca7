"""Turn a generation into the answer we return: generative when grounded, else extractive, or a refusal.

The decision is deterministic and lives here, apart from the service's plumbing, so it can be
tested on hand-written generations: a supported answer keeps the model's words with repaired
citations; an unsupported one (invented names, a loop, an echo of the system prompt) is replaced
by the passages' own sentences that best answer the question, each cited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from rag.chunking import passage_units
from rag.context import line_relevance
from rag.grounding import (
    GroundingChecker,
    GroundingReport,
    repair_citations,
    repeats,
    split_sentences,
    strip_citations,
)
from rag.prompting import NOT_COVERED, Lang, clean_passage
from rag.text import fold, tokenize
from rag.types import Embedder, Mode, ScoredChunk

EXTRACTIVE_INTRO: dict[Lang, str] = {
    "fr": "D'après le cours :",
    "en": "According to the course (its text is in French):",
}
LEAK_MIN_CHARS = 40  # a run this long shared with the system prompt is an echo of it
MAX_UNITS = 8  # sentences or list items; the prompt asks for two to four sentences
KEEP_UNITS = 5  # what is kept of a generation stopped for running on
MIN_EXTRACTIVE_RELEVANCE = 0.3  # below this, no passage sentence is about the question
CLOSE_RELEVANCE = 0.08  # a further unit is quoted only when it scores this close to the best


@dataclass
class Decision:
    text: str
    mode: Mode
    grounded: bool
    reason: str = ""  # why the guard replaced the generation, for logs and traces


def echoes(text: str, system_prompt: str, min_chars: int = LEAK_MIN_CHARS) -> bool:
    """True when ``text`` repeats a long run of the system prompt (accent- and case-insensitive)."""
    a, b = fold(" ".join(text.split())), fold(" ".join(system_prompt.split()))
    if len(a) < min_chars or len(b) < min_chars:
        return False
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return match.size >= min_chars


def runaway(text: str, max_units: int = MAX_UNITS) -> str:
    """Why a generation should be stopped now ('' to go on): a loop, or far more than the few sentences asked."""
    if repeats(text):
        return "loop"
    if len(split_sentences(text)) > max_units:
        return "too long"
    return ""


def trim_incomplete(text: str, keep: int = KEEP_UNITS) -> str:
    """The first ``keep`` sentences of a generation that was cut short, without a last, unfinished one.

    A small model that overruns the few sentences asked for is usually copying or rambling by then.
    """
    units = split_sentences(text)
    if len(units) > 1 and not re.search(r"([.!?:;)]|\])\s*$", units[-1]):
        units = units[:-1]
    return "\n".join(units[:keep])


def restates(text: str, question: str) -> bool:
    """True when no sentence says more than the question: each is a question or only uses the question's terms.

    "Le POC qui fonctionne dans un notebook n'arrive-t-il pas en production ? [1]" is grounded (every
    word is in the passages) but answers nothing.
    """
    asked = set(tokenize(question))
    for sentence in split_sentences(strip_citations(text)):
        terms = set(tokenize(sentence))
        if terms and not sentence.rstrip().endswith("?") and not terms <= asked:
            return False
    return True


def says_not_covered(text: str, lang: Lang) -> bool:
    """The model used the prompt's 'not covered' sentence (in either language) as its answer."""
    folded = fold(text)
    return any(fold(NOT_COVERED[code]).rstrip(".") in folded for code in NOT_COVERED) and len(folded) < 200


def decide(
    generated: str,
    question: str,
    lang: Lang,
    passages: Sequence[ScoredChunk],
    checker: GroundingChecker,
    system_prompt: str,
    n_sentences: int = 2,
    retrieval_score: float | None = None,
    confident_floor: float = 0.0,
) -> Decision:
    """The final text, mode and grounded flag for one generation over ``passages`` (numbered from 1).

    ``retrieval_score`` is the retrieval's best relevance; below ``confident_floor`` the model's
    'not covered' is taken as a refusal.
    """

    def fallback(reason: str) -> Decision:
        text, _ = extractive(question, lang, passages, checker.embedder, n_sentences)
        return Decision(text, "extractive", True, reason)

    if echoes(generated, system_prompt):
        return fallback("the generation echoed the system prompt")
    if says_not_covered(generated, lang):
        # Below the confident floor the model is the judge: near-misses ("the price of a SageMaker
        # instance") retrieve course passages but are not answered by them. Above it the passages are
        # clearly about the question and a small model that misses the answer gets its closest lines quoted.
        if retrieval_score is not None and retrieval_score < confident_floor:
            return Decision(NOT_COVERED[lang], "refusal", False, "the model found no answer in the passages")
        text, relevance = extractive(question, lang, passages, checker.embedder, n_sentences)
        if relevance < MIN_EXTRACTIVE_RELEVANCE:
            return Decision(NOT_COVERED[lang], "refusal", False, "the model found no answer in the passages")
        return Decision(text, "extractive", True, "the model said the passages do not answer")
    if restates(generated, question):
        return fallback("the generation restates the question instead of answering it")
    report: GroundingReport = checker.check(generated, passages)
    if report.grounded:
        return Decision(repair_citations(report, len(passages)), "generative", True)
    return fallback(report.reason)


def candidate_sentences(passages: Sequence[ScoredChunk]) -> list[tuple[int, int, str, str]]:
    """(passage index, position, quotable text, text to score) for every item, row or sentence of the passages.

    A unit is scored with the passage's title, heading and the sub-title it sits under, because they
    often carry its subject ("AWS : SageMaker" for "Model Monitor pour la détection du drift"); a
    quoted unit whose sub-title it does not repeat is prefixed with it.
    """
    out = []
    for index, scored in enumerate(passages):
        context = scored.chunk.path
        section = clean_passage(scored.chunk.heading.split(">")[-1]).strip() if scored.chunk.heading else ""
        position = 0
        for subtitle, line in passage_units(clean_passage(scored.chunk.text)):
            title = subtitle or section
            for sentence in split_sentences(line):
                sentence = " ".join(sentence.split())
                if not tokenize(sentence) or len(sentence) > 400:
                    continue
                quoted = sentence
                if title and not set(tokenize(title)) <= set(tokenize(sentence)):
                    quoted = f"{title} — {sentence}"
                out.append((index, position, quoted, f"{context} > {subtitle} : {sentence}"))
                position += 1
    return out


def extractive(
    question: str, lang: Lang, passages: Sequence[ScoredChunk], embedder: Embedder | None, n_sentences: int = 2
) -> tuple[str, float]:
    """The passage units that best answer the question, each cited; and the best relevance.

    The best unit always; the next ones only while they score almost as well (a list answer spans
    several items, a precise question has one row that answers it).
    """
    candidates = candidate_sentences(passages)
    if not candidates:
        if not passages:
            return NOT_COVERED[lang], 0.0
        first = " ".join(clean_passage(passages[0].chunk.text).split())[:400]
        return f"{EXTRACTIVE_INTRO[lang]}\n- {first} [1]", 0.0
    relevance = line_relevance(question, [c[3] for c in candidates], embedder)
    ranked = relevance + np.array([0.05 / (1 + c[0]) for c in candidates])  # ties go to the better passage
    order = list(np.argsort(-ranked))
    best = ranked[order[0]]
    picked = [order[0]] + [i for i in order[1:n_sentences] if ranked[i] >= best - CLOSE_RELEVANCE]
    chosen = sorted(picked, key=lambda i: (candidates[i][0], candidates[i][1]))
    lines = [f"- {candidates[i][2]} [{candidates[i][0] + 1}]" for i in chosen]
    return "\n".join([EXTRACTIVE_INTRO[lang], *lines]), float(relevance.max())
