"""Preprocessing: the ``ColumnTransformer`` of the model, and a numpy twin of it for serving.

``build_preprocessor`` is what gets fitted and saved inside the sklearn ``Pipeline`` (median
imputation + scaling for numbers; most-frequent imputation + one-hot with unknown categories
ignored for categories). ``CompiledPreprocessor`` reads the fitted parameters back and applies
them with plain numpy: a ColumnTransformer costs milliseconds per call on one row (pandas
overhead), the twin tens of microseconds. It is only used after ``matches`` proved it gives the
same matrix as the fitted transformer, so predictions are unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from classic_ml.schema import FeatureSchema

log = logging.getLogger(__name__)


def feature_frame(df: pd.DataFrame, schema: FeatureSchema, *, nan_for_none: bool = True) -> pd.DataFrame:
    """The model's input: schema columns in order, numbers as float (bad values -> NaN), categories as str/NaN.

    sklearn's imputers only see NaN as missing in text columns, so None becomes NaN; the compiled
    preprocessor treats both alike and batch scoring skips that pass (``nan_for_none=False``).
    """
    out = {}
    for spec in schema.fields:
        col = df[spec.name]
        if spec.kind == "number":
            out[spec.name] = col if col.dtype == np.float64 else pd.to_numeric(col, errors="coerce").astype(float)
        elif col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in {"string", "empty"}:
            # already text: skip the slow str() of every value
            out[spec.name] = col.where(col.notna(), np.nan) if nan_for_none else col
        else:
            out[spec.name] = col.astype(str).where(col.notna(), np.nan).astype(object)
    return pd.DataFrame(out, index=df.index)


def target_series(df: pd.DataFrame, schema: FeatureSchema) -> pd.Series:
    """The target as the model learns it: numbers for regression, labels unchanged for classification."""
    y = df[schema.target]
    return pd.to_numeric(y, errors="coerce").astype(float) if schema.task == "regression" else y


def build_preprocessor(schema: FeatureSchema) -> ColumnTransformer:
    """Impute + scale numbers, impute + one-hot categories (unknown categories -> all zeros)."""
    blocks = []
    numbers, categories = schema.names_of("number"), schema.names_of("category")
    if numbers:
        num = Pipeline(
            [("impute", SimpleImputer(strategy="median", keep_empty_features=True)), ("scale", StandardScaler())]
        )
        blocks.append(("number", num, numbers))
    if categories:
        cat = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        blocks.append(("category", cat, categories))
    return ColumnTransformer(blocks, remainder="drop", sparse_threshold=0.0)


class CompiledPreprocessor:
    """The fitted ``build_preprocessor`` output as numpy arrays; see the module docstring."""

    def __init__(self, fitted: ColumnTransformer) -> None:
        self.numbers: list[str] = []
        self.categories: list[str] = []
        self.median = self.mean = self.scale = np.zeros(0)
        self.fill: list[str] = []
        self.index: list[dict[str, int]] = []
        self.offsets: list[int] = []
        for name, pipe, cols in fitted.transformers_:
            if name == "number":
                self.numbers = list(cols)
                self.median = pipe["impute"].statistics_.astype(float)
                scaler = pipe["scale"]
                self.mean = scaler.mean_ if scaler.with_mean else np.zeros(len(cols))
                self.scale = scaler.scale_ if scaler.with_std else np.ones(len(cols))
            elif name == "category":
                self.categories = list(cols)
                self.fill = [str(v) for v in pipe["impute"].statistics_]
                self.index = [{str(c): i for i, c in enumerate(cats)} for cats in pipe["onehot"].categories_]
        start = len(self.numbers)
        for mapping in self.index:
            self.offsets.append(start)
            start += len(mapping)
        self.width = start

    def transform_records(self, records: Sequence[Mapping[str, object]]) -> np.ndarray:
        """Rows as dicts (None = missing) -> the model matrix."""
        n = len(records)
        out = np.zeros((n, self.width))
        if self.numbers:
            raw = np.array([[r[c] for c in self.numbers] for r in records], dtype=float)
            raw = np.where(np.isnan(raw), self.median, raw)
            out[:, : len(self.numbers)] = (raw - self.mean) / self.scale
        for j, col in enumerate(self.categories):
            mapping, fill, offset = self.index[j], self.fill[j], self.offsets[j]
            for i, record in enumerate(records):
                value = record[col]
                pos = mapping.get(fill if value is None else str(value))
                if pos is not None:
                    out[i, offset + pos] = 1.0
        return out

    def transform_frame(self, df: pd.DataFrame, codes: Mapping[str, CategoryCodes] | None = None) -> np.ndarray:
        """A ``feature_frame`` -> the model matrix, vectorised for batch scoring.

        Non-finite numbers are imputed like missing ones (the caller flags them). ``codes`` may bring
        ``category_codes`` already computed against the same categories, to look each column up once.
        """
        n = len(df)
        out = np.zeros((n, self.width))
        if self.numbers:
            raw = df[self.numbers].to_numpy(dtype=float)
            raw = np.where(np.isfinite(raw), raw, self.median)
            out[:, : len(self.numbers)] = (raw - self.mean) / self.scale
        rows = np.arange(n)
        for j, col in enumerate(self.categories):
            found = codes.get(col) if codes else None
            position, missing = found if found is not None else category_codes(df[col], list(self.index[j]))
            position = position.copy()
            position[missing] = self.index[j].get(self.fill[j], -1)  # missing -> the imputed category
            known = position >= 0  # unknown categories stay all-zero, as OneHotEncoder(handle_unknown="ignore")
            out[rows[known], self.offsets[j] + position[known]] = 1.0
        return out


CategoryCodes = tuple[np.ndarray, np.ndarray]


def category_codes(values: pd.Series, categories: list[str]) -> CategoryCodes:
    """(position of each value in ``categories`` or -1, mask of missing values); one hash lookup per value."""
    position = pd.Index(categories).get_indexer(values)
    missing = np.zeros(len(values), dtype=bool)
    unmatched = np.flatnonzero(position < 0)
    if len(unmatched):  # only the unmatched values can be missing: test just those
        missing[unmatched[pd.isna(values.to_numpy()[unmatched])]] = True
    return position, missing


def compile_preprocessor(pipeline: Pipeline, probe: pd.DataFrame) -> CompiledPreprocessor | None:
    """A numpy twin of ``pipeline``'s preprocessor, or None when the pipeline is not ours or the twin differs."""
    pre = pipeline.steps[0][1] if len(pipeline.steps) == 2 else None
    if not isinstance(pre, ColumnTransformer) or not _is_standard(pre):
        log.info("serving without the compiled preprocessor: the pipeline is not the standard one")
        return None
    compiled = CompiledPreprocessor(pre)
    expected = pre.transform(probe)
    records = probe.astype(object).where(probe.notna(), None).to_dict("records")
    same = np.allclose(compiled.transform_frame(probe), expected) and np.allclose(
        compiled.transform_records(records), expected
    )
    if not same:
        log.warning("compiled preprocessor disagrees with the fitted one: serving through sklearn instead")
        return None
    return compiled


def _is_standard(pre: ColumnTransformer) -> bool:
    """True when ``pre`` was made by ``build_preprocessor`` with default parameters (what the twin mirrors)."""
    expected = {"number": ["impute", "scale"], "category": ["impute", "onehot"]}
    for name, pipe, _cols in pre.transformers_:
        if name == "remainder":
            continue
        if name not in expected or not isinstance(pipe, Pipeline) or [s for s, _ in pipe.steps] != expected[name]:
            return False
        if name == "category":
            enc = pipe["onehot"]
            if enc.drop is not None or enc.min_frequency is not None or enc.max_categories is not None:
                return False
    return True
