"""The whole training: validate -> preprocess -> train -> evaluate -> register, as one call.

``genaiops train`` calls it, and so can retraining (monitoring) with more rows: ``extra_data``
is appended to the configured dataset, ``data`` replaces it. Each step is its own module and
can be called alone; this function only chains them and reports progress.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from classic_ml.candidate import Candidate
from classic_ml.config import TrainingConfig, load_config
from classic_ml.data import load_dataset, split_holdout
from classic_ml.evaluate import evaluate
from classic_ml.register import Registration, register
from classic_ml.schema import FeatureSchema, contract_schema, detect_task, feature_kinds, infer_schema, with_limits
from classic_ml.train import train
from classic_ml.validate import ValidationReport, drop_invalid, validate
from genaiops.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    config: TrainingConfig
    schema: FeatureSchema
    report: ValidationReport
    cv_metrics: dict[str, float]
    holdout_metrics: dict[str, float]
    registration: Registration
    n_train: int
    n_holdout: int

    @property
    def version(self) -> str:
        return self.registration.version

    @property
    def promoted(self) -> bool:
        return self.registration.decision.promoted


def run_training(
    settings: Settings,
    config: TrainingConfig | Path | str | None = None,
    data: pd.DataFrame | None = None,
    *,
    extra_data: pd.DataFrame | None = None,
    on_step: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Train, evaluate and register one model; the champion alias moves only if the gate says so."""
    step = on_step or (lambda name: log.info("training step: %s", name))
    if not isinstance(config, TrainingConfig):
        config = load_config(config or settings.classic.config_path)
    settings.ensure_dirs()

    step("validate")
    df = load_dataset(config, data)
    if extra_data is not None:
        df = pd.concat([df, extra_data[df.columns.intersection(extra_data.columns)]], ignore_index=True)
    kinds = feature_kinds(df, config)
    task = detect_task(df[config.target].dropna(), config)
    report = validate(df, contract_schema(config, kinds, task), with_target=True)
    clean = drop_invalid(df, report, config.max_invalid_fraction)

    step("preprocess")
    schema = with_limits(infer_schema(clean, kinds, config.target, task), config)
    train_df, holdout = split_holdout(clean, config, task)

    step("train")
    output = train(train_df, schema, config)

    step("evaluate")
    evaluation = evaluate(output.pipeline, holdout, schema, config.metrics)

    step("register")
    source = str(config.dataset_path()) if data is None else None
    candidate = Candidate(
        config,
        schema,
        output.pipeline,
        train_df,
        holdout,
        output.cv_metrics,
        output.cv_folds,
        evaluation,
        report,
        source,
    )
    registration = register(settings, candidate)
    return TrainingResult(
        config, schema, report, output.cv_metrics, evaluation.metrics, registration, len(train_df), len(holdout)
    )
