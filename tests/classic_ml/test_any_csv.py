"""The same code trains on a user's CSV: inferred features, a numeric target (regression), bad rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from classic_ml.config import load_config
from classic_ml.pipeline import run_training
from classic_ml.registry import load_registered
from classic_ml.scoring import Scorer
from classic_ml.validate import InvalidDataError
from tests.classic_ml.helpers import REGRESSION_CONFIG, make_settings, synthetic_regression_csv, write_config

pytestmark = pytest.mark.slow


def test_regression_csv_trains_registers_and_serves(tmp_path: Path) -> None:
    synthetic_regression_csv(tmp_path)
    csv = tmp_path / "houses.csv"
    df = pd.read_csv(csv)
    df["size_m2"] = df["size_m2"].astype(object)
    df.loc[3, "size_m2"] = "unknown"  # one broken row: reported and dropped, not fatal
    df.to_csv(csv, index=False)
    settings = make_settings(tmp_path / "var", classic={"registered_model": "houses"})
    result = run_training(settings, write_config(tmp_path, REGRESSION_CONFIG))

    assert result.schema.task == "regression" and result.schema.classes is None
    assert result.schema.feature_names == ["size_m2", "rooms", "city"]  # id dropped, target excluded
    assert result.report.bad_rows == [3]
    assert result.holdout_metrics["holdout_r2"] > 0.9  # the price is a near-linear function of the inputs
    client = MlflowClient(settings.mlflow.tracking_uri, settings.mlflow.tracking_uri)
    run = client.get_run(result.registration.run_id)
    assert "plots/residuals.png" in {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert run.data.metrics["invalid_rows"] == 1
    assert "validation/invalid_rows.csv" in {a.path for a in client.list_artifacts(run.info.run_id, "validation")}

    scorer = Scorer(load_registered(settings, "champion", tmp_path / "dl"))
    small, large = scorer.predict_records(
        [{"size_m2": 30.0, "rooms": 1.0, "city": "nantes"}, {"size_m2": 180.0, "rooms": None, "city": "paris"}]
    )
    assert isinstance(small["prediction"], float) and small["probabilities"] is None
    assert large["prediction"] > small["prediction"]


def test_too_many_bad_rows_refuse_training(tmp_path: Path) -> None:
    path = synthetic_regression_csv(tmp_path, rows=60)
    df = pd.read_csv(path)
    df.loc[:10, "price"] = np.inf
    df.to_csv(path, index=False)
    settings = make_settings(tmp_path / "var")
    with pytest.raises(InvalidDataError, match="price: not a finite number"):
        run_training(settings, load_config(write_config(tmp_path, REGRESSION_CONFIG)))
