"""Monitoring and evaluation responses (docs/api.md) as tidy data frames ready for Streamlit charts.

Kept apart from the pages so the shaping is testable without a browser; the pages only choose
which chart shows which frame. Every frame is indexed by the monitoring window number.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

RAG_SIGNALS = ("mean_top_score", "negative_feedback_rate", "refusal_rate", "extractive_rate", "grounded_rate")


def _windows(response: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((response or {}).get("windows") or [])


def _indexed(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    return frame.set_index("window").sort_index() if not frame.empty else frame


def drift_share_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """Share of drifted features per window (one column), for a line chart."""
    windows = enumerate(_windows(response))
    rows = [{"window": w.get("index", i), "share drifted": w.get("share_drifted")} for i, w in windows]
    return _indexed(rows)


def feature_score_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """Drift strength (see ``drift_strength``) of every feature per window: rows = windows, columns = features."""
    rows = []
    for i, window in enumerate(_windows(response)):
        row: dict[str, Any] = {"window": window.get("index", i)}
        row.update({f["name"]: drift_strength(f) for f in window.get("features") or []})
        rows.append(row)
    return _indexed(rows)


DISTANCE_TESTS = ("distance", "divergence", "psi", "wasserstein", "hellinger", "energy")
STRENGTH_FLOOR = 1e-300  # a p-value of 0 (underflow) still gets a finite strength


def is_distance_test(test: Any) -> bool:
    """Evidently's distance tests drift *above* their threshold; its p-value tests (K-S, chi-square, Z...) below."""
    return any(word in str(test or "").lower() for word in DISTANCE_TESTS)


def drift_strength(feature: dict[str, Any]) -> float | None:
    """A feature's drift score as a multiple of its threshold: 1 = at the threshold, above 1 = drifted.

    Raw p-values of a drifted window sit around 1e-10 next to a 0.05 threshold, invisible on a linear
    axis; so p-value tests are put on a log scale, ``log10(p) / log10(threshold)`` (= -log10 p over
    -log10 threshold), and distance tests (Wasserstein, Jensen-Shannon...) are ``distance / threshold``.
    Every test then reads the same way on one axis.
    """
    score, threshold = feature.get("score"), feature.get("threshold")
    if score is None or not threshold or threshold <= 0:
        return None
    score, threshold = float(score), float(threshold)
    if is_distance_test(feature.get("test")):
        return round(score / threshold, 4)
    if threshold >= 1:
        return None
    return round(math.log10(max(score, STRENGTH_FLOOR)) / math.log10(threshold), 4)


def latest_features_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """The current window's features: test, score, threshold, drift strength and whether each drifted."""
    current = (response or {}).get("current") or {}
    features = current.get("features") or []
    columns = ["name", "kind", "test", "score", "threshold", "drifted"]
    rows = [{**{c: f.get(c) for c in columns}, "strength": drift_strength(f)} for f in features]
    return pd.DataFrame(rows, columns=[*columns, "strength"])


def prediction_distribution_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """Share of each predicted class per window: rows = windows, columns = classes."""
    rows = []
    for i, window in enumerate(_windows(response)):
        rows.append({"window": window.get("index", i), **(window.get("prediction_distribution") or {})})
    return _indexed(rows).fillna(0.0)


def input_issues_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """The current window's input issues per feature: unknown-category and invalid-number shares, flagged."""
    issues = ((response or {}).get("current") or {}).get("input_issues") or {}
    unknown, invalid = issues.get("unknown_category_share") or {}, issues.get("invalid_number_share") or {}
    flagged = set(issues.get("flagged") or [])
    rows = [
        {"feature": name, "issue": "unknown categories" if name in unknown else "invalid numbers",
         "share": share, "flagged": name in flagged}
        for name, share in {**unknown, **invalid}.items()
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["feature", "issue", "share", "flagged"])


def shadow_class_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """Per class the champion predicted: shadow rows and how often the challenger said otherwise."""
    per_class = ((response or {}).get("shadow") or {}).get("per_class") or {}
    rows = [{"class": label, "rows": c.get("rows"), "disagreement rate": c.get("disagreement_rate")}
            for label, c in per_class.items()]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["class", "rows", "disagreement rate"])
    return frame.set_index("class") if not frame.empty else frame


PROMPT_SIGNALS = ("asks", "refusal_rate", "grounded_rate", "extractive_rate", "negative_feedback_rate",
                  "latency_p95_ms", "mean_top_score")  # fmt: skip


def prompt_versions_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """Recent asks split by prompt version: one row per version, one column per online signal."""
    versions = (response or {}).get("prompt_versions") or []
    rows = [{"prompt": v.get("prompt"), **{s: v.get(s) for s in PROMPT_SIGNALS}} for v in versions]
    return pd.DataFrame(rows, columns=["prompt", *PROMPT_SIGNALS])


def canary_tests_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """The candidate-vs-production tests of the prompt canary, one row per signal."""
    tests = ((response or {}).get("canary") or {}).get("tests") or []
    columns = ["signal", "production", "candidate", "test", "p_value", "direction", "significant"]
    return pd.DataFrame([{c: t.get(c) for c in columns} for t in tests], columns=columns)


def rag_signals_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """Per window: mean top retrieval score, rates (refusal, extractive, grounded, negative feedback), p95 latency."""
    rows = []
    for i, window in enumerate(_windows(response)):
        row = {"window": window.get("index", i), "asks": window.get("asks")}
        row.update({name: window.get(name) for name in RAG_SIGNALS})
        row["latency_p95_ms"] = window.get("latency_p95_ms")
        rows.append(row)
    return _indexed(rows)


def rag_modes_frame(response: dict[str, Any] | None) -> pd.DataFrame:
    """Answers per mode per window: rows = windows, columns = generative / extractive / refusal."""
    rows = [{"window": w.get("index", i), **(w.get("modes") or {})} for i, w in enumerate(_windows(response))]
    return _indexed(rows).fillna(0)


def to_time(value: Any) -> pd.Timestamp | None:
    """MLflow gives epoch milliseconds, other sources ISO text; both become a UTC timestamp."""
    if value is None:
        return None
    unit = "ms" if isinstance(value, int | float) else None
    stamp = pd.to_datetime(value, unit=unit, errors="coerce", utc=True)
    return None if pd.isna(stamp) else stamp


def eval_history_frame(runs: list[dict[str, Any]] | None) -> pd.DataFrame:
    """Evaluation runs in long form: one row per (run, metric) with its prompt version and time."""
    rows = []
    for run in runs or []:
        for metric, value in (run.get("metrics") or {}).items():
            if isinstance(value, int | float):
                rows.append(
                    {
                        "run_id": run.get("run_id"),
                        "time": to_time(run.get("start_time")),
                        "prompt": run.get("prompt") or "?",
                        "metric": metric,
                        "value": float(value),
                    }
                )
    return pd.DataFrame(rows, columns=["run_id", "time", "prompt", "metric", "value"])


NOT_SCORES = ("nan_", "latency", "seconds")  # counts and durations: other units than the [0, 1] scores


def score_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``eval_history_frame`` that are scores in [0, 1] (durations and NaN counts left out),
    so one chart can put every metric on the same axis."""
    if frame.empty:
        return frame
    keep = ~frame["metric"].str.contains("|".join(NOT_SCORES)) & frame["value"].between(0, 1)
    return frame[keep]


def version_key(version: Any) -> tuple[int, str]:
    """Registry versions are numbers kept as text: sort 10 after 9."""
    text = str(version)
    return (int(text), "") if text.isdigit() else (10**9, text)
