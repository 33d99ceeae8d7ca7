"""Shared pieces of the classic-model tests: settings on one trained registry, configs, Postgres access.

The penguins model is trained once per session (``trained_penguins``) and shared by the pipeline,
API and CLI tests; tests that change a registry get their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from classic_ml.config import EstimatorSpec, TrainingConfig, load_config
from classic_ml.pipeline import TrainingResult, run_training
from genaiops.settings import REPO_ROOT, Settings
from tests.conftest import in_ci
from tests.settings import make_settings

PENGUINS_CONFIG = REPO_ROOT / "classic_ml" / "configs" / "penguins.yaml"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RECORD = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 15.0,
    "flipper_length_mm": 217.0,
    "body_mass_g": 5200.0,
    "sex": "male",
}

_TRAINED: dict[str, tuple[Settings, TrainingResult]] = {}


def sharing_registry(registry: Settings, data_dir: Path, **overrides: object) -> Settings:
    """Settings on ``registry``'s MLflow store but with their own prediction log and local model copy."""
    mlflow = {"tracking_uri": registry.mlflow.tracking_uri, "artifact_location": registry.mlflow.artifact_location}
    return make_settings(data_dir, mlflow=mlflow, **overrides)


def trained_penguins(factory: pytest.TempPathFactory) -> tuple[Settings, TrainingResult]:
    """The default config trained once per session into its own registry."""
    if "penguins" not in _TRAINED:
        settings = make_settings(factory.mktemp("penguins-registry"))
        _TRAINED["penguins"] = (settings, run_training(settings, PENGUINS_CONFIG))
    return _TRAINED["penguins"]


def shadow_registry(factory: pytest.TempPathFactory) -> tuple[Settings, TrainingResult]:
    """A registry whose champion (v1) ignores its inputs (always the majority class) and whose challenger (v2) is
    the real penguins model, trained with ``classic.promote_on_train`` off: it passed its gate and waits in shadow.
    Built once per session; a test that moves its aliases puts them back. Returns (settings, the challenger's
    training result)."""
    if "shadow" not in _TRAINED:
        settings = make_settings(factory.mktemp("shadow-registry"), classic={"promote_on_train": False})
        first = run_training(settings, dummy_config())
        _TRAINED["shadow"] = (settings, run_training(settings, PENGUINS_CONFIG))
        assert first.promoted  # no champion yet: the first model always becomes champion
    return _TRAINED["shadow"]


def with_estimator(config: TrainingConfig, import_path: str, **params: object) -> TrainingConfig:
    return config.model_copy(update={"estimator": EstimatorSpec(import_path=import_path, params=params)})


def dummy_config() -> TrainingConfig:
    """The penguins config with a model that ignores its inputs: clearly worse than the real one."""
    return with_estimator(load_config(PENGUINS_CONFIG), "sklearn.dummy.DummyClassifier", strategy="prior")


def synthetic_regression_csv(folder: Path, rows: int = 240, seed: int = 0) -> Path:
    """A user-style CSV: numeric target, an id column to drop, a categorical feature, a few missing values."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(20, 200, rows)
    rooms = rng.integers(1, 7, rows).astype(float)
    city = rng.choice(["lyon", "paris", "nantes"], rows)
    price = 3000 * size + 10000 * rooms + np.select([city == "paris", city == "lyon"], [150000, 50000], 0)
    df = pd.DataFrame({"id": np.arange(rows), "size_m2": size, "rooms": rooms, "city": city})
    df["price"] = price + rng.normal(0, 5000, rows)
    df.loc[::37, "rooms"] = np.nan
    path = folder / "houses.csv"
    df.to_csv(path, index=False)
    return path


def write_config(folder: Path, text: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


REGRESSION_CONFIG = """
name: houses
dataset: houses.csv
target: price
drop: [id]
estimator:
  import_path: sklearn.linear_model.Ridge
  params: {alpha: 1.0}
metrics: [rmse, mae, r2]
gate: {metric: rmse, min_improvement: 0}
cv_folds: 3
"""


def require_postgres() -> None:
    """Skip (locally) or fail (CI) when PostgreSQL on 127.0.0.1:5432 cannot be reached."""
    import psycopg

    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL unreachable on 127.0.0.1:5432 (database test, user postgres): {exc}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new empty database (dropped afterwards); yields its SQLAlchemy psycopg URL."""
    import psycopg

    name = f"genaiops_test_{uuid.uuid4().hex[:10]}"
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
