"""Quality regression of the RAG, from the ask log: rolling windows compared with a reference window.

Windows are consecutive blocks of ``window`` asks counted from the first ask ever logged (a full
window never changes; a trailing one is shown once half full). The reference is window 0, the
first traffic the service saw; the current window is the last one. Checks, current vs reference:

- ``mean_top_score``: the best retrieval score dropped by more than ``rag_score_drop``;
- ``retrieval_score_ks``: two-sample Kolmogorov-Smirnov test of the top scores (p < ``rag_alpha``,
  with the mean going down);
- ``refusal_rate`` / ``extractive_rate`` (the grounding guard replaced the LLM's answer) rose, or
  ``grounded_rate`` (of the answers given) fell, by more than ``rag_rate_tolerance``;
- ``negative_feedback_rate`` (thumbs down / rated, once ``rag_min_feedback`` asks are rated) rose;
- ``latency_p95_ms`` grew beyond ``rag_latency_ratio`` times the reference;
- ``question_embedding_drift``: Evidently's embedding drift (domain classifier: ROC AUC of a model
  telling the two windows' questions apart, against the 95th percentile of random AUCs).

Top scores are those of the sources kept, so a refusal without sources has none.

``prompt_versions`` and ``canary`` (``rag.canary``) split the recent asks by prompt version and compare the
registry's ``candidate`` with ``production`` on live traffic.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from genaiops.db import make_engine
from genaiops.logs import LogWindow, log_windows
from genaiops.settings import Settings
from genaiops.tracking import mlflow_store
from rag.ask_log import count_asks, read_asks

log = logging.getLogger(__name__)

MIN_SAMPLE = 5  # fewer values than this on either side: the statistical check is not run
MIN_EMBEDDINGS = 10


def load_windows(engine: Engine, table: str, window: int, max_windows: int) -> list[LogWindow]:
    """Window 0 (the reference) and the latest windows of asks, oldest first."""

    def latest(n: int) -> pd.DataFrame:
        return read_asks(engine, table_name=table, limit=n)

    def first(n: int) -> pd.DataFrame:
        return read_asks(engine, table_name=table, head=n)

    return log_windows(count_asks(engine, table), window, max_windows, latest, read_first=first)


def _rate(mask: pd.Series) -> float | None:
    return round(float(mask.mean()), 4) if len(mask) else None


def window_stats(index: int, asks: pd.DataFrame, min_feedback: int) -> dict[str, Any]:
    """One entry of ``windows`` (docs/api.md)."""
    answered = asks[asks["mode"] != "refusal"]
    scores = pd.to_numeric(asks["top_score"], errors="coerce").dropna()
    rated = asks["rating"].dropna()
    latency = pd.to_numeric(asks["latency_ms"], errors="coerce").dropna()
    return {
        "index": index,
        "start": asks["ts"].iloc[0].isoformat(),
        "end": asks["ts"].iloc[-1].isoformat(),
        "asks": len(asks),
        "mean_top_score": round(float(scores.mean()), 4) if len(scores) else None,
        "refusal_rate": _rate(asks["mode"] == "refusal"),
        "extractive_rate": _rate(asks["mode"] == "extractive"),
        "grounded_rate": _rate(answered["grounded"].astype(bool)),
        "negative_feedback_rate": _rate(rated == "down") if len(rated) >= min_feedback else None,
        "latency_p95_ms": round(float(np.percentile(latency, 95)), 1) if len(latency) else None,
        "modes": {str(k): int(v) for k, v in asks["mode"].value_counts().sort_index().items()},
    }


def _check(name: str, reference: Any, current: Any, threshold: Any, regressed: bool) -> dict[str, Any]:
    return {"name": name, "reference": reference, "current": current, "threshold": threshold, "regressed": regressed}


def _bound(name: str, reference: Any, current: Any, limit: float | None, above: bool) -> dict[str, Any]:
    """Regressed when ``current`` is beyond ``limit`` (above it, or below it when ``above`` is False)."""
    if reference is None or current is None or limit is None:
        return _check(name, reference, current, None, False)
    return _check(name, reference, current, limit, current > limit if above else current < limit)


def _rise(name: str, ref: dict, cur: dict, tolerance: float, baseline_if_missing: float | None = None) -> dict:
    reference = ref[name] if ref[name] is not None else baseline_if_missing
    limit = None if reference is None else round(reference + tolerance, 4)
    return _bound(name, reference, cur[name], limit, above=True)


def score_checks(ref_asks: pd.DataFrame, cur_asks: pd.DataFrame, drop: float, alpha: float) -> list[dict]:
    from scipy.stats import ks_2samp

    ref = pd.to_numeric(ref_asks["top_score"], errors="coerce").dropna()
    cur = pd.to_numeric(cur_asks["top_score"], errors="coerce").dropna()
    if len(ref) < MIN_SAMPLE or len(cur) < MIN_SAMPLE:
        return [
            _check("mean_top_score", None, None, None, False),
            _check("retrieval_score_ks", None, None, None, False),
        ]
    ref_mean, cur_mean = round(float(ref.mean()), 4), round(float(cur.mean()), 4)
    limit = round(ref_mean - drop, 4)
    p_value = float(ks_2samp(ref, cur).pvalue)
    return [
        _check("mean_top_score", ref_mean, cur_mean, limit, cur_mean < limit),
        _check("retrieval_score_ks", None, round(p_value, 6), alpha, p_value < alpha and cur_mean < ref_mean),
    ]


def embedding_check(ref_asks: pd.DataFrame, cur_asks: pd.DataFrame) -> dict[str, Any]:
    """Evidently's domain-classifier embedding drift on the question embeddings of the two windows."""
    ref = [v for v in ref_asks["question_embedding"] if v is not None]
    cur = [v for v in cur_asks["question_embedding"] if v is not None]
    name = "question_embedding_drift"
    if len(ref) < MIN_EMBEDDINGS or len(cur) < MIN_EMBEDDINGS or len({len(v) for v in ref + cur}) != 1:
        return _check(name, None, None, None, False)
    from evidently.legacy.metrics.data_drift.embedding_drift_methods import ModelDriftMethod, calc_roc_auc_random
    from sklearn.model_selection import train_test_split

    method = ModelDriftMethod(bootstrap=True, quantile_probability=0.95)
    auc, drifted, _ = method(pd.DataFrame(np.vstack(cur)), pd.DataFrame(np.vstack(ref)))
    # The bootstrap limit Evidently compared with: random AUCs on the same held-out half (same split seed).
    labels = [1] * len(ref) + [0] * len(cur)
    _, _, _, y_test = train_test_split(labels, labels, test_size=0.5, random_state=42, shuffle=True)
    limit = float(np.percentile([calc_roc_auc_random(y_test, i) for i in range(100)], 95))
    return _check(name, 0.5, round(float(auc), 4), round(limit, 4), bool(drifted))


def regression_checks(ref_asks: pd.DataFrame, cur_asks: pd.DataFrame, settings: Settings) -> list[dict[str, Any]]:
    m = settings.monitoring
    ref = window_stats(0, ref_asks, m.rag_min_feedback)
    cur = window_stats(1, cur_asks, m.rag_min_feedback)
    tol = m.rag_rate_tolerance
    checks = score_checks(ref_asks, cur_asks, m.rag_score_drop, m.rag_alpha)
    checks.append(_rise("refusal_rate", ref, cur, tol))
    checks.append(_rise("extractive_rate", ref, cur, tol))
    grounded = ref["grounded_rate"]
    limit = None if grounded is None else round(grounded - tol, 4)
    checks.append(_bound("grounded_rate", grounded, cur["grounded_rate"], limit, above=False))
    # Feedback often starts after launch: without enough rated reference asks, the baseline is "no complaints".
    checks.append(_rise("negative_feedback_rate", ref, cur, tol, baseline_if_missing=0.0))
    latency = ref["latency_p95_ms"]
    limit = round(latency * m.rag_latency_ratio, 1) if latency else None
    checks.append(_bound("latency_p95_ms", latency, cur["latency_p95_ms"], limit, above=True))
    checks.append(embedding_check(ref_asks, cur_asks))
    return checks


def eval_history(settings: Settings, limit: int = 10) -> list[dict[str, Any]]:
    """The last offline evaluations (oldest first, for a trend); empty when MLflow cannot be read.

    Read straight from the eval experiment (``eval`` logs those runs, tagged ``prompt``), so the online
    monitor does not depend on the evaluation package.
    """
    store = mlflow_store(settings)
    if store.missing():
        return []  # no store yet: nothing evaluated (and no reason to create an empty MLflow database)
    try:
        runs = store.runs(settings.mlflow.rag_eval_experiment, limit=limit)
    except Exception as exc:  # noqa: BLE001 - the online monitor must answer without the tracking store
        log.warning("eval history unavailable: %s", exc)
        return []
    return [
        {"run_id": r.info.run_id, "start_time": r.info.start_time, "prompt": r.data.tags.get("prompt", ""),
         "metrics": dict(r.data.metrics)}
        for r in reversed(runs)
    ]  # fmt: skip


def rag_summary(settings: Settings, *, window: int | None = None, engine: Engine | None = None) -> dict[str, Any]:
    """The RAG quality summary (shape of ``GET /monitoring/rag`` in docs/api.md)."""
    from rag.canary import canary_summary

    size = window or settings.monitoring.window
    table = settings.monitoring.ask_log_table
    owned = engine is None
    engine = engine or make_engine(settings.database_url or "")
    try:
        loaded = load_windows(engine, table, size, settings.monitoring.max_windows)
        recent = read_asks(engine, table_name=table, limit=settings.prompts.canary_window)
    finally:
        if owned:
            engine.dispose()
    windows = [window_stats(w.index, w.rows, settings.monitoring.rag_min_feedback) for w in loaded]
    checks = regression_checks(loaded[0].rows, loaded[-1].rows, settings) if len(loaded) >= 2 else []
    status = "no_data" if len(loaded) < 2 else ("regression" if any(c["regressed"] for c in checks) else "ok")
    return {
        "status": status,
        "window_size": size,
        "windows": windows,
        "checks": checks,
        "eval_history": eval_history(settings),
        **canary_summary(recent, settings),
    }
