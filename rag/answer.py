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

from rag.chunking import bullet_lines, passage_units
from rag.context import PREVIOUS_WEIGHT, SIBLING_SHARE, line_relevance
from rag.grounding import (
    GroundingChecker,
    GroundingReport,
    SentenceCheck,
    claim_terms,
    drop_references,
    repair_citations,
    repeats,
    split_sentences,
    strip_citations,
)
from rag.lookup import RowHit, holds_value
from rag.prompting import NOT_COVERED, Lang, clean_passage
from rag.text import fold, tokenize
from rag.types import Embedder, Mode, ScoredChunk

EXTRACTIVE_INTRO: dict[Lang, str] = {
    "fr": "D'après le cours :",
    "en": "According to the course (its text is in French):",
}
LEAK_MIN_CHARS = 40  # a run this long shared with the system prompt is an echo of it
MAX_UNITS = 8  # sentences or list items; the prompt asks for two to four sentences
KEEP_UNITS = 5  # what is kept of a generation stopped for looping
MIN_EXTRACTIVE_RELEVANCE = 0.3  # below this, no passage sentence is about the question
CLOSE_RELEVANCE = 0.08  # a further unit is quoted only when it scores this close to the best
MAX_ITEM_CHARS = 160  # a list item or table row this short is quoted with its siblings
MAX_LIST_ITEMS = 6
RESTATING = 0.34  # at most this share of new words (not in the question): a unit that restates the question


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
    """The first ``keep`` sentences of a generation that was cut short, without a last, unfinished one."""
    units = split_sentences(text)
    if len(units) > 1 and not re.search(r"([.!?:;)]|\])\s*$", units[-1]):
        units = units[:-1]
    return "\n".join(units[:keep])


def units_to_keep(stopped: str) -> int:
    """How many sentences of a generation cut short are kept: a few of a loop, every complete one otherwise.

    A generation stopped for being too long, or at ``max_tokens``, is most often a list copied from a
    passage with its intro and a closing line ("On a appris à :", six items, "Donc on a appris
    l'orchestration…"): cutting it to the first few lost the items that answered (dev split: 2 of 2 such stops).
    """
    return KEEP_UNITS if stopped == "loop" else MAX_UNITS


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


def selects(text: str, said: str) -> bool:
    """The text names some, not all, of what the answer before it named: "L'interface utilisateur est Streamlit."
    after the architecture's six components answers "Lequel sert d'interface utilisateur ?" by picking one; it
    does not repeat that answer, though every word of it was there."""
    named, before = set(claim_terms(text)), set(claim_terms(said))
    return bool(named) and named < before


def _plain_negation(folded: str) -> str:
    """French spoken negation drops "ne" ("le cours couvre pas"), English contracts "does not"."""
    return re.sub(r"\bne\s+|\bn'", "", folded.replace("doesn't", "does not"))


def says_not_covered(text: str) -> bool:
    """The model used the prompt's 'not covered' sentence as its answer, in either language: a small model
    sometimes answers an English question in French (or the reverse), and its refusal must still count."""
    folded = _plain_negation(fold(text))
    said = (_plain_negation(fold(NOT_COVERED[code])).rstrip(".") for code in NOT_COVERED)
    return any(sentence in folded for sentence in said) and len(folded) < 200


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
    lookup: RowHit | None = None,
    previous: str = "",
    said: str = "",
) -> Decision:
    """The final text, mode and grounded flag for one generation over ``passages`` (numbered from 1).

    ``retrieval_score`` is the retrieval's best relevance; below ``confident_floor`` the model's
    'not covered', or a generation the passages do not support, is taken as a refusal. ``lookup``: the
    table cell that answers the question (``rag.lookup.lookup_row``), if one does: a generation that does
    not give it is replaced by its row.
    ``previous``: for a follow-up, the question it follows: the extractive fallback ranks lines by both,
    the follow-up first ("And on Azure?" after a question on Vertex AI quotes the Azure lines), the
    turn it follows for what "Et la dernière ?" alone does not say.
    ``said``: for a follow-up, the answer it follows: a generation that only says it again ("Le déploiement de
    modèles." after that very answer, to "Qu'est-ce que ça peut impliquer concrètement ?") answers nothing.
    """
    unsure = retrieval_score is not None and retrieval_score < confident_floor

    def fallback(reason: str, on_topic: bool = False) -> Decision:
        """``on_topic``: the generation was about the passages (it repeated the conversation), so it is
        quoted from even below the confident floor."""
        if lookup is not None:
            return Decision(quote_row(lookup, lang), "extractive", True, f"{reason}; quoting the row that answers")
        if unsure and not on_topic:
            # Below the confident floor the model is the judge, as for its 'not covered': a generation the
            # passages do not support means they do not answer ("Quel est le cours actuel du bitcoin ?"
            # retrieves the course's "cours complet"). Dev: out-of-scope refused 0.867 -> 1.0, fact recall -0.014.
            return Decision(NOT_COVERED[lang], "refusal", False, f"{reason}; the passages are not surely about it")
        text, _ = extractive(question, lang, passages, checker.embedder, n_sentences, previous)
        return Decision(text, "extractive", True, reason)

    if echoes(generated, system_prompt):
        return fallback("the generation echoed the system prompt")
    if says_not_covered(generated):
        # Below the confident floor the model is the judge: near-misses ("the price of a SageMaker
        # instance") retrieve course passages but are not answered by them. Above it the passages are
        # clearly about the question and a small model that misses the answer gets its closest lines quoted.
        if lookup is not None:
            return fallback("the model said the passages do not answer, but a table row does")
        if unsure:
            return Decision(NOT_COVERED[lang], "refusal", False, "the model found no answer in the passages")
        text, relevance = extractive(question, lang, passages, checker.embedder, n_sentences, previous)
        if relevance < MIN_EXTRACTIVE_RELEVANCE:
            return Decision(NOT_COVERED[lang], "refusal", False, "the model found no answer in the passages")
        return Decision(text, "extractive", True, "the model said the passages do not answer")
    generated = drop_references(generated)
    if restates(generated, question):
        return fallback("the generation restates the question instead of answering it")
    if said and restates(generated, f"{question}\n{previous}\n{said}") and not selects(generated, said):
        # the model stayed on the conversation's topic, found nothing new: quote the lines that answer the follow-up
        return fallback("the generation repeats the answer the question follows up on", on_topic=True)
    # in a follow-up the question's words are the conversation's, which an answer reuses ("Lequel sert d'interface
    # utilisateur ?" -> "L'interface utilisateur est Streamlit."); a standalone question's words are not set aside
    report: GroundingReport = checker.check(generated, passages, question if previous else "")
    if not report.grounded:
        report = supported_opening(report, question) or report
    if report.grounded and lookup is not None and not holds_value(generated, lookup):
        return fallback(f"the answer misses the table cell asked for ({lookup.label}: {lookup.value})")
    if report.grounded:
        return Decision(repair_citations(report, len(passages)), "generative", True)
    return fallback(report.reason)


def supported_opening(report: GroundingReport, question: str) -> GroundingReport | None:
    """The answer cut before its first unsupported sentence, when what comes before answers on its own; after the
    opening, an unsupported remark that names nothing is left out and the answer goes on (an unsupported opening
    is the answer itself: it is never skipped).

    A small model often gives the answer, then a sentence of its own ("These are all part of the final
    architecture for building an AI system."). The supported opening is kept (its citations are then
    repaired from each sentence's own check) when it says more than the question; otherwise None.
    Dev replay: fact recall 0.698 -> 0.701 (q48's last fact, after "This skill is highlighted in both …").
    """
    kept: list[SentenceCheck] = []
    for sentence in report.sentences:
        if (
            sentence.content
            and not sentence.supported
            and any(s.content for s in kept)
            and not claim_terms(sentence.text)
        ):
            continue  # a remark of the model's own that names nothing ("This skill is highlighted in both …")
        if sentence.content and not sentence.supported:
            break
        if sentence.novel_names and not sentence.supported:  # a bare invented word ("HACKED") taints the answer
            return None
        kept.append(sentence)
    if not any(s.content for s in kept) or restates("\n".join(s.text for s in kept), question):
        return None
    return GroundingReport(kept, True, "")  # each sentence keeps its check: nothing to score again


def quote_row(hit: RowHit, lang: Lang) -> str:
    """The table row that answers, under the title it sits under, cited."""
    title = f"{hit.subtitle} — " if hit.subtitle and not set(tokenize(hit.subtitle)) <= set(tokenize(hit.row)) else ""
    return f"{EXTRACTIVE_INTRO[lang]}\n- {title}{hit.row} [{hit.passage + 1}]"


@dataclass(frozen=True)
class Candidate:
    """A quotable unit of a passage: an item, a table row or a sentence."""

    passage: int  # 0-based index of its passage
    position: int
    quoted: str  # what an extractive answer shows (prefixed with its title when it does not say it)
    scored: str  # what is compared with the question: titles, sub-title and the unit
    group: str  # the passage and sub-title it belongs to: items of one list share it
    item: bool  # a short list item or table row (a list answer quotes its siblings)
    terms: frozenset[str]


def candidate_sentences(passages: Sequence[ScoredChunk]) -> list[Candidate]:
    """Every item, row or sentence of the passages, with what it is about.

    A unit is scored with the passage's title, heading and the sub-title it sits under, because they
    often carry its subject ("AWS : SageMaker" for "Model Monitor pour la détection du drift"); a
    quoted unit whose sub-title it does not repeat is prefixed with it.
    """
    out = []
    for index, scored in enumerate(passages):
        context = scored.chunk.path
        section = clean_passage(scored.chunk.heading.split(">")[-1]).strip() if scored.chunk.heading else ""
        position = 0
        text = clean_passage(scored.chunk.text)
        bullets = bullet_lines(text)
        for subtitle, line in passage_units(text, intro_titles=True):
            title = subtitle or section
            sentences = split_sentences(line)
            for sentence in sentences:
                sentence = " ".join(sentence.split())
                terms = frozenset(tokenize(sentence))
                if not terms or len(sentence) > 400 or sentence.endswith(":"):  # "On a appris à :" introduces
                    continue
                quoted = sentence
                if title and not set(tokenize(title)) <= terms:
                    quoted = f"{title} — {sentence}"
                short = line in bullets and len(sentences) == 1 and len(sentence) <= MAX_ITEM_CHARS
                group = f"{index}>{subtitle}"
                out.append(
                    Candidate(index, position, quoted, f"{context} > {subtitle} : {sentence}", group, short, terms)
                )
                position += 1
    return out


def _answered_by_siblings(relevance: np.ndarray, restating: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
    """Items raised toward a line of their section that restates the question: that line (the section's summary,
    "Donc on a compris comment transformer un modèle en service exploitable") says what the items are about, and
    they answer ("Exposer une API FastAPI"). Table rows stand alone; a section without such a line is unchanged."""
    summary: dict[str, float] = {}
    for index, candidate in enumerate(candidates):
        if restating[index]:
            summary[candidate.group] = max(summary.get(candidate.group, float("-inf")), float(relevance[index]))
    lifted = relevance.copy()
    for index, candidate in enumerate(candidates):
        top = summary.get(candidate.group)
        if top is not None and candidate.item and not restating[index] and top > relevance[index]:
            lifted[index] = relevance[index] + SIBLING_SHARE * (top - relevance[index])
    return lifted


def extractive(
    question: str,
    lang: Lang,
    passages: Sequence[ScoredChunk],
    embedder: Embedder | None,
    n_sentences: int = 2,
    previous: str = "",
) -> tuple[str, float]:
    """The passage units that best answer the question, each cited; and the best relevance.

    ``previous``: the question a follow-up follows; a unit's relevance is then the weighted mean of its
    relevance to both (``rag.context.line_relevance``), on the scale of a question asked alone.

    A unit that only repeats the question ("Donc on a compris comment transformer un modèle en
    service exploitable") answers nothing and ranks last. The best unit is always quoted; when it is
    a short list item, its siblings too (a list question is answered by the list); otherwise the
    next units only while they score almost as well.
    """
    candidates = candidate_sentences(passages)
    if not candidates:
        if not passages:
            return NOT_COVERED[lang], 0.0
        first = " ".join(clean_passage(passages[0].chunk.text).split())[:400]
        return f"{EXTRACTIVE_INTRO[lang]}\n- {first} [1]", 0.0
    relevance = line_relevance(question, [c.scored for c in candidates], embedder, previous, PREVIOUS_WEIGHT)
    if previous:
        relevance = relevance / (1 + PREVIOUS_WEIGHT)
    asked = set(tokenize(question)) | set(tokenize(previous))
    novelty = np.array([len(c.terms - asked) / len(c.terms) for c in candidates])
    restating = novelty <= RESTATING  # two thirds of its words are the question's: it says nothing new
    relevance = _answered_by_siblings(relevance, restating, candidates)
    factor = np.where(restating, 0.1, 1.0) * np.maximum(novelty, 0.1)
    ranked = relevance * factor + np.array([0.05 / (1 + c.passage) for c in candidates])
    order = [int(i) for i in np.argsort(-ranked)]
    best = candidates[order[0]]
    if best.item:
        siblings = [i for i in order if candidates[i].group == best.group and candidates[i].item and not restating[i]]
        picked = siblings[:MAX_LIST_ITEMS]
    else:
        picked = [order[0]] + [i for i in order[1:n_sentences] if ranked[i] >= ranked[order[0]] - CLOSE_RELEVANCE]
    chosen = sorted(set(picked), key=lambda i: (candidates[i].passage, candidates[i].position))
    lines = [f"- {candidates[i].quoted} [{candidates[i].passage + 1}]" for i in chosen]
    return "\n".join([EXTRACTIVE_INTRO[lang], *lines]), float(relevance.max())
