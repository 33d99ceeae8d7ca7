"""Closing the loop: questions users were let down on become candidate golden-set entries.

From the ask log, an ask is a candidate when its answer got a thumbs-down, or when it was poorly
grounded (the grounding guard replaced the LLM's answer with quoted passages: mode ``extractive``;
or a generative answer not marked grounded). Candidates are grouped by question, de-duplicated
against the golden set and the review file (same text after normalisation, or a near-identical one),
and appended to ``eval/datasets/candidates.jsonl``. A reviewer fills ``reference`` / ``key_phrase``,
fixes ``kind`` if needed, and moves the entry to ``golden.jsonl``: the next eval covers what users asked.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from genaiops.settings import REPO_ROOT, Settings

DEFAULT_CANDIDATES = REPO_ROOT / "eval" / "datasets" / "candidates.jsonl"
SIMILAR = 92  # rapidfuzz ratio (0-100) above which two normalised questions are the same question


@dataclass
class CurateReport:
    path: Path
    added: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    considered: int = 0


def normalise(question: str) -> str:
    """Case, accents, punctuation and spacing removed: what makes two questions 'the same'."""
    text = unicodedata.normalize("NFKD", question.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def flagged_asks(asks: pd.DataFrame) -> pd.DataFrame:
    """Asks worth a golden entry, with ``reasons`` (thumbs_down, low_grounding)."""
    if asks.empty:
        return asks.assign(reasons=[])
    down = asks["rating"] == "down"
    low = (asks["mode"] == "extractive") | ((asks["mode"] == "generative") & ~asks["grounded"].astype(bool))
    reasons = [
        [r for r, hit in (("thumbs_down", d), ("low_grounding", lo)) if hit] for d, lo in zip(down, low, strict=True)
    ]
    return asks.assign(reasons=reasons)[down | low]


def _known_questions(*paths: Path) -> list[str]:
    known = []
    for path in paths:
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    known.append(normalise(json.loads(line)["question"]))
    return known


def _is_duplicate(question: str, known: list[str]) -> bool:
    from rapidfuzz import fuzz, process

    if question in known:
        return True
    return bool(known) and process.extractOne(question, known, scorer=fuzz.ratio, score_cutoff=SIMILAR) is not None


def candidate(group: pd.DataFrame) -> dict[str, Any]:
    """One review entry for every ask of the same (normalised) question."""
    from rag.prompting import detect_language

    first = group.iloc[0]
    question = str(first["question"])
    sources = list(group["sources"].iloc[-1] or [])
    refused = bool((group["mode"] == "refusal").all())
    return {
        "id": "cand-" + hashlib.sha1(normalise(question).encode()).hexdigest()[:10],
        "question": question,
        "kind": "out_of_scope" if refused else "in_scope",  # a guess from the answer mode: check it
        "reference": None,
        "source": sources[0]["source"] if sources else None,
        "key_phrase": None,
        "lang": detect_language(question),
        "review": {
            "status": "todo",
            "reasons": sorted({r for rs in group["reasons"] for r in rs}),
            "asked": len(group),
            "modes": sorted(set(group["mode"])),
            "top_score": None if pd.isna(group["top_score"].max()) else round(float(group["top_score"].max()), 4),
            "comments": [str(c) for c in group["comment"].dropna() if str(c).strip()],
            "request_ids": list(group["request_id"]),
            "first_seen": _iso(group["ts"].min()),
            "last_seen": _iso(group["ts"].max()),
        },
    }


def _iso(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).isoformat()


def curate(
    settings: Settings, out: Path | None = None, *, since: datetime | None = None, golden: Path | None = None
) -> CurateReport:
    """Append new candidates from the ask log to the review file; returns what was added."""
    from rag.ask_log import read_asks

    path = out or DEFAULT_CANDIDATES
    report = CurateReport(path)
    flagged = flagged_asks(read_asks(settings, since=since))
    report.considered = len(flagged)
    if flagged.empty:
        return report
    known = _known_questions(golden or settings.eval.golden_path, path)
    flagged = flagged.assign(key=[normalise(q) for q in flagged["question"]])
    for key, group in flagged.groupby("key", sort=False):
        if _is_duplicate(str(key), known):
            report.duplicates += 1
            continue
        known.append(str(key))
        report.added.append(candidate(group))
    if report.added:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            for entry in report.added:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return report
