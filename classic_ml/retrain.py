"""Retraining when the inputs drift: reference data + recent labelled traffic, through the same gate.

Labels arrive after the fact (someone checks what the penguin really was), so they come as a CSV
joined to the prediction log::

    request_id,row_index,species
    3f2a...,0,Gentoo
    91bc...,0,Adelie

``request_id`` is the id returned by ``POST /predict`` (or sent as ``X-Request-ID``); ``row_index``
is the record's position in that call (optional: 0 when omitted, i.e. one record per call); the
label column is named like the training target (``label`` is accepted too). The labelled rows are
appended to the configured training data and ``classic_ml.pipeline.run_training`` does the rest:
a new version is registered as ``challenger`` and becomes ``champion`` only if it beats the current
champion on the same holdout. Nothing is promoted blindly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from classic_ml.config import ConfigError, TrainingConfig
from classic_ml.drift import classic_drift, load_reference
from classic_ml.prediction_log import read_predictions
from classic_ml.validate import InvalidDataError
from genaiops.settings import Settings

log = logging.getLogger(__name__)


class RetrainError(ValueError):
    """Retraining cannot run; the message says what to provide."""


@dataclass
class RetrainOutcome:
    triggered: bool
    reason: str
    drift: dict[str, Any] | None
    labelled_rows: int = 0
    training: Any = None  # classic_ml.pipeline.TrainingResult when a model was trained


def read_labels(source: Path | pd.DataFrame, target: str) -> pd.DataFrame:
    """Labels as (request_id, row_index, <target>); errors name the missing column or the file."""
    if isinstance(source, pd.DataFrame):
        labels = source.copy()
    else:
        if not Path(source).is_file():
            raise RetrainError(f"labels file not found: {source}")
        try:
            labels = pd.read_csv(source, dtype={"request_id": str})
        except (ValueError, OSError) as exc:
            raise RetrainError(f"cannot read labels file {source}: {exc}") from exc
    if target not in labels.columns and "label" in labels.columns:
        labels = labels.rename(columns={"label": target})
    missing = [c for c in ("request_id", target) if c not in labels.columns]
    if missing:
        raise RetrainError(f"labels need column(s) {missing} (request_id, {target} or label, optional row_index)")
    if "row_index" not in labels.columns:
        labels["row_index"] = 0
    labels = labels.dropna(subset=[target])
    labels["request_id"] = labels["request_id"].astype(str)
    labels["row_index"] = pd.to_numeric(labels["row_index"], errors="coerce").fillna(0).astype(int)
    return labels[["request_id", "row_index", target]].drop_duplicates(["request_id", "row_index"], keep="last")


def labelled_traffic(settings: Settings, labels: pd.DataFrame, feature_names: list[str], target: str) -> pd.DataFrame:
    """Logged inputs joined with their labels: training rows (features + target) from real traffic."""
    logged = read_predictions(settings)
    if logged.empty:
        return pd.DataFrame(columns=[*feature_names, target])
    inputs = pd.DataFrame({"request_id": logged["request_id"].astype(str), "row_index": logged["row_index"]})
    for name in feature_names:
        column = f"input_{name}" if f"input_{name}" in logged.columns else name
        inputs[name] = logged[column] if column in logged.columns else None
    joined = inputs.merge(labels, on=["request_id", "row_index"], how="inner")
    return joined[[*feature_names, target]].reset_index(drop=True)


def retrain(
    settings: Settings,
    if_drift: bool = True,
    labels: Path | pd.DataFrame | None = None,
    *,
    window: int | None = None,
    config: TrainingConfig | Path | None = None,
) -> RetrainOutcome:
    """Retrain on reference + labelled traffic when drift crossed the threshold (always when not ``if_drift``)."""
    reference = load_reference(settings)
    drift = classic_drift(settings, window=window, reference=reference)
    threshold = settings.monitoring.drift_share_threshold
    current = drift["current"]
    if if_drift and (current is None or not current["drift_detected"]):
        share = "no window yet" if current is None else f"share of drifted features {current['share_drifted']:.2f}"
        return RetrainOutcome(False, f"no drift ({share}, threshold {threshold:g}): nothing to retrain", drift)
    if labels is None:
        raise RetrainError("retraining needs labelled recent data: pass --labels FILE (request_id, target, row_index)")
    target = reference.schema.target
    extra = labelled_traffic(settings, read_labels(labels, target), reference.schema.feature_names, target)
    if extra.empty:
        raise RetrainError("none of the labels match a logged prediction (check request_id / row_index)")
    from classic_ml.pipeline import run_training

    why = "drift" if current is not None and current["drift_detected"] else "asked without --if-drift"
    log.info("retraining on the training data + %d labelled logged row(s) (%s)", len(extra), why)
    try:
        result = run_training(settings, config, extra_data=extra)
    except (ConfigError, InvalidDataError) as exc:
        raise RetrainError(str(exc)) from exc
    decision = result.registration.decision
    trained = f"v{result.version} trained with {len(extra)} labelled row(s)"
    reason = f"{why}: {trained}, {decision.verdict} ({decision.reason})"
    return RetrainOutcome(True, reason, drift, len(extra), result)
