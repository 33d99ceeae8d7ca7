"""Each training step runs alone, fed by the one before: validate, preprocess, train, evaluate, register.

``run_training`` only chains these calls; here they are called one by one on the real penguins, the
last one into the MLflow store the default settings point at (a sqlite file under ``data_dir``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from classic_ml.candidate import Candidate
from classic_ml.config import load_config
from classic_ml.data import load_dataset, split_holdout
from classic_ml.evaluate import evaluate
from classic_ml.preprocess import build_preprocessor, feature_frame
from classic_ml.register import register
from classic_ml.schema import contract_schema, detect_task, feature_kinds, infer_schema
from classic_ml.train import train
from classic_ml.validate import drop_invalid, validate
from genaiops.settings import Settings
from tests.classic_ml.helpers import PENGUINS_CONFIG

pytestmark = pytest.mark.slow


def test_each_step_runs_alone_and_hands_its_output_to_the_next(settings: Settings) -> None:
    config = load_config(PENGUINS_CONFIG)

    # validate: the contract of the config, every row reported; the penguins all pass it
    df = load_dataset(config)
    kinds = feature_kinds(df, config)
    task = detect_task(df[config.target].dropna(), config)
    report = validate(df, contract_schema(config, kinds, task), with_target=True)
    assert report.ok and report.n_rows == len(df) == 344
    clean = drop_invalid(df, report, config.max_invalid_fraction)

    # preprocess: the schema inferred from the data, the holdout, and the ColumnTransformer fitted alone
    schema = infer_schema(clean, kinds, config.target, task)
    train_df, holdout = split_holdout(clean, config, task)
    X = feature_frame(train_df, schema)
    assert X[schema.names_of("number")].isna().any().any()  # the penguins do have missing measurements
    pre = build_preprocessor(schema).fit(X)
    matrix = pre.transform(X)
    numbers = len(schema.names_of("number"))
    assert not np.isnan(matrix).any()  # imputed
    np.testing.assert_allclose(matrix[:, :numbers].mean(axis=0), 0, atol=1e-9)  # scaled
    np.testing.assert_allclose(matrix[:, :numbers].std(axis=0), 1, atol=1e-9)
    assert set(np.unique(matrix[:, numbers:])) == {0.0, 1.0}  # one-hot
    unknown = X.head(1).assign(island="Atlantis", sex=np.nan)
    island = [i for i, name in enumerate(pre.get_feature_names_out()) if name.startswith("category__island_")]
    assert matrix.shape[1] == numbers + len(island) + 2 and len(island) == 3
    assert (pre.transform(unknown)[0, island] == 0).all()  # unknown category ignored, not an error

    # train: cross-validated on the training part only, then fitted
    output = train(train_df, schema, config)
    assert output.cv_folds == config.cv_folds
    assert {f"cv_{m}_mean" for m in config.metrics} | {f"cv_{m}_std" for m in config.metrics} == set(output.cv_metrics)
    assert 0.9 < output.cv_metrics["cv_accuracy_mean"] <= 1 and output.cv_metrics["cv_log_loss_mean"] > 0

    # evaluate: the holdout metrics and the confusion matrix of the fitted pipeline
    evaluation = evaluate(output.pipeline, holdout, schema, config.metrics)
    assert set(evaluation.metrics) == {f"holdout_{m}" for m in config.metrics}
    assert evaluation.figure_name == "confusion_matrix.png" and evaluation.figure.axes  # type: ignore[attr-defined]

    # register: one run and a version in the default store, the sqlite file under data_dir
    candidate = Candidate(
        config, schema, output.pipeline, train_df, holdout, output.cv_metrics, output.cv_folds, evaluation, report, None
    )
    registration = register(settings, candidate)
    assert settings.mlflow.tracking_uri == f"sqlite:///{settings.data_dir / 'mlflow.db'}"
    assert (settings.data_dir / "mlflow.db").is_file()
    client = MlflowClient(settings.mlflow.tracking_uri, settings.mlflow.tracking_uri)
    name = settings.classic.registered_model
    assert name == "classic-model" and registration.decision.promoted
    assert str(client.get_model_version_by_alias(name, "champion").version) == registration.version == "1"
    run = client.get_run(registration.run_id)
    assert run.data.metrics["holdout_f1_macro"] == evaluation.metrics["holdout_f1_macro"]
    assert pd.Series(run.data.metrics).filter(like="cv_").size == 2 * len(config.metrics)
