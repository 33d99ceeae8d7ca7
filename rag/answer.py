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

from rag.grounding import GroundingChecker, GroundingReport, repair_citations, repeats, split_sentences
from rag.prompting import NOT_COVERED, Lang, clean_passage, fold
from rag.retrieval import tokenize
from rag.types import Embedder, Mode, ScoredChunk

EXTRACTIVE_INTRO: dict[Lang, str] = {
    "fr": "Voici ce que dit le cours :",
    "en": "Here is what the course says (its text is in French):",
}
LEAK_MIN_CHARS = 40  # a run this long shared with the system prompt is an echo of it
MAX_UNITS = 8  # sentences or list items; the prompt asks for two to four sentences
KEEP_UNITS = 5  # what is kept of a generation stopped for running on
MIN_EXTRACTIVE_RELEVANCE = 0.3  # below this, no passage sentence is about the question


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
    n_sentences: int = 3,
) -> Decision:
    """The final text, mode and grounded flag for one generation over ``passages`` (numbered from 1)."""

    def fallback(reason: str) -> Decision:
        text, _ = extractive(question, lang, passages, checker.embedder, n_sentences)
        return Decision(text, "extractive", True, reason)

    if echoes(generated, system_prompt):
        return fallback("the generation echoed the system prompt")
    if says_not_covered(generated, lang):
        # The retriever found passages above the relevance floor and a 0.5B model often misses the answer
        # in them: quote the closest sentences rather than refuse, unless they have nothing to do with it.
        text, relevance = extractive(question, lang, passages, checker.embedder, n_sentences)
        if relevance < MIN_EXTRACTIVE_RELEVANCE:
            return Decision(NOT_COVERED[lang], "refusal", False, "the model found no answer in the passages")
        return Decision(text, "extractive", True, "the model said the passages do not answer")
    report: GroundingReport = checker.check(generated, passages)
    if report.grounded:
        return Decision(repair_citations(report, len(passages)), "generative", True)
    return fallback(report.reason)


def candidate_sentences(passages: Sequence[ScoredChunk]) -> list[tuple[int, int, str, str]]:
    """(passage index, position, sentence, text to score) for every quotable sentence of the passages.

    A sentence whose section title it does not repeat is prefixed with it ("GCP : Vertex AI — ..."):
    in the course, the title often carries the subject the sentence is about.
    """
    out = []
    for index, scored in enumerate(passages):
        title = clean_passage(scored.chunk.heading.split(">")[-1]).strip() if scored.chunk.heading else ""
        title_terms = set(tokenize(title))
        for position, sentence in enumerate(split_sentences(clean_passage(scored.chunk.text))):
            sentence = " ".join(sentence.split())
            if len(tokenize(sentence)) < 3 or len(sentence) > 400:
                continue
            scored_text = f"{clean_passage(scored.chunk.heading)} {sentence}"
            if title_terms and not title_terms <= set(tokenize(sentence)):
                sentence = f"{title} — {sentence}"
            out.append((index, position, sentence, scored_text))
    return out


def extractive(
    question: str, lang: Lang, passages: Sequence[ScoredChunk], embedder: Embedder | None, n_sentences: int = 3
) -> tuple[str, float]:
    """The passage sentences closest to the question, in passage order, each cited; and the best relevance."""
    candidates = candidate_sentences(passages)
    if not candidates:
        if not passages:
            return NOT_COVERED[lang], 0.0
        first = " ".join(clean_passage(passages[0].chunk.text).split())[:400]
        return f"{EXTRACTIVE_INTRO[lang]}\n- {first} [1]", 0.0
    relevance = _relevance(question, [c[3] for c in candidates], embedder)
    ranked = relevance + np.array([0.05 / (1 + c[0]) for c in candidates])  # ties go to the better passage
    chosen = sorted(np.argsort(-ranked)[:n_sentences], key=lambda i: (candidates[i][0], candidates[i][1]))
    lines = [f"- {candidates[i][2]} [{candidates[i][0] + 1}]" for i in chosen]
    return "\n".join([EXTRACTIVE_INTRO[lang], *lines]), float(relevance.max())


def _relevance(question: str, sentences: list[str], embedder: Embedder | None) -> np.ndarray:
    """Share of the question's terms in each sentence, plus cosine similarity when an embedder is given."""
    q_terms = set(tokenize(question))
    lexical = np.array([len(q_terms & set(tokenize(s))) / max(1, len(q_terms)) for s in sentences], dtype=float)
    if embedder is None:
        return lexical
    vectors = embedder.embed_documents([question, *sentences])
    return lexical + vectors[1:] @ vectors[0]
