"""Table-row lookups: a question that names a row's subject and one of its columns is answered by one cell.

"Quelle logique de déploiement a été utilisée sur AWS ?" over the row "Provider : AWS ; Logique : VM / ECS":
the question holds one cell's value (AWS) and another cell's label (Logique), so the answer is that
cell's value (VM / ECS). Reading several tables at once, the model often takes a neighbour's value
("SageMaker Pipelines", from a list about AWS in another passage), and the grounding guard lets it
through because the course does put AWS and SageMaker together. The lookup is exact and costs no
generation, so the answer decision (``rag.answer.decide``) uses it to catch a generation that
missed the cell. Rows are what ingestion makes of tables (``rag.chunking.row_cells``).

A follow-up ("Et pour AWS ?") takes the column from the question it follows, or from the answer it
follows: "What about monitoring?" after "Which tools does the course list for model training?" and
its answer "SageMaker, Vertex AI or Azure ML" asks for the column that answer came from (the Training
row's "Outil cloud typique"), in whatever language the conversation is. At least one of the row's
subject and column must come from the question itself, so an unrelated follow-up never inherits an
earlier lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.chunking import passage_units, row_cells
from rag.text import fold, tokenize
from rag.types import ScoredChunk

_ASKED = 2  # a term of the question itself weighs twice one of the question it follows


@dataclass(frozen=True)
class RowHit:
    passage: int  # 0-based index of the passage holding the row
    subtitle: str  # the title the row sits under in its passage, "" if none
    row: str  # the row as the passage writes it
    label: str  # the column the question asks for
    value: str  # that column's cell: the answer
    score: int


def lookup_row(question: str, passages: Sequence[ScoredChunk], previous: str = "", said: str = "") -> RowHit | None:
    """The cell that answers ``question`` (``previous``: the user question it follows, if any; ``said``: the
    answer it follows); None if no row fits, or if two rows fit equally well with different answers."""
    asked = set(tokenize(question))
    known = asked | set(tokenize(previous))
    rows = [
        (index, subtitle, line, cells)
        for index, scored in enumerate(passages)
        for subtitle, line in passage_units(scored.chunk.text)
        if (cells := row_cells(line))
    ]
    answered = _columns_answered([cells for *_, cells in rows], said)
    hits: list[RowHit] = []
    for index, subtitle, line, cells in rows:
        hits.extend(_row_hits(index, subtitle, line, cells, asked, known, answered))
    if not hits:
        return None
    hits.sort(key=lambda h: -h.score)
    best = hits[0]
    rivals = [h for h in hits[1:] if h.score == best.score and _terms(h.value) != _terms(best.value)]
    return None if rivals else best


def _columns_answered(rows: Sequence[list[tuple[str, str]]], said: str) -> set[str]:
    """The columns (folded labels) of which the answer ``said`` gave a cell: all of a short cell's terms, at least
    two and half of a longer one's ("WhyLabs et Evidently" gave "WhyLabs, Evidently, services natifs"; a
    sentence on "l'orchestration" did not give "Orchestration ML")."""
    said_terms = _terms(said)
    if not said_terms:
        return set()
    columns = set()
    for cells in rows:
        for label, value in cells:
            value_terms = _terms(value)
            needed = min(len(value_terms), max(2, (len(value_terms) + 1) // 2))
            if value_terms and len(value_terms & said_terms) >= needed:
                columns.add(fold(label))
    return columns


def _row_hits(
    index: int,
    subtitle: str,
    line: str,
    cells: list[tuple[str, str]],
    asked: set[str],
    known: set[str],
    answered: set[str],
) -> list[RowHit]:
    out = []
    for s, (_, subject) in enumerate(cells):
        subject_terms = _terms(subject)
        if not subject_terms or not subject_terms <= known:
            continue
        for k, (label, value) in enumerate(cells):
            label_terms, value_terms = _terms(label), _terms(value)
            named, was_answered = label_terms & known, fold(label) in answered
            if k == s or not (named or was_answered) or not value_terms or value_terms <= known:
                continue  # the column is not asked for, or its value is already in the question
            if not (subject_terms & asked or label_terms & asked):
                continue  # nothing of the row comes from this question: an unrelated follow-up
            score = sum(_ASKED if t in asked else 1 for t in subject_terms) + sum(
                _ASKED if t in asked else 1 for t in named
            )
            out.append(RowHit(index, subtitle, line, label, value, score + was_answered))
    return out


def _terms(text: str) -> set[str]:
    return set(tokenize(text))


def holds_value(text: str, hit: RowHit) -> bool:
    """Whether an answer gives the looked-up cell: at least half of its content terms (accent-insensitive)."""
    value = _terms(hit.value)
    found = value & set(tokenize(text))
    return 2 * len(found) >= len(value) or fold(hit.value) in fold(text)
