"""Training: the sklearn ``Pipeline`` (preprocessor + configured estimator), cross-validated then fitted.

Cross-validation runs on the training part only; the holdout stays untouched for ``evaluate``
and for the champion/challenger comparison.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from classic_ml.config import ConfigError, EstimatorSpec, TrainingConfig
from classic_ml.evaluate import metric_spec
from classic_ml.preprocess import build_preprocessor, feature_frame, target_series
from classic_ml.schema import FeatureSchema

log = logging.getLogger(__name__)


@dataclass
class TrainOutput:
    pipeline: Pipeline
    cv_metrics: dict[str, float]  # cv_<metric>_mean / cv_<metric>_std
    cv_folds: int


def build_estimator(spec: EstimatorSpec) -> BaseEstimator:
    """Import ``spec.import_path`` and instantiate it with ``spec.params``; errors name the bad part."""
    module_name, _, class_name = spec.import_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"estimator.import_path {spec.import_path!r} cannot be imported: {exc}") from exc
    try:
        return cls(**spec.params)
    except TypeError as exc:
        raise ConfigError(f"estimator.params rejected by {class_name}: {exc}") from exc


def build_pipeline(schema: FeatureSchema, config: TrainingConfig) -> Pipeline:
    estimator = build_estimator(config.estimator)
    if "random_state" in estimator.get_params() and "random_state" not in config.estimator.params:
        estimator.set_params(random_state=config.seed)
    return Pipeline([("preprocess", build_preprocessor(schema)), ("model", estimator)])


def _folds(y: pd.Series, config: TrainingConfig, task: str) -> KFold | StratifiedKFold:
    n_splits = config.cv_folds
    if task == "classification":
        smallest = int(y.value_counts().min())
        if smallest < n_splits:
            n_splits = max(2, smallest)
            log.warning("cv_folds lowered to %d: the smallest class has %d training rows", n_splits, smallest)
        return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=config.seed)
    return KFold(n_splits=n_splits, shuffle=True, random_state=config.seed)


def cross_validate_pipeline(
    pipeline: Pipeline, X: pd.DataFrame, y: pd.Series, config: TrainingConfig, task: str
) -> tuple[dict[str, float], int]:
    """Mean and std of every configured metric over the folds (sign fixed for sklearn's neg_ scorers)."""
    folds = _folds(y, config, task)
    specs = {name: metric_spec(name, task) for name in config.metrics}
    scoring = {name: spec.scorer for name, spec in specs.items()}
    result = cross_validate(pipeline, X, y, cv=folds, scoring=scoring, error_score="raise")
    out: dict[str, float] = {}
    for name, spec in specs.items():
        scores = np.asarray(result[f"test_{name}"], dtype=float) * spec.scorer_sign
        out[f"cv_{name}_mean"] = float(scores.mean())
        out[f"cv_{name}_std"] = float(scores.std())
    return out, folds.get_n_splits()


def train(train_df: pd.DataFrame, schema: FeatureSchema, config: TrainingConfig) -> TrainOutput:
    """Cross-validate, then fit the pipeline on the whole training part."""
    X, y = feature_frame(train_df, schema), target_series(train_df, schema)
    pipeline = build_pipeline(schema, config)
    cv_metrics, n_folds = cross_validate_pipeline(pipeline, X, y, config, schema.task)
    pipeline.fit(X, y)
    return TrainOutput(pipeline=pipeline, cv_metrics=cv_metrics, cv_folds=n_folds)
