"""The prompt canary on live traffic: every online signal per prompt version, and candidate vs production.

From the last ``prompts.canary_window`` asks of the ask log, each prompt version gets its number of asks
and its signals: refusal, extractive and grounded rates, thumbs-down rate (of rated asks), latency p95
and mean top retrieval score. The candidate is compared with production signal by signal:

- rates with Fisher's exact test on the 2x2 table (exact, so right with a few dozen asks per side);
- latency and top retrieval score with the Mann-Whitney U test (no normality assumed);
- each test at ``canary_alpha / tests run`` (Bonferroni: six looks at the data do not make six chances of
  a false alarm).

Verdict: ``worse`` when any signal is significantly worse, ``better`` when at least one is significantly
better and none worse, ``undecided`` otherwise; ``insufficient_data`` (no verdict) while either side has
fewer than ``canary_min_asks`` asks. ``genaiops release promote`` never promotes a ``worse`` candidate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from genaiops.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateSignal:
    name: str
    higher_is_better: bool

    def counts(self, asks: pd.DataFrame, min_feedback: int) -> tuple[int, int] | None:
        """(hits, trials) of this rate, or None when it cannot be measured on these asks."""
        if self.name == "refusal_rate":
            return int((asks["mode"] == "refusal").sum()), len(asks)
        if self.name == "extractive_rate":
            return int((asks["mode"] == "extractive").sum()), len(asks)
        if self.name == "grounded_rate":
            answered = asks[asks["mode"] != "refusal"]
            return int(answered["grounded"].astype(bool).sum()), len(answered)
        rated = asks["rating"].dropna()
        if len(rated) < min_feedback:
            return None
        return int((rated == "down").sum()), len(rated)


RATES = (
    RateSignal("refusal_rate", higher_is_better=False),
    RateSignal("grounded_rate", higher_is_better=True),
    RateSignal("extractive_rate", higher_is_better=False),
    RateSignal("negative_feedback_rate", higher_is_better=False),
)
VALUES = (("latency_ms", False), ("top_score", True))  # (column, higher is better)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def version_stats(asks: pd.DataFrame, min_feedback: int) -> dict[str, Any]:
    """The signals of one prompt version's asks (the shape of one ``prompt_versions`` entry)."""
    stats: dict[str, Any] = {"asks": len(asks)}
    for signal in RATES:
        counts = signal.counts(asks, min_feedback)
        stats[signal.name] = None if counts is None or not counts[1] else _round(counts[0] / counts[1])
    stats["rated"] = int(asks["rating"].notna().sum())
    latency = pd.to_numeric(asks["latency_ms"], errors="coerce").dropna()
    scores = pd.to_numeric(asks["top_score"], errors="coerce").dropna()
    stats["latency_p95_ms"] = _round(np.percentile(latency, 95), 1) if len(latency) else None
    stats["mean_top_score"] = _round(scores.mean()) if len(scores) else None
    return stats


def by_version(asks: pd.DataFrame, min_feedback: int) -> list[dict[str, Any]]:
    """One entry per prompt version seen in ``asks`` (most asks first)."""
    if asks.empty:
        return []
    keys = asks["prompt_name"].fillna("?").astype(str) + "@" + asks["prompt_version"].fillna("?").astype(str)
    out = []
    for key, group in asks.groupby(keys, sort=False):
        name, _, version = str(key).partition("@")
        out.append({"prompt": str(key), "name": name, "version": version, **version_stats(group, min_feedback)})
    return sorted(out, key=lambda v: -v["asks"])


def _rate_test(signal: RateSignal, prod: pd.DataFrame, cand: pd.DataFrame, min_feedback: int) -> dict | None:
    from scipy.stats import fisher_exact

    a, b = signal.counts(prod, min_feedback), signal.counts(cand, min_feedback)
    if a is None or b is None or not a[1] or not b[1]:
        return None
    table = [[b[0], b[1] - b[0]], [a[0], a[1] - a[0]]]
    p_value = float(fisher_exact(table).pvalue)
    cand_rate, prod_rate = b[0] / b[1], a[0] / a[1]
    higher = cand_rate > prod_rate
    return _test(signal.name, "fisher_exact", prod_rate, cand_rate, p_value, higher == signal.higher_is_better)


def _value_test(column: str, higher_is_better: bool, prod: pd.DataFrame, cand: pd.DataFrame) -> dict | None:
    from scipy.stats import mannwhitneyu

    a = pd.to_numeric(prod[column], errors="coerce").dropna()
    b = pd.to_numeric(cand[column], errors="coerce").dropna()
    if len(a) < 2 or len(b) < 2:
        return None
    p_value = float(mannwhitneyu(b, a, alternative="two-sided").pvalue)
    higher = float(b.median()) > float(a.median())
    return _test(f"median_{column}", "mann_whitney_u", a.median(), b.median(), p_value, higher == higher_is_better)


def _test(signal: str, test: str, prod: float, cand: float, p_value: float, candidate_better: bool) -> dict:
    return {
        "signal": signal,
        "test": test,
        "production": _round(prod),
        "candidate": _round(cand),
        "p_value": _round(p_value, 6),
        "direction": "better" if candidate_better else "worse",
        "significant": False,  # set once the number of tests (Bonferroni) is known
    }


def compare(
    asks: pd.DataFrame, production: str, candidate: str, settings: Settings, name: str | None = None
) -> dict[str, Any]:
    """Candidate vs production prompt version on live asks: the tests, their verdict and why."""
    p = settings.prompts
    name = name or settings.rag.prompt_name
    mine = asks[asks["prompt_name"].astype(str) == name] if not asks.empty else asks
    versions = mine["prompt_version"].astype(str) if not mine.empty else pd.Series(dtype=str)
    prod, cand = mine[versions == str(production)], mine[versions == str(candidate)]
    out: dict[str, Any] = {
        "production": f"{name}@{production}",
        "candidate": f"{name}@{candidate}",
        "asks": {"production": len(prod), "candidate": len(cand)},
        "min_asks": p.canary_min_asks,
        "alpha": p.canary_alpha,
        "tests": [],
    }
    if min(len(prod), len(cand)) < p.canary_min_asks:
        short = "candidate" if len(cand) < p.canary_min_asks else "production"
        return {**out, "verdict": "insufficient_data", "reason": f"{short} has fewer than {p.canary_min_asks} asks"}
    min_feedback = settings.monitoring.rag_min_feedback
    tests = [_rate_test(s, prod, cand, min_feedback) for s in RATES]
    tests += [_value_test(column, better, prod, cand) for column, better in VALUES]
    run = [t for t in tests if t is not None]
    level = p.canary_alpha / max(len(run), 1)
    for t in run:
        t["significant"] = t["p_value"] is not None and t["p_value"] < level
    worse = [t["signal"] for t in run if t["significant"] and t["direction"] == "worse"]
    better = [t["signal"] for t in run if t["significant"] and t["direction"] == "better"]
    if worse:
        verdict, reason = "worse", f"significantly worse on {', '.join(worse)}"
    elif better:
        verdict, reason = "better", f"significantly better on {', '.join(better)}, worse on nothing"
    else:
        verdict, reason = "undecided", f"no significant difference (each test at p < {level:.4g})"
    return {**out, "tests": run, "verdict": verdict, "reason": reason}


def live_versions(settings: Settings) -> tuple[str, str | None]:
    """(production version, candidate version or None) of the answering prompt, as the service resolves them."""
    from prompts import load_prompt
    from prompts.selector import load_candidate

    name = settings.rag.prompt_name
    production = load_prompt(name, settings)
    try:
        candidate = load_candidate(settings, name, production)
    except Exception as exc:  # noqa: BLE001 - a registry that cannot say: no comparison, the split still shows
        log.warning("prompt candidate unknown: %s", exc)
        candidate = None
    return production.version, candidate.version if candidate is not None else None


def canary_summary(
    asks: pd.DataFrame, settings: Settings, versions: tuple[str, str | None] | None = None
) -> dict[str, Any]:
    """``prompt_versions`` and ``canary`` of ``GET /monitoring/rag`` from the recent asks."""
    split = by_version(asks, settings.monitoring.rag_min_feedback)
    production, candidate = versions if versions is not None else live_versions(settings)
    canary = compare(asks, production, candidate, settings) if candidate is not None else None
    return {"prompt_versions": split, "canary": canary}
