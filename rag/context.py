"""A smaller, better-targeted context: the passage lines that bear on the question, not whole passages.

Prompt evaluation is most of an answer's time on a CPU, and a small model reading four whole
passages often misses the one line that answers ("Le cours ne couvre pas cette question"). Every
line of the retrieved passages (an item, a table row, a sentence) is scored against the question
(cosine of its embedding with its titles, plus the share of the question's terms it holds); each
passage keeps its best line, then the best remaining lines fill ``budget_chars``. Lines keep their
passage order and the sub-title they sit under, so a row still says what it is about. The passages
themselves (numbering, sources shown to users, the grounding check) are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.chunking import passage_units
from rag.text import tokenize
from rag.types import Embedder, ScoredChunk


@dataclass(frozen=True)
class _Line:
    passage: int
    position: int
    subtitle: str
    text: str


def line_relevance(question: str, texts: Sequence[str], embedder: Embedder | None) -> np.ndarray:
    """Share of the question's content terms in each text, plus its cosine to the question when an embedder is given."""
    q_terms = set(tokenize(question))
    lexical = np.array([len(q_terms & set(tokenize(t))) / max(1, len(q_terms)) for t in texts], dtype=float)
    if embedder is None or not texts:
        return lexical
    vectors = embedder.embed_documents([question, *texts])
    return lexical + vectors[1:] @ vectors[0]


def focus(question: str, passages: Sequence[ScoredChunk], embedder: Embedder | None, budget_chars: int) -> list[str]:
    """The text to show of each passage, same order: its best line always, then the best lines while they fit."""
    lines = [
        _Line(index, position, subtitle, line)
        for index, scored in enumerate(passages)
        for position, (subtitle, line) in enumerate(passage_units(scored.chunk.text))
    ]
    if not lines:
        return [scored.chunk.text for scored in passages]
    scores = line_relevance(
        question, [f"{passages[x.passage].chunk.path} > {x.subtitle} : {x.text}" for x in lines], embedder
    )
    order = [int(i) for i in np.argsort(-scores)]
    chosen: set[int] = set()
    for index in range(len(passages)):  # every passage keeps its best line: its number must mean something
        best = next((i for i in order if lines[i].passage == index), None)
        if best is not None:
            chosen.add(best)
    used = sum(len(lines[i].text) + 3 for i in chosen)
    for i in order:
        if i in chosen:
            continue
        cost = len(lines[i].text) + 3
        if used + cost > budget_chars:
            continue
        chosen.add(i)
        used += cost
    return [_render(lines, chosen, index) for index in range(len(passages))]


def _render(lines: list[_Line], chosen: set[int], passage: int) -> str:
    out: list[str] = []
    subtitle = ""
    for i, line in enumerate(lines):
        if line.passage != passage or i not in chosen:
            continue
        if line.subtitle and line.subtitle != subtitle:
            out.append(line.subtitle)
            subtitle = line.subtitle
        out.append(f"- {line.text}")
    return "\n".join(out)
