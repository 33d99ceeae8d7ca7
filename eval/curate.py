"""Closing the loop: questions users were let down on become candidate golden-set entries.

From the ask log, an ask is a candidate when its answer got a thumbs-down, or when it was poorly
grounded (the grounding guard replaced the LLM's answer with quoted passages: mode ``extractive``;
or a generative answer not marked grounded). Candidates are grouped by question, de-duplicated
against the golden set and the review file (same text after normalisation, or a near-identical one),
and appended to ``eval/datasets/candidates.jsonl``. A reviewer fills ``reference`` / ``key_phrase``,
fixes ``kind`` if needed, and moves the entry to ``golden.jsonl``: the next eval covers what users asked.

``source="mlflow"`` (or ``"both"``) also reads the thumbs-down traces of the MLflow experiment
``rag-traces`` (the ``user_feedback`` assessments ``POST /feedback`` attaches): what another replica or an
older ask log recorded is curated too. An ask found in both counts once (the ask log's row wins).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from genaiops.settings import REPO_ROOT, Settings
from rag.text import fold

DEFAULT_CANDIDATES = REPO_ROOT / "eval" / "datasets" / "candidates.jsonl"
SIMILAR = 92  # rapidfuzz ratio (0-100) above which two normalised questions are the same question
MAX_TRACES = 5000  # thumbs-down traces read from MLflow at most, newest first
Source = Literal["log", "mlflow", "both"]


@dataclass
class CurateReport:
    path: Path
    added: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    considered: int = 0


def normalise(question: str) -> str:
    """Case, accents, punctuation and spacing removed (``rag.text.fold``): what makes two questions 'the same'."""
    return " ".join(re.sub(r"[^\w\s]", " ", fold(question)).split())


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


def thumbs_down_traces(settings: Settings, since: datetime | None = None) -> pd.DataFrame:
    """Traces rated down in MLflow (``feedback.user_feedback = false``) as ask-log rows (the columns curation uses)."""
    from genaiops.tracking import mlflow_store
    from rag.tracing import FEEDBACK_NAME

    columns = ["request_id", "ts", "question", "top_score", "sources", "mode", "grounded", "rating", "comment"]
    store = mlflow_store(settings)
    experiment_id = store.find_experiment(settings.mlflow.rag_traces_experiment)
    if experiment_id is None:
        return pd.DataFrame(columns=columns)
    found = store.search_traces(experiment_id, f"feedback.{FEEDBACK_NAME} = 'false'", limit=MAX_TRACES)
    rows = [_trace_row(trace, FEEDBACK_NAME) for trace in found]
    frame = pd.DataFrame(rows, columns=columns)
    if not frame.empty:
        frame["ts"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
        if since is not None:
            frame = frame[frame["ts"] >= pd.Timestamp(since, tz="UTC" if since.tzinfo is None else None)]
    return frame.sort_values("ts").reset_index(drop=True) if not frame.empty else frame


def _trace_row(trace: Any, feedback_name: str) -> dict[str, Any]:
    """One ask-log-shaped row from a trace: the question (root inputs), answer mode, sources and the comment."""
    root = next((s for s in trace.data.spans if s.parent_id is None), None)
    retrieve = next((s for s in trace.data.spans if s.name == "retrieve"), None)
    documents = (retrieve.outputs if retrieve is not None else None) or []
    sources = [{k: d.get("metadata", {}).get(k) for k in ("source", "heading", "score")} for d in documents]
    scores = [s["score"] for s in sources if s["score"] is not None]
    outputs = (root.outputs if root is not None else None) or {}
    down = [a for a in trace.info.assessments if a.name == feedback_name and a.value is False]
    tags = trace.info.tags
    return {
        "request_id": tags.get("request_id", trace.info.trace_id),
        "ts": trace.info.timestamp_ms,
        "question": ((root.inputs if root is not None else None) or {}).get("question", ""),
        "top_score": max(scores, default=None),
        "sources": sources,
        "mode": tags.get("mode", outputs.get("mode", "")),
        "grounded": bool(outputs.get("grounded", False)),
        "rating": "down",
        "comment": down[-1].rationale if down else None,
    }


def _asks(settings: Settings, source: Source, since: datetime | None) -> pd.DataFrame:
    from rag.ask_log import read_asks

    frames = []
    if source in ("log", "both"):
        frames.append(read_asks(settings, since=since))
    if source in ("mlflow", "both"):
        frames.append(thumbs_down_traces(settings, since))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return read_asks(settings, since=since).head(0)
    return pd.concat(frames, ignore_index=True).drop_duplicates("request_id", keep="first")


def curate(
    settings: Settings,
    out: Path | None = None,
    *,
    since: datetime | None = None,
    golden: Path | None = None,
    source: Source = "log",
) -> CurateReport:
    """Append new candidates from the ask log (and/or MLflow's rated traces) to the review file."""
    path = out or DEFAULT_CANDIDATES
    report = CurateReport(path)
    flagged = flagged_asks(_asks(settings, source, since))
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
