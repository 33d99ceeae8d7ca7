"""The grounding guard: is each sentence of an answer supported by the passages it was given?

The default model (0.5B parameters) answers well from a context most of the time, but sometimes
adds names, tools or loops that no passage contains. Every content sentence is checked against the
passages by lexical overlap (stemmed content words, as BM25 sees them) and, when an embedder is
given, by cosine similarity to the passages' sentences; a name absent from every passage is never
supported, even when the question holds it (a question can smuggle in a word for the model to repeat,
e.g. "then write HACKED"). Citations are then repaired to point at the passage that supports
each sentence, and out-of-range ones are dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from rag.chunking import bullet_lines, clean_inline, passage_units, row_cells
from rag.prompting import detect_language
from rag.text import cognate, fold, stopwords, tokenize
from rag.types import Embedder, ScoredChunk

_CITATION = re.compile(r"\[\s*(?:passages?|sources?)?\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|\n+")
_LEADING_CITATIONS = re.compile(r"^((?:\s*\[[^\]]*\d[^\]]*\])+)\s*")
_STRONG_NAME = re.compile(r"\b(?:[A-Z][a-z]+[A-Z]\w*|[A-Za-z]+-?\d[\w.-]*|[A-Z]{2,}\w*)")
_CAPITALISED = re.compile(r"\b[A-Z][a-zà-öø-ÿ]{2,}\b")
MIN_CONTENT_TOKENS = 3
# A sentence in another language than its passages (an English answer over the French course) shares
# only names and cognates with them: it needs this share of the usual lexical overlap.
CROSS_LANGUAGE_OVERLAP = 0.7
CROSS_LANGUAGE_SIMILARITY = 2 / 3  # ... and, in that lenient band, this share of the usual cosine


@dataclass
class SentenceCheck:
    text: str  # without citation markers
    cited: list[int]  # 1-based numbers the model wrote
    content: bool  # has enough content words to be checked
    overlap: float = 0.0  # share of the sentence's content words found in the passages
    cognate_overlap: float = 0.0  # the same, counting French/English cognates (translated sentences only)
    similarity: float | None = None  # best cosine to a passage sentence
    best: int | None = None  # 0-based index of the passage that supports it most
    per_passage: list[float] = field(default_factory=list)  # overlap with each passage
    novel_names: list[str] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)  # names the passages never put with the sentence's others
    translated: bool = False  # in another language than the passages
    supported: bool = False


@dataclass
class GroundingReport:
    sentences: list[SentenceCheck]
    grounded: bool
    reason: str  # why not grounded, "" when grounded


def citations(text: str) -> list[int]:
    return [int(n) for group in _CITATION.findall(text) for n in re.split(r"[,;]", group)]


def split_sentences(text: str) -> list[str]:
    """Sentences and list items; a citation that opens a sentence belongs to the previous one."""
    pieces = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    merged: list[str] = []
    for piece in pieces:
        match = _LEADING_CITATIONS.match(piece)
        if match and merged:
            merged[-1] += " " + match.group(1).strip()
            piece = piece[match.end() :]
        if piece.strip():
            merged.append(piece.strip())
    return merged


def strip_citations(text: str) -> str:
    """The text without citation markers, and without the gaps they leave ("Streamlit [1] and" -> "Streamlit and")."""
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"\s+([.,;:!?])", r"\1", _CITATION.sub("", text))).strip()


def names_in(text: str) -> list[str]:
    """Words that look like names, products or versions (SageMaker, GPT-4, AWS, Anthropic).

    A capitalised word only counts mid-sentence: after a full stop, a colon, a bullet or a quote it is
    just an ordinary word starting a phrase.
    """
    found = [m.group(0) for m in _STRONG_NAME.finditer(text)]
    for match in _CAPITALISED.finditer(text):
        before = text[: match.start()].rstrip()
        if before and before[-1] not in ".:;!?*-(\"'«[>#|":
            found.append(match.group(0))
    return found


_QUOTED = re.compile(r"«[^»]*»|\"[^\"]*\"|“[^”]*”")
_REFERENCE_NOUN = re.compile(r"\b(passages?|sources?|contexte?|sections?|extraits?|chapitres?|chapters?)\b")


@lru_cache(maxsize=1)
def _reference_terms() -> frozenset[str]:
    words = (
        "passage passages source sources contexte context section sections extrait extraits chapitre chapter "
        "mentionné mentionne mentioned mention cité cite cited indiqué indique stated states state décrit "
        "described trouve trouvé found expliqué explained directement directly voir see cours course listed listés "
        "covers cover couvre"
    )
    return frozenset(tokenize(words))


def is_reference(sentence: str) -> bool:
    """A sentence that only says where the answer came from ("Cela est mentionné dans les passages [1] et [3].",
    "This is stated in passage 2 under «Multi-Cloud»"): no claim to check, and nothing the user needs.

    It names a passage, source or section, and once quoted titles, numbers and those words are set
    aside, at most one content word is left; or it has no content word but those ("mentioned").
    """
    text = strip_citations(sentence)
    terms = [t for t in tokenize(_QUOTED.sub(" ", text)) if not t.isdigit()]
    rest = [t for t in terms if t not in _reference_terms()]
    if _REFERENCE_NOUN.search(fold(text)):
        return len(rest) <= 1
    return bool(terms) and not rest  # "This is mentioned in both [1] and [2]."


def says_nothing(sentence: str) -> bool:
    """No content word and no number once citations are set aside: a stray fragment ("and. [2]") a small
    model left after its answer, seen under load on 2026-12-06."""
    return not tokenize(strip_citations(sentence))


def drop_references(text: str) -> str:
    """The answer without its reference-only sentences (``is_reference``) and its empty fragments
    (``says_nothing``), one sentence or item per line; all of it when nothing else would be left."""
    sentences = split_sentences(text)
    kept = [s for s in sentences if not (is_reference(s) or says_nothing(s))]
    return text if len(kept) == len(sentences) or not kept else "\n".join(kept)


def repeats(text: str) -> bool:
    """A generation loop: some three-word run occurs four times or more."""
    words = fold(text).split()
    grams = Counter(tuple(words[i : i + 3]) for i in range(len(words) - 2))
    return bool(grams) and max(grams.values()) >= 4


_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")


_ANSWER_WORDS = frozenset({"yes", "no", "oui", "non", "si"})  # "Yes, Git and GitHub ..." names nothing
_FIRST_WORD = re.compile(r"^\W*([A-ZÀ-Ý][\w-]{2,})")


def claim_terms(text: str) -> list[str]:
    """The names and numbers a sentence puts together (folded, deduplicated): what a claim pairs.

    A capitalised first word counts too unless it is a stopword ("Evidently détecte..." names a tool;
    "Le drift..." does not).
    """
    text = strip_citations(text)
    first = _FIRST_WORD.match(text)
    opening = [first.group(1)] if first and fold(first.group(1)) not in stopwords() | _ANSWER_WORDS else []
    found = [fold(n) for n in [*opening, *names_in(text)]] + _NUMBER.findall(text)
    return list(dict.fromkeys(t for t in found if len(t) > 1 or t.isdigit()))


def unit_contexts(passages: Sequence[ScoredChunk]) -> list[str]:
    """The scopes in which facts stand together (folded): each line of each passage with the titles it sits
    under, and each plain list as a whole.

    Items of one list answer together ("Streamlit (frontend)", "LLM service (Ollama)": the frontend is
    Streamlit and the LLM service Ollama); rows of one table do not (AWS on the Feature Store row,
    WhyLabs on the Monitoring row), so rows stand alone; a diagram's chain pairs neighbouring steps only.
    """
    out: list[str] = []
    for scored in passages:
        label = scored.chunk.path
        bullets = bullet_lines(scored.chunk.text)
        lists: dict[str, list[str]] = {}
        for subtitle, line in passage_units(scored.chunk.text, intro_titles=True):
            out.extend(fold(f"{label} > {subtitle} : {step}") for step in _chain_links(line))
            if line in bullets and row_cells(line) is None:
                lists.setdefault(subtitle, []).append(line)
        out.extend(fold(f"{label} > {sub} : {' | '.join(items)}") for sub, items in lists.items() if len(items) > 1)
    return out


_TERM_PHRASE = re.compile(r"\b[A-Z][\w-]+(?:\s+[A-Z][\w-]+)+")


def term_phrases(passages: Sequence[ScoredChunk]) -> frozenset[str]:
    """The passages' capitalised multi-word terms (folded): a table's row keys and tools ("Data Validation",
    "Model Registry", "Great Expectations"), which an answer may write in lower case ("for data validation")."""
    found = set()
    for scored in passages:
        for match in (m for line in scored.chunk.text.splitlines() for m in _TERM_PHRASE.finditer(clean_inline(line))):
            words = fold(match.group(0)).split()
            while words and words[0] in stopwords():  # "Le Feature Store" opens a sentence
                words.pop(0)
            if len(words) > 1:
                found.add(" ".join(words))
    return frozenset(found)


def _chain_links(line: str) -> list[str]:
    """A diagram's chain ("Data Collection → Data Validation → … → Model Registry") pairs each step with its
    neighbours only, not with every step of the chain; any other line is one scope."""
    steps = [step.strip() for step in line.split("→")]
    if len(steps) < 3:
        return [line]
    return [f"{a} → {b}" for a, b in zip(steps, steps[1:], strict=False)]


def _longest_phrases(folded: str, phrases: frozenset[str]) -> list[str]:
    """The phrases written in ``folded``, longest first, each where no longer one already stands: "Vertex AI
    Feature Store" is one term, not also "Vertex AI" and "Feature Store", which would pair it with the rows
    that name those (Vertex AI on the Training row, beside Azure ML)."""
    taken: list[tuple[int, int]] = []
    found = []
    for phrase in sorted(phrases, key=lambda p: (-len(p), p)):
        for match in re.finditer(rf"(?<!\w){re.escape(phrase)}(?!\w)", folded):
            if not any(match.start() < end and start < match.end() for start, end in taken):
                taken.append(match.span())
                if phrase not in found:
                    found.append(phrase)
    return found


def unpaired_names(sentence: str, units: Sequence[str], phrases: frozenset[str] = frozenset()) -> list[str]:
    """Names of the sentence that no passage line (with its titles) holds together with another of its names.

    "Sur AWS, le drift se détecte avec WhyLabs": AWS and WhyLabs each occur in the passages, but never
    in the same line, so the sentence pairs them on its own: a wrong pairing. A sentence with one name
    (or none) pairs nothing and passes. ``phrases`` (``term_phrases``) found in the sentence in any case count
    as names: "MLflow and Model Registry as tools for data validation" pairs the registry's tools with
    another row's key.
    """
    folded = fold(strip_citations(sentence))
    terms = claim_terms(sentence)
    found = _longest_phrases(folded, phrases)
    if found:  # "Model Registry" is one term: its words alone ("model") pair with any other model's line
        words = {word for phrase in found for word in phrase.split()}
        terms = [t for t in terms if t not in words and t not in found] + found
    if len(terms) < 2:
        return []
    bounded = [re.compile(rf"(?<!\w){re.escape(t)}(?!\w)") for t in terms]
    holders = [{i for i, unit in enumerate(units) if pattern.search(unit)} for pattern in bounded]
    unpaired = []
    for index, term in enumerate(terms):
        others = set().union(*(h for j, h in enumerate(holders) if j != index))
        if not holders[index] & others:
            unpaired.append(term)
    return unpaired


class GroundingChecker:
    """Scores answer sentences against passages. Thresholds come from settings.rag.grounding_*."""

    def __init__(self, embedder: Embedder | None, min_overlap: float, min_similarity: float) -> None:
        self.embedder = embedder
        self.min_overlap = min_overlap
        self.min_similarity = min_similarity

    def check(self, answer: str, passages: Sequence[ScoredChunk], question: str = "") -> GroundingReport:
        """``question``: its words in an answer sentence are the answer's framing, not claims ("L'interface
        utilisateur est Streamlit" claims Streamlit), as are words about the course ("The course also covers"): a
        sentence's overlap is also measured without them, and the best reading counts. A name is never taken from
        the question: one no passage holds is unsupported."""
        asked = frozenset(tokenize(question))
        sentences = [self._parse(s) for s in split_sentences(answer)]
        if not passages or not any(s.content for s in sentences):
            return GroundingReport(sentences, False, "no checkable sentence" if passages else "no passages")
        if repeats(answer):
            return GroundingReport(sentences, False, "the answer repeats itself (generation loop)")
        passage_terms = [set(tokenize(p.chunk.text + " " + p.chunk.heading)) for p in passages]
        all_terms = set().union(*passage_terms)
        known = fold(" ".join(p.chunk.text + " " + p.chunk.heading for p in passages))
        corpus_lang = detect_language(" ".join(p.chunk.text for p in passages))
        for sentence in sentences:
            sentence.translated = detect_language(sentence.text) != corpus_lang
            self._score_lexical(sentence, passage_terms, all_terms, known, asked)
        self._score_semantic([s for s in sentences if s.content], passages)
        units = unit_contexts(passages)
        phrases = term_phrases(passages)
        for sentence in sentences:
            sentence.supported = self._supported(sentence)
            if sentence.supported:
                sentence.unpaired = unpaired_names(sentence.text, units, phrases)
                sentence.supported = not sentence.unpaired
        unsupported = [s for s in sentences if (s.content or s.novel_names) and not s.supported]
        if unsupported:
            first = unsupported[0]
            if first.unpaired:
                why = f"{', '.join(first.unpaired)} never stand together with the rest in one passage line"
                return GroundingReport(sentences, False, f"wrong pairing in {first.text[:80]!r}: {why}")
            return GroundingReport(sentences, False, f"unsupported: {first.text[:80]!r}")
        return GroundingReport(sentences, True, "")

    def _parse(self, raw: str) -> SentenceCheck:
        text = strip_citations(raw)
        return SentenceCheck(text=text, cited=citations(raw), content=len(tokenize(text)) >= MIN_CONTENT_TOKENS)

    def _score_lexical(
        self,
        sentence: SentenceCheck,
        passage_terms: list[set[str]],
        all_terms: set[str],
        known: str,
        asked: frozenset[str] = frozenset(),
    ) -> None:
        terms = set(tokenize(sentence.text))
        sentence.novel_names = [n for n in names_in(sentence.text) if fold(n) not in known]
        if not terms:
            return
        # the sentence's claims, with and without its framing: words about the course ("The course also covers …")
        # and the question's own words; the reading most supported counts
        framed = terms - _reference_terms()
        readings = [group for group in (terms, framed, framed - asked) if group]
        sentence.overlap = max(len(group & all_terms) / len(group) for group in readings)
        sentence.per_passage = [len(terms & t) / len(terms) for t in passage_terms]
        if sentence.translated:  # the passages' words in the other language: cognates count, with a close meaning
            sentence.cognate_overlap = max(sum(cognate(t, all_terms) for t in g) / len(g) for g in readings)
        sentence.best = int(np.argmax(sentence.per_passage))

    def _score_semantic(self, sentences: list[SentenceCheck], passages: Sequence[ScoredChunk]) -> None:
        if self.embedder is None or not sentences:
            return
        owners: list[int] = []
        units: list[str] = []
        for index, scored in enumerate(passages):
            for unit in split_sentences(scored.chunk.text) or [scored.chunk.text]:
                owners.append(index)
                units.append(unit)
        clauses = [_clauses(s.text) if s.translated else [] for s in sentences]
        flat = [c for group in clauses for c in group]
        vectors = self.embedder.embed_documents([s.text for s in sentences] + flat + units)
        answer_vecs, clause_vecs = vectors[: len(sentences)], vectors[len(sentences) : len(sentences) + len(flat)]
        unit_vecs = vectors[len(sentences) + len(flat) :]
        sims = answer_vecs @ unit_vecs.T
        clause_best = (clause_vecs @ unit_vecs.T).max(axis=1) if flat else np.zeros(0)
        start = 0
        for row, sentence, group in zip(sims, sentences, clauses, strict=True):
            sentence.similarity = float(row.max())
            if group:  # a translated sentence that sums up several lines: each clause is close to its own line
                sentence.similarity = max(sentence.similarity, float(clause_best[start : start + len(group)].mean()))
                start += len(group)
            if sentence.overlap < self.min_overlap:  # the embedder knows better which passage it came from
                sentence.best = owners[int(row.argmax())]

    def _supported(self, sentence: SentenceCheck) -> bool:
        if sentence.novel_names:
            return False
        if not sentence.content:
            return True
        if sentence.overlap >= self.min_overlap:
            return True
        if (
            sentence.translated
            and max(sentence.overlap, sentence.cognate_overlap) >= self.min_overlap * CROSS_LANGUAGE_OVERLAP
        ):
            # fewer shared words are expected (some only as cognates), so the meaning must be close too
            return sentence.similarity is None or sentence.similarity >= self.min_similarity * CROSS_LANGUAGE_SIMILARITY
        similar = sentence.similarity is not None and sentence.similarity >= self.min_similarity
        return similar and sentence.overlap >= self.min_overlap / 2


_CLAUSE_BREAK = re.compile(r"[,:;()]\s*|\s+(?:and|et)\s+")


def _clauses(sentence: str) -> list[str]:
    """The clauses of a sentence that enumerates ("it lacks several key elements: it's not productionizable, the
    data used for training differs from the real data, …"), when it has two or more with content; else none.
    Translated, such a sentence is far from every single line it sums up, though each clause is close to one."""
    parts = [part.strip() for part in _CLAUSE_BREAK.split(sentence)]
    parts = [part for part in parts if len(tokenize(part)) >= MIN_CONTENT_TOKENS]
    return parts if len(parts) > 1 else []


def repair_citations(report: GroundingReport, n_sources: int, min_overlap: float = 0.25) -> str:
    """Rebuild the answer with valid citations: out-of-range numbers dropped, missing ones added.

    A cited passage is kept when it shares at least ``min_overlap`` of the sentence's content words;
    a supported sentence left with no citation cites the passage that supports it best.
    """
    lines = []
    for sentence in report.sentences:
        valid = [n for n in dict.fromkeys(sentence.cited) if 1 <= n <= n_sources]
        overlaps = sentence.per_passage
        if overlaps:
            valid = [n for n in valid if n - 1 < len(overlaps) and overlaps[n - 1] >= min_overlap]
        if not valid and sentence.content and sentence.supported and sentence.best is not None:
            valid = [sentence.best + 1]
        marks = "".join(f"[{n}]" for n in valid)
        lines.append(f"{sentence.text} {marks}".strip())
    return _join_sentences(lines)


def _join_sentences(lines: Sequence[str]) -> str:
    """Sentences side by side, but a list item on its own line: "On a appris à :" then "- Utiliser command()"
    each under the other, as the chat renders a markdown list, not run together into one paragraph."""
    out = ""
    for index, line in enumerate(lines):
        item = line.startswith(("- ", "* ")) or (index > 0 and lines[index - 1].startswith(("- ", "* ")))
        out += ("\n" if item else " ") + line if out else line
    return out.strip()
