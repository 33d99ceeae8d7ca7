"""The production backend: MLflow tracking + registry on PostgreSQL, same code as the sqlite default."""

from __future__ import annotations

from pathlib import Path

import pytest

from classic_ml.pipeline import run_training
from classic_ml.registry import load_for_serving
from tests.classic_ml.helpers import (
    REGRESSION_CONFIG,
    fresh_postgres_database,
    require_postgres,
    synthetic_regression_csv,
    write_config,
)
from tests.settings import make_settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_train_register_and_serve_with_mlflow_on_postgres(tmp_path: Path) -> None:
    require_postgres()
    synthetic_regression_csv(tmp_path)
    config = write_config(tmp_path, REGRESSION_CONFIG)
    with fresh_postgres_database() as url:
        mlflow = {"tracking_uri": url, "artifact_location": (tmp_path / "artifacts").as_uri()}
        settings = make_settings(tmp_path / "var", mlflow=mlflow)
        first = run_training(settings, config)
        second = run_training(settings, config)
        assert first.promoted and first.version == "1"
        assert second.version == "2" and not second.promoted  # same data, same score: the champion stays
        served = load_for_serving(settings)
        assert served is not None and served.source == "registry" and served.version == "1"
