"""The numpy twin of the fitted ColumnTransformer gives the same matrix, or is not used at all."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from classic_ml.config import load_config
from classic_ml.data import load_dataset
from classic_ml.preprocess import build_preprocessor, compile_preprocessor, feature_frame
from classic_ml.schema import detect_task, feature_kinds, infer_schema
from classic_ml.scoring import probe_frame
from tests.classic_ml.helpers import PENGUINS_CONFIG


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    config = load_config(PENGUINS_CONFIG)
    df = load_dataset(config)
    schema = infer_schema(df, feature_kinds(df, config), config.target, detect_task(df[config.target], config))
    X = feature_frame(df, schema)
    pipeline = Pipeline([("preprocess", build_preprocessor(schema)), ("model", LogisticRegression(max_iter=500))])
    pipeline.fit(X, df[config.target])
    return schema, X, pipeline


def test_twin_matches_the_fitted_transformer_on_data_and_edge_cases(fitted) -> None:  # type: ignore[no-untyped-def]
    schema, X, pipeline = fitted
    compiled = compile_preprocessor(pipeline, probe_frame(schema))
    assert compiled is not None
    edge = probe_frame(schema)  # range ends, nulls, every category, an unknown category
    for frame in (X, edge):
        expected = pipeline[0].transform(frame)
        np.testing.assert_allclose(compiled.transform_frame(frame), expected)
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        np.testing.assert_allclose(compiled.transform_records(records), expected)


def test_a_pipeline_that_is_not_ours_is_served_through_sklearn(fitted) -> None:  # type: ignore[no-untyped-def]
    schema, X, _ = fitted
    other = ColumnTransformer([("category", OneHotEncoder(handle_unknown="ignore"), schema.names_of("category"))])
    pipeline = Pipeline([("preprocess", other), ("model", LogisticRegression())]).fit(X, X["island"])
    assert compile_preprocessor(pipeline, probe_frame(schema)) is None


def test_feature_frame_types_and_missing_values() -> None:
    config = load_config(PENGUINS_CONFIG)
    df = load_dataset(config)
    schema = infer_schema(df, feature_kinds(df, config), config.target, "classification")
    raw = df.head(4).copy()
    raw["bill_length_mm"] = raw["bill_length_mm"].astype(object)
    raw.loc[0, "bill_length_mm"] = "oops"
    X = feature_frame(raw, schema)
    assert list(X.columns) == schema.feature_names
    assert X["bill_length_mm"].dtype == float and np.isnan(X.loc[0, "bill_length_mm"])
    assert X["sex"].isna().sum() == raw["sex"].isna().sum()
