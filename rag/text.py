"""Text helpers shared by retrieval, answering, grounding and evaluation: one fold, one tokenizer.

Every comparison of words in this project (BM25 terms, coverage, grounding overlap, expected facts)
goes through ``fold`` and ``tokenize`` so that accents, case, ligatures and typographic apostrophes
never decide whether two texts say the same thing.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

# Words of a request rather than of its topic ("donne-moi", "explique"): never evidence of relevance.
REQUEST_WORDS = {
    "quel", "quelle", "quels", "quelles", "comment", "pourquoi", "quoi", "donne", "donner", "dis", "explique",
    "expliquer", "décris", "cite", "peux", "peut", "fait", "faire", "what", "which", "how", "why", "does", "give",
    "tell", "explain", "describe",
}  # fmt: skip
WORD = re.compile(r"\w+", re.UNICODE)


def _strip_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# Latin-1 and Latin Extended-A folded by one C-level translate: tokenising 100k chunks stays fast.
_FOLD = str.maketrans(
    {chr(c): _strip_marks(chr(c)) for c in range(0xC0, 0x180)} | {"œ": "oe", "æ": "ae", "\u2019": "'", "\u2018": "'"}
)


def fold(text: str) -> str:
    """Lower-case, no accents, ligatures split, straight apostrophes: 'Œuvre Été' -> 'oeuvre ete'."""
    text = text.lower().translate(_FOLD)
    return text if text.isascii() else _strip_marks(text)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS, STOPWORDS_FRENCH

    return frozenset(fold(w) for w in (*STOPWORDS_FRENCH, *STOPWORDS_EN_PLUS, *REQUEST_WORDS))


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer: compiled Snowball algorithms, nothing downloaded

    return Stemmer.Stemmer("french")


def tokenize(text: str) -> list[str]:
    """Content terms: words, accent-folded, minus French/English stopwords, Snowball-stemmed.

    Folding comes before stemming so that a question typed without accents ('donnees') gets the
    same stem as the text ('données'); stemming the accented form would give 'don' vs 'donne'.
    """
    stop = stopwords()
    words = [w for w in WORD.findall(fold(text)) if len(w) > 1 and w not in stop]
    return list(_stemmer().stemWords(words))


COGNATE_PREFIX = 5  # first letters an English and a French stem must share to be one word (see cognate)


def cognate(term: str, known: set[str] | frozenset[str]) -> bool:
    """True when ``term`` or a cognate of it is in ``known`` (stemmed, folded terms).

    French and English stems of one word differ ("reproducibility" / "reproductibilit", "automation" /
    "automatis", "quality" / "qualit"): two terms count as one word in a sentence translated from the
    passages when one begins the other (at least ``COGNATE_PREFIX`` letters), or when they share their
    first letters, more than ``COGNATE_PREFIX`` and at least half of the shorter ("automobil" is not "automatis").
    """
    if term in known:
        return True
    if len(term) < COGNATE_PREFIX:
        return False
    for other in known:
        if other[:COGNATE_PREFIX] != term[:COGNATE_PREFIX]:
            continue
        shared = COGNATE_PREFIX
        limit = min(len(term), len(other))
        while shared < limit and term[shared] == other[shared]:
            shared += 1
        if shared == limit or shared >= max(COGNATE_PREFIX + 1, 0.5 * limit):
            return True
    return False
