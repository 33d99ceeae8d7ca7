"""The training config: typed, strict, and every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from classic_ml.config import ConfigError, load_config
from genaiops.settings import Settings
from tests.classic_ml.helpers import PENGUINS_CONFIG, REGRESSION_CONFIG, write_config


def test_default_config_points_at_the_packaged_penguins() -> None:
    config = load_config(PENGUINS_CONFIG)
    assert config.target == "species"
    assert config.dataset_path().name == "penguins.csv" and config.dataset_path().is_file()
    assert config.gate.metric in config.metrics


def test_relative_dataset_path_is_resolved_next_to_the_config(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, REGRESSION_CONFIG))
    assert config.dataset_path() == (tmp_path / "houses.csv").resolve()
    assert config.features is None and config.drop == ["id"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (REGRESSION_CONFIG + "learning_rate: 3\n", "learning_rate"),
        (REGRESSION_CONFIG.replace("metric: rmse", "metric: accuracy"), "gate.metric"),
        (REGRESSION_CONFIG.replace("cv_folds: 3", "cv_folds: 1"), "cv_folds"),
        ("name: [unclosed", "not valid YAML"),
        ("- a list\n", "mapping"),
    ],
)
def test_config_mistakes_are_named(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(write_config(tmp_path, text))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_tracking_uri_comes_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sqlite file under data_dir by default; an MLflow server URL (production) from the environment."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    local = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert local.mlflow.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert local.mlflow.artifact_location == (tmp_path.resolve() / "mlartifacts").as_uri()
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", "http://mlflow.internal:5000")
    server = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert server.mlflow.tracking_uri == "http://mlflow.internal:5000"
    assert server.mlflow.artifact_location is None  # the server decides where artifacts go
