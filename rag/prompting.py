"""From a question and its passages to chat messages: language, injection screening, delimiting.

User text and passages are data: they are placed inside delimiters the prompt names, and any
copy of those delimiters inside them is removed so a passage or a question cannot close its own
block and speak as the system. Questions that try to override or extract the instructions are
recognised here, before anything reaches the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prompts import PromptTemplate
from rag.text import fold
from rag.types import ChatMessage, ScoredChunk

Lang = Literal["fr", "en"]

LANGUAGE_NAMES: dict[Lang, str] = {"fr": "French", "en": "English"}
NOT_COVERED: dict[Lang, str] = {
    "fr": "Le cours ne couvre pas cette question.",
    "en": "The course does not cover this question.",
}
INJECTION_REFUSAL: dict[Lang, str] = {
    "fr": "Je ne peux pas faire cela : je réponds seulement aux questions sur le cours, "
    "et je ne modifie ni ne révèle mes consignes.",
    "en": "I can't do that: I only answer questions about the course, and I neither change nor reveal my instructions.",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FR_WORDS = _words(
    "le la les un une des du de et est sont que qui quoi quel quelle quels quelles quand comment pourquoi "
    "dans pour sur avec sans par pas ne au aux ce cette ces il elle on nous vous je tu mon ma mes son sa "
    "ses leur leurs ou où mais donc car se qu'est c'est est-ce faut peut doit entre plus très aussi"
)
_EN_WORDS = _words(
    "the a an and is are was were what which who whom how why when where does do did of to in for on with "
    "without by not this that these those it its we you i my your their there can should must between "
    "more very also about from be have has"
)
_WORD = re.compile(r"[a-zà-öø-ÿœæ'’-]+", re.IGNORECASE)


def detect_language(text: str) -> Lang:
    """French or English by stopword counts; French (the corpus language) on a tie."""
    words = [w.replace("’", "'") for w in _WORD.findall(text.lower())]
    fr = sum(w in _FR_WORDS or w.split("'")[0] in {"l", "d", "qu", "c", "j", "n", "s"} for w in words)
    en = sum(w in _EN_WORDS for w in words)
    fr += sum(ch in "éèêàùçôîâœ" for ch in text.lower()) > 0
    return "en" if en > fr else "fr"


_INJECTION_PATTERNS = [
    # override: "ignore / forget / disregard ... instructions|rules"
    r"\b(ignore[rz]?|oublie[rz]?|disregard|forget|bypass|contourne[rz]?|override)\b.{0,60}"
    r"\b(instructions?|rules?|consignes?|regles?|directives?|prompt|guidelines?|constraints?)\b",
    # extraction: the system prompt by name, in either language
    r"\b(system|systeme|initial|hidden|cache|secret)\s*(prompt|message|instructions?)\b",
    r"\bprompt\s*(systeme|system|initial|cache|secret)\b",
    r"\b(your|tes|vos|ton|votre)\s+(instructions?|rules|consignes?|regles|directives?|prompt)\b",
    r"\b(reveal|repeat|print|display|leak|show|output|revele[rz]?|repete[rz]?|affiche[rz]?|montre[rz]?|"
    r"recopie[rz]?)\b.{0,40}"
    r"\b(prompt|everything above|tout ce qui precede|texte ci-dessus|text above|your instructions|tes consignes|"
    r"mot pour mot|word for word|verbatim|qui precede)\b",
    # a forged turn: "SYSTEM: new rule ..." at the start of a line, or new rules announced in the question
    r"(^|\n)\s*(system|systeme|assistant|developer)\s*:",
    r"\b(nouvelles?|new)\s+(regles?|rules?|consignes?|instructions?|directives?)\b",
    # role play
    r"\b(you are now|tu es maintenant|vous etes maintenant|act as|agis comme|pretend|fais semblant|"
    r"developer mode|mode developpeur|jailbreak|dan mode)\b",
    r"<\s*/?\s*(context|question|system)\s*>",
]
_INJECTION = re.compile("|".join(f"(?:{p})" for p in _INJECTION_PATTERNS))


def looks_like_injection(text: str) -> bool:
    """True for common attempts (FR/EN) to override or extract the instructions."""
    return bool(_INJECTION.search(fold(text)))


_DELIMITER = re.compile(r"<\s*/?\s*(context|question)\s*>", re.IGNORECASE)


def as_data(text: str) -> str:
    """Text safe to place inside a delimited block: no copies of our delimiters."""
    return _DELIMITER.sub(" ", text).strip()


@dataclass(frozen=True)
class BuiltPrompt:
    messages: list[ChatMessage]
    system: str
    passages: list[ScoredChunk]  # the passages the context numbers [1..n], in order


_FENCE = re.compile(r"```.*?```", re.DOTALL)
_HTML = re.compile(r"<[^>]+>")
_MARKUP = re.compile(r"[*`#>]+|^\s*\+\s+|^\s*\|?\s*:?-{3,}.*$|-{3,}", re.MULTILINE)


def clean_passage(text: str) -> str:
    """Passage text without code blocks, HTML and markdown marks: what a small model should read or quote.

    Left in, a 0.5B model copies ``<hr> + ### **`` and diagram code into its answers. List bullets
    ("- ") stay: they tell items apart. Passages from rag/chunking.py are already clean; this guards
    passages indexed by an older version.
    """
    text = _HTML.sub(" ", _FENCE.sub(" ", text))
    lines = [" ".join(_MARKUP.sub(" ", line).replace("|", " ; ").split()) for line in text.splitlines()]
    return "\n".join(line.strip(" ;") for line in lines if line.strip(" ;"))


def format_context(passages: Sequence[ScoredChunk], texts: Sequence[str] | None = None, best_last: bool = False) -> str:
    """Numbered passages, each under its document title and heading; hashed file names stay out.

    ``texts``: what to show of each passage (rag/context.py keeps the lines that matter), default all of it.
    ``best_last``: shown from the last passage to the first, so the best one ([1]) sits next to the question;
    the numbers (citations, sources) do not change.
    """
    blocks = []
    for number, scored in enumerate(passages, start=1):
        heading = " > ".join(clean_passage(part) for part in scored.chunk.path.split(">") if clean_passage(part))
        text = texts[number - 1] if texts is not None else scored.chunk.text
        body = as_data(clean_passage(text))
        blocks.append(f"[{number}] {as_data(heading)}\n{body}".strip())
    return "\n\n".join(reversed(blocks) if best_last else blocks)


def fit_passages(passages: Sequence[ScoredChunk], budget_chars: int) -> list[ScoredChunk]:
    """Keep passages in rank order while they fit the context budget (always at least one)."""
    kept: list[ScoredChunk] = []
    used = 0
    for scored in passages:
        size = len(scored.chunk.text) + 80
        if kept and used + size > budget_chars:
            break
        kept.append(scored)
        used += size
    return kept


def build_messages(
    template: PromptTemplate,
    question: str,
    passages: Sequence[ScoredChunk],
    lang: Lang,
    history: Sequence[ChatMessage] = (),
    budget_chars: int = 8000,
    texts: Sequence[str] | None = None,
    best_last: bool = False,
) -> BuiltPrompt:
    """System prompt, bounded history, then the delimited context and question.

    ``texts`` (one per passage) replaces each passage's text in the prompt (a focused context).
    """
    kept = fit_passages(passages, budget_chars) if texts is None else list(passages)
    parts = template.render(
        context=format_context(kept, texts, best_last),
        question=as_data(question),
        language=LANGUAGE_NAMES[lang],
        not_covered=NOT_COVERED[lang],
    )
    messages: list[ChatMessage] = [("system", parts.system)]
    messages += [(role, as_data(content)) for role, content in history]
    messages.append(("user", parts.user))
    return BuiltPrompt(messages=messages, system=parts.system, passages=kept)


def system_prompt(template: PromptTemplate, lang: Lang = "fr") -> str:
    """The system text as the model sees it (used to check answers never echo it)."""
    return template.system_text(context="", question="", language=LANGUAGE_NAMES[lang], not_covered=NOT_COVERED[lang])
