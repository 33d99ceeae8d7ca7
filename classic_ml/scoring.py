"""Turning records into predictions with a loaded model: the code shared by /predict and batch scoring.

The hot path uses the compiled preprocessor (``preprocess.CompiledPreprocessor``) and the fitted
estimator directly, falling back to the sklearn pipeline when the twin is not available. Unknown
categories are flagged (the one-hot encoder ignores them), and numbers outside the training range
get a warning: both are accepted, since refusing them would hide drift rather than report it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from classic_ml.preprocess import CategoryCodes, category_codes, compile_preprocessor, feature_frame
from classic_ml.registry import LoadedModel
from classic_ml.schema import FeatureSchema, class_label

UNKNOWN_PROBE = "__genaiops_unknown__"


def probe_frame(schema: FeatureSchema) -> pd.DataFrame:
    """Rows that exercise every branch of the preprocessor: range ends, nulls, each category, an unknown one."""
    columns: dict[str, list[Any]] = {}
    for spec in schema.fields:
        if spec.kind == "number":
            lo = spec.min if spec.min is not None else 0.0
            hi = spec.max if spec.max is not None else 1.0
            columns[spec.name] = [lo, hi, (lo + hi) / 2, np.nan, hi * 2 + 1]
        else:
            columns[spec.name] = [*(spec.categories or []), UNKNOWN_PROBE, np.nan]
    n = max(len(v) for v in columns.values())
    data = {name: list(itertools.islice(itertools.cycle(values), n)) for name, values in columns.items()}
    return feature_frame(pd.DataFrame(data), schema)


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# Classifiers whose ``predict`` is the class of highest ``predict_proba`` by construction; for them one
# call gives both (checked again on the probe rows at load). Others (e.g. SVC with Platt scaling) may
# disagree on a few rows, so they pay for both calls.
ARGMAX_SAFE = frozenset(
    {
        "LogisticRegression",
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "DecisionTreeClassifier",
        "GradientBoostingClassifier",
        "HistGradientBoostingClassifier",
        "GaussianNB",
        "MLPClassifier",
    }
)


class Scorer:
    """Predictions, probabilities and input flags for one loaded model."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.schema = model.schema
        self.pipeline = model.pipeline
        self.estimator = model.pipeline.steps[-1][1]
        probe = probe_frame(model.schema)
        self.compiled = compile_preprocessor(model.pipeline, probe)
        self.is_classifier = self.schema.task == "classification"
        self.has_proba = self.is_classifier and hasattr(self.estimator, "predict_proba")
        self.classes = [class_label(c) for c in getattr(self.estimator, "classes_", [])]
        self.known = {f.name: frozenset(f.categories) for f in self.schema.fields if f.categories is not None}
        self.categories = {f.name: list(f.categories) for f in self.schema.fields if f.categories is not None}
        self.ranges = {
            f.name: (f.min, f.max) for f in self.schema.fields if f.kind == "number" and None not in (f.min, f.max)
        }
        self.argmax = self.has_proba and type(self.estimator).__name__ in ARGMAX_SAFE and self._argmax_agrees(probe)

    def _argmax_agrees(self, probe: pd.DataFrame) -> bool:
        proba = self.pipeline.predict_proba(probe)
        return bool((self.pipeline.classes_[proba.argmax(axis=1)] == self.pipeline.predict(probe)).all())

    def _predict(self, model: Any, Z: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.has_proba:
            return model.predict(Z), None
        proba = model.predict_proba(Z)
        if self.argmax:
            return model.classes_[proba.argmax(axis=1)], proba
        return model.predict(Z), proba

    def _raw(self, records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        if self.compiled is not None:
            return self._predict(self.estimator, self.compiled.transform_records(records))
        frame = pd.DataFrame.from_records(list(records), columns=self.schema.feature_names)
        return self._predict(self.pipeline, feature_frame(frame, self.schema))

    def flags(self, record: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """(unknown categorical fields, warnings about numbers outside the training range)."""
        unknown = [name for name, known in self.known.items() if record[name] is not None and record[name] not in known]
        warnings = []
        for name, (lo, hi) in self.ranges.items():
            value = record[name]
            if value is not None and not lo <= value <= hi:
                warnings.append(f"{name}={value:g} is outside the training range [{lo:g}, {hi:g}]")
        return unknown, warnings

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One dict per record: prediction, probabilities (classifiers), unknown_categories, warnings."""
        preds, proba = self._raw(records)
        out = []
        for i, record in enumerate(records):
            unknown, warnings = self.flags(record)
            probabilities = None
            if proba is not None:
                probabilities = {c: round(float(p), 6) for c, p in zip(self.classes, proba[i], strict=True)}
            out.append(
                {
                    "prediction": _python(preds[i]),
                    "probabilities": probabilities,
                    "unknown_categories": unknown,
                    "warnings": warnings,
                }
            )
        return out

    def predict_frame(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Batch scoring of a raw frame: prediction, proba_<class> per class, unknown_categories and issues.

        Rows with issues (not a number, +-inf, missing where training had no nulls, outside the training
        range) are still scored, with the bad value imputed, and say so in ``issues``.
        """
        X = feature_frame(raw, self.schema, nan_for_none=self.compiled is None)
        codes = {name: category_codes(X[name], cats) for name, cats in self.categories.items()}
        if self.compiled is not None:
            shared = {c: codes[c] for c, cats in zip(self.compiled.categories, self.compiled.index, strict=True)
                      if c in codes and list(cats) == self.categories[c]}  # fmt: skip
            preds, proba = self._predict(self.estimator, self.compiled.transform_frame(X, shared))
        else:
            numbers = self.schema.names_of("number")
            X[numbers] = X[numbers].replace([np.inf, -np.inf], np.nan)
            preds, proba = self._predict(self.pipeline, X)
        out = pd.DataFrame({"prediction": preds}, index=raw.index)
        if proba is not None:
            for j, name in enumerate(self.classes):
                out[f"proba_{name}"] = proba[:, j]
        unknown, issues = row_flags(raw, X, self.schema, codes)
        out["unknown_categories"] = _join(unknown, len(raw), lambda name, _: name)
        out["issues"] = _join(issues, len(raw), lambda name, reason: f"{name}: {reason}")
        return out


def row_flags(
    raw: pd.DataFrame, X: pd.DataFrame, schema: FeatureSchema, codes: Mapping[str, CategoryCodes]
) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], np.ndarray]]:
    """Vectorised per-row checks against the saved schema: (unknown categories, other issues) as boolean masks."""
    unknown: dict[tuple[str, str], np.ndarray] = {}
    issues: dict[tuple[str, str], np.ndarray] = {}
    for spec in schema.fields:
        if spec.kind == "category":
            if spec.name not in codes:
                continue
            position, missing = codes[spec.name]
            unknown[(spec.name, "")] = (position < 0) & ~missing
        else:
            values = X[spec.name].to_numpy()
            missing = raw[spec.name].isna().to_numpy()
            issues[(spec.name, "not a (finite) number")] = ~missing & ~np.isfinite(values)
            if spec.min is not None and spec.max is not None:
                with np.errstate(invalid="ignore"):
                    outside = ((values < spec.min) | (values > spec.max)) & np.isfinite(values)
                issues[(spec.name, f"outside the training range [{spec.min:g}, {spec.max:g}]")] = outside
        if not spec.nullable:
            issues[(spec.name, "missing (imputed)")] = missing
    return unknown, issues


def _join(masks: Mapping[tuple[str, str], np.ndarray], n: int, fmt: Any) -> np.ndarray:
    """'; '-joined labels of the masks true on each row; strings are only built for flagged rows."""
    labels = np.full(n, "", dtype=object)
    flagged = [(key, mask) for key, mask in masks.items() if mask.any()]
    if not flagged:
        return labels
    for i in np.flatnonzero(np.logical_or.reduce([mask for _, mask in flagged])):
        labels[i] = "; ".join(fmt(*key) for key, mask in flagged if mask[i])
    return labels
