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
from tests.classic_ml.helpers import REGRESSION_CONFIG, synthetic_regression_csv, write_config
from tests.settings import make_settings

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


CHURN_CONFIG = """
name: churn
dataset: churn.parquet
target: churned
estimator:
  import_path: sklearn.linear_model.LogisticRegression
  params: {max_iter: 500}
metrics: [accuracy, roc_auc_ovr]
gate: {metric: roc_auc_ovr}
cv_folds: 3
"""


def test_parquet_classification_with_numeric_labels_is_served_with_its_own_fields(tmp_path: Path) -> None:
    """Another user's data: Parquet, features inferred, 0/1 labels, a column name that is not an identifier."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    rng = np.random.default_rng(1)
    n = 200
    df = pd.DataFrame({"age (years)": rng.uniform(18, 80, n), "plan": rng.choice(["free", "pro", "team"], n)}).assign(
        visits=rng.integers(0, 50, n)
    )
    df["churned"] = ((df["visits"] < 10) | (df["plan"] == "free")).astype(int)
    df.to_parquet(tmp_path / "churn.parquet", index=False)
    settings = make_settings(tmp_path / "var")
    result = run_training(settings, write_config(tmp_path, CHURN_CONFIG))

    assert result.schema.task == "classification" and result.schema.classes == ["0", "1"]
    assert {f.name: f.kind for f in result.schema.fields} == {
        "age (years)": "number",
        "plan": "category",
        "visits": "number",
    }
    assert result.holdout_metrics["holdout_accuracy"] > 0.8  # the label is a simple rule of the inputs

    with TestClient(create_app(settings, load_rag=False)) as client:
        record = client.get("/openapi.json").json()["components"]["schemas"]["PredictRecord"]
        assert set(record["required"]) == {"age (years)", "plan", "visits"}
        churner, loyal = client.post(
            "/predict",
            json=[
                {"age (years)": 30.0, "plan": "enterprise", "visits": 2},
                {"age (years)": 30.0, "plan": "pro", "visits": 40},
            ],
        ).json()["predictions"]
        assert churner["prediction"] == 1 and loyal["prediction"] == 0  # numbers back, as in the data
        assert set(churner["probabilities"]) == {"0", "1"} and churner["unknown_categories"] == ["plan"]
        bad = client.post("/predict", json={"age (years)": "old", "plan": "pro", "visits": 4})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "age (years)"]
