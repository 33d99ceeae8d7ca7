"""The training config: one YAML file says what to train on, how, and when to promote.

Typed with ``extra="forbid"`` so a misspelt key is an error naming it, not a silent default.
The same code trains on any CSV/Parquet file; only this file changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FeatureKind = Literal["number", "category"]
PACKAGED_DATASETS = {"palmerpenguins:penguins": ("palmerpenguins", "data/penguins.csv")}


class ConfigError(ValueError):
    """A config or dataset problem the user can fix; the message says what and where."""


class ColumnCheck(BaseModel):
    """Hard bounds a column must respect in the training data (the data contract)."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None
    categories: list[str] | None = Field(None, description="Allowed values of a category column.")
    nullable: bool = True


class LimitsSpec(BaseModel):
    """What ``POST /predict`` refuses as impossible (422), saved with the model as each number's limits.

    A number is accepted within its training range widened by ``margin`` times the range's width on each
    side, and within its ``checks`` bounds (``min: 0``: no negative measurement). Between the training
    range and these limits it is accepted with a warning (drift is reported, not hidden).
    """

    model_config = ConfigDict(extra="forbid")

    margin: float = Field(10.0, ge=0, description="Widths of the training range added on each side.")


class EstimatorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    import_path: str = Field(..., description="e.g. sklearn.ensemble.RandomForestClassifier")
    params: dict[str, object] = Field(default_factory=dict)


class GateSpec(BaseModel):
    """A challenger becomes champion when it beats the champion on the same holdout by ``min_improvement``."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    min_improvement: float = Field(0.0, ge=0)


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, description="Dataset name logged with the run.")
    dataset: str = Field(
        ..., description="CSV/Parquet path (relative to the config file) or 'palmerpenguins:penguins'."
    )
    target: str
    task: Literal["auto", "classification", "regression"] = "auto"
    features: dict[str, FeatureKind] | None = Field(None, description="Omitted: every column but target and drop.")
    drop: list[str] = Field(default_factory=list, description="Columns ignored when features are inferred.")
    checks: dict[str, ColumnCheck] = Field(default_factory=dict)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    estimator: EstimatorSpec
    metrics: list[str] = Field(..., min_length=1)
    gate: GateSpec
    holdout_fraction: float = Field(0.2, gt=0, lt=0.9)
    seed: int = 42
    cv_folds: int = Field(5, ge=2, le=20)
    max_invalid_fraction: float = Field(0.05, ge=0, le=1)
    base_dir: Path = Field(Path("."), exclude=True, description="Folder of the config file (set by load_config).")

    @model_validator(mode="after")
    def _gate_metric_is_computed(self) -> TrainingConfig:
        if self.gate.metric not in self.metrics:
            raise ValueError(f"gate.metric {self.gate.metric!r} must be one of metrics {self.metrics}")
        if self.features is not None and self.target in self.features:
            raise ValueError(f"target {self.target!r} cannot also be a feature")
        return self

    def dataset_path(self) -> Path:
        """Where the data file is; packaged datasets resolve to the file inside their package."""
        if self.dataset in PACKAGED_DATASETS:
            import importlib.resources

            package, resource = PACKAGED_DATASETS[self.dataset]
            return Path(str(importlib.resources.files(package).joinpath(resource)))
        path = Path(self.dataset).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()


def load_config(path: Path | str) -> TrainingConfig:
    """Read and check a YAML config; any problem becomes one ``ConfigError`` line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return TrainingConfig(**raw, base_dir=path.resolve().parent)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc
