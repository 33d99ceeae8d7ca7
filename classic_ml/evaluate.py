"""Evaluation: holdout metrics, a confusion matrix (classification) or residual plot (regression).

Metrics are named once here with their sklearn scorer (for cross-validation), their holdout
function and their direction, so the promotion gate knows whether higher is better.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from classic_ml.config import ConfigError
from classic_ml.preprocess import feature_frame, target_series
from classic_ml.schema import FeatureSchema


@dataclass(frozen=True)
class MetricSpec:
    name: str
    task: str
    scorer: str  # sklearn scorer name for cross_validate
    fn: Callable[..., float]
    greater_is_better: bool = True
    needs_proba: bool = False

    @property
    def scorer_sign(self) -> int:
        return -1 if self.scorer.startswith("neg_") else 1


def _rmse(y, pred) -> float:  # type: ignore[no-untyped-def]
    return float(np.sqrt(skm.mean_squared_error(y, pred)))


_METRICS = {
    spec.name: spec
    for spec in (
        MetricSpec("accuracy", "classification", "accuracy", skm.accuracy_score),
        MetricSpec("balanced_accuracy", "classification", "balanced_accuracy", skm.balanced_accuracy_score),
        MetricSpec("f1_macro", "classification", "f1_macro", lambda y, p: skm.f1_score(y, p, average="macro")),
        MetricSpec("f1_weighted", "classification", "f1_weighted", lambda y, p: skm.f1_score(y, p, average="weighted")),
        MetricSpec(
            "precision_macro",
            "classification",
            "precision_macro",
            lambda y, p: skm.precision_score(y, p, average="macro", zero_division=0),
        ),
        MetricSpec(
            "recall_macro", "classification", "recall_macro", lambda y, p: skm.recall_score(y, p, average="macro")
        ),
        MetricSpec(
            "log_loss", "classification", "neg_log_loss", skm.log_loss, greater_is_better=False, needs_proba=True
        ),
        MetricSpec("roc_auc_ovr", "classification", "roc_auc_ovr", skm.roc_auc_score, needs_proba=True),
        MetricSpec("rmse", "regression", "neg_root_mean_squared_error", _rmse, greater_is_better=False),
        MetricSpec("mae", "regression", "neg_mean_absolute_error", skm.mean_absolute_error, greater_is_better=False),
        MetricSpec("r2", "regression", "r2", skm.r2_score),
    )
}


def metric_spec(name: str, task: str) -> MetricSpec:
    """The metric called ``name``; an unknown name or one for the other task is a ``ConfigError``."""
    spec = _METRICS.get(name)
    if spec is None or spec.task != task:
        known = sorted(n for n, s in _METRICS.items() if s.task == task)
        raise ConfigError(f"metric {name!r} is not available for {task}; choose from {known}")
    return spec


def score(pipeline: Pipeline, X: pd.DataFrame, y: pd.Series, spec: MetricSpec) -> float:
    """One metric of ``pipeline`` on (X, y)."""
    if spec.needs_proba:
        proba = pipeline.predict_proba(X)
        if spec.name == "roc_auc_ovr":
            if proba.shape[1] == 2:  # binary: the score of the positive class
                return float(spec.fn(y, proba[:, 1]))
            return float(spec.fn(y, proba, multi_class="ovr", labels=pipeline.classes_))
        return float(spec.fn(y, proba, labels=pipeline.classes_))
    return float(spec.fn(y, pipeline.predict(X)))


@dataclass
class Evaluation:
    metrics: dict[str, float]  # holdout_<metric>
    figure: object  # matplotlib Figure: confusion matrix or residuals
    figure_name: str


def evaluate(pipeline: Pipeline, holdout: pd.DataFrame, schema: FeatureSchema, metric_names: list[str]) -> Evaluation:
    """Holdout metrics and the diagnostic plot of a fitted pipeline."""
    X, y = feature_frame(holdout, schema), target_series(holdout, schema)
    values = {f"holdout_{n}": score(pipeline, X, y, metric_spec(n, schema.task)) for n in metric_names}
    pred = pipeline.predict(X)
    if schema.task == "classification":
        return Evaluation(values, confusion_figure(y, pred), "confusion_matrix.png")
    return Evaluation(values, residual_figure(y, pred), "residuals.png")


def confusion_figure(y: pd.Series, pred: np.ndarray) -> object:
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay.from_predictions(y, pred, xticks_rotation=45, colorbar=False)
    display.ax_.set_title("Holdout confusion matrix")
    display.figure_.tight_layout()
    return display.figure_


def residual_figure(y: pd.Series, pred: np.ndarray) -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(pred, np.asarray(y) - pred, s=12, alpha=0.7)
    ax.axhline(0, color="grey", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual - predicted")
    ax.set_title("Holdout residuals")
    fig.tight_layout()
    return fig
