"""The feature schema: what the model was trained on, saved with it and served from it.

One representation, three uses: the data contract checked before training (from the config),
the schema inferred from the training data (observed ranges, categories, nullability) saved
next to the model, and the request model of ``POST /predict`` built from that saved schema.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import pandas as pd
from pandas.api import types as ptypes
from pydantic import BaseModel

from classic_ml.config import ConfigError, FeatureKind, TrainingConfig

SCHEMA_FILE = "feature_schema.json"
Task = Literal["classification", "regression"]
NUMERIC_SHARE = 0.9  # a text column is inferred numeric when this share of its values parse as numbers
DEFAULT_MARGIN = 10.0  # limits of a model saved before limits existed: its training range widened this many times


class FieldSpec(BaseModel):
    name: str
    kind: FeatureKind
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    limit_min: float | None = None  # numbers: what /predict accepts at all (config ``limits`` and ``checks``)
    limit_max: float | None = None

    def limits(self) -> tuple[float | None, float | None]:
        """The accepted span of a number; a schema saved without limits gets the default margin around its range."""
        if self.limit_min is not None or self.limit_max is not None:
            return self.limit_min, self.limit_max
        return widened(self.min, self.max, DEFAULT_MARGIN)


def widened(lo: float | None, hi: float | None, margin: float) -> tuple[float | None, float | None]:
    """``[lo, hi]`` widened by ``margin`` times its width on each side (a point range by its magnitude, or 1)."""
    if lo is None or hi is None:
        return None, None
    width = (hi - lo) or max(abs(hi), 1.0)
    return lo - margin * width, hi + margin * width


class FeatureSchema(BaseModel):
    """Features in model input order, plus the target and (classification) its classes."""

    fields: list[FieldSpec]
    target: str
    task: Task
    classes: list[str] | None = None
    target_numeric: bool = False  # class labels were numbers (kept as numbers in answers)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def names_of(self, kind: FeatureKind) -> list[str]:
        return [f.name for f in self.fields if f.kind == kind]

    def save(self, path: Path) -> Path:
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> FeatureSchema:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))


def feature_kinds(df: pd.DataFrame, config: TrainingConfig) -> dict[str, FeatureKind]:
    """Feature columns and kinds: from the config, else numbers (see ``_looks_numeric``) or categories."""
    if config.features is not None:
        return dict(config.features)
    unknown = [c for c in config.drop if c not in df.columns]
    if unknown:
        raise ConfigError(f"drop lists column(s) {unknown} that the dataset does not have")
    kinds: dict[str, FeatureKind] = {}
    for col in df.columns:
        if col == config.target or col in config.drop:
            continue
        kinds[col] = "number" if _looks_numeric(df[col]) else "category"
    if not kinds:
        raise ConfigError("no feature columns left after removing the target and `drop`")
    return kinds


def _looks_numeric(col: pd.Series) -> bool:
    """Numeric dtype, or text that is numbers at least 90% of the time (the rest are typos to report)."""
    if ptypes.is_bool_dtype(col):
        return False
    if ptypes.is_numeric_dtype(col):
        return True
    present = col.dropna()
    if present.empty:
        return False
    return pd.to_numeric(present, errors="coerce").notna().mean() >= NUMERIC_SHARE


def detect_task(target: pd.Series, config: TrainingConfig) -> Task:
    """Classification for text/bool targets or integers with few values; regression for other numbers."""
    if config.task != "auto":
        return config.task
    if not ptypes.is_numeric_dtype(target) or ptypes.is_bool_dtype(target):
        return "classification"
    values = target.dropna()
    if ptypes.is_integer_dtype(values) or (values == values.round()).all():
        return "classification" if values.nunique() <= 20 else "regression"
    return "regression"


def contract_schema(config: TrainingConfig, kinds: dict[str, FeatureKind], task: Task) -> FeatureSchema:
    """The hard contract of the training data: kinds from the config plus its explicit ``checks``."""
    unknown = sorted(set(config.checks) - set(kinds))
    if unknown:
        raise ConfigError(f"checks name column(s) {unknown} that are not features")
    fields = []
    for name, kind in kinds.items():
        check = config.checks.get(name)
        spec = FieldSpec(name=name, kind=kind)
        if check is not None:
            spec = FieldSpec(name=name, kind=kind, **check.model_dump())
        fields.append(spec)
    return FeatureSchema(fields=fields, target=config.target, task=task)


def infer_schema(df: pd.DataFrame, kinds: dict[str, FeatureKind], target: str, task: Task) -> FeatureSchema:
    """What the training data looked like: ranges, categories and whether nulls occurred."""
    fields = []
    for name, kind in kinds.items():
        col = df[name]
        nullable = bool(col.isna().any())
        if kind == "number":
            values = pd.to_numeric(col, errors="coerce")
            lo, hi = values.min(), values.max()
            fields.append(
                FieldSpec(
                    name=name,
                    kind=kind,
                    nullable=nullable,
                    min=None if pd.isna(lo) else float(lo),
                    max=None if pd.isna(hi) else float(hi),
                )
            )
        else:
            cats = sorted({str(v) for v in col.dropna()})
            fields.append(FieldSpec(name=name, kind=kind, nullable=nullable, categories=cats))
    y = df[target].dropna()
    classes = None
    numeric_labels = False
    if task == "classification":
        numeric_labels = bool(ptypes.is_numeric_dtype(y))
        classes = [class_label(v) for v in sorted(y.unique())]
    return FeatureSchema(fields=fields, target=target, task=task, classes=classes, target_numeric=numeric_labels)


def with_limits(schema: FeatureSchema, config: TrainingConfig) -> FeatureSchema:
    """The schema with each number's limits: training range widened by ``config.limits.margin``, within its checks."""
    fields = []
    for spec in schema.fields:
        if spec.kind == "number":
            lo, hi = widened(spec.min, spec.max, config.limits.margin)
            check = config.checks.get(spec.name)
            if check is not None and check.min is not None:
                lo = check.min if lo is None else max(lo, check.min)
            if check is not None and check.max is not None:
                hi = check.max if hi is None else min(hi, check.max)
            spec = spec.model_copy(update={"limit_min": lo, "limit_max": hi})
        fields.append(spec)
    return schema.model_copy(update={"fields": fields})


def class_label(value: object) -> str:
    """Class names as strings for probability keys: ``1.0`` -> ``"1"``, ``"Adelie"`` unchanged."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)
