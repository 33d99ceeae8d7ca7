"""What the training steps hand to registering: the ``Candidate`` (logged by ``tracking``, gated by ``register``)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.pipeline import Pipeline

from classic_ml.config import TrainingConfig
from classic_ml.evaluate import Evaluation
from classic_ml.schema import FeatureSchema
from classic_ml.validate import ValidationReport


@dataclass
class Candidate:
    """Everything the earlier steps produced for one training."""

    config: TrainingConfig
    schema: FeatureSchema
    pipeline: Pipeline
    train_df: pd.DataFrame
    holdout: pd.DataFrame
    cv_metrics: dict[str, float]
    cv_folds: int
    evaluation: Evaluation
    report: ValidationReport
    dataset_source: str | None  # file the data came from; None for an in-memory frame
