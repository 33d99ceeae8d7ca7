"""Data validation with pandera: every broken value reported with its row, column and reason."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from classic_ml.config import load_config
from classic_ml.data import load_dataset, split_holdout
from classic_ml.schema import FeatureSchema, FieldSpec, contract_schema, detect_task, feature_kinds, infer_schema
from classic_ml.validate import InvalidDataError, drop_invalid, validate
from tests.classic_ml.helpers import PENGUINS_CONFIG

SCHEMA = FeatureSchema(
    fields=[
        FieldSpec(name="x", kind="number", nullable=False, min=0, max=100),
        FieldSpec(name="c", kind="category", categories=["a", "b"]),
    ],
    target="y",
    task="classification",
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, np.inf, None, 500.0, "abc", 3.0],
            "c": ["a", "b", "z", None, "a", "b"],
            "y": ["k", "k", "j", None, "j", "j"],
        }
    )


def _reasons(report) -> set[tuple[object, str, str]]:  # type: ignore[no-untyped-def]
    return {(r.row, r.column, r.reason) for r in report.issues.itertuples()}


def test_every_problem_is_reported_with_row_column_and_reason() -> None:
    df = _frame()
    report = validate(df, SCHEMA, with_target=True)
    reasons = _reasons(report)
    assert (1, "x", "not a finite number") in reasons
    assert (2, "x", "missing value") in reasons
    assert (3, "x", "above the maximum 100") in reasons
    assert (4, "x", "wrong type (float64 expected)") in reasons
    assert (2, "c", "unknown category (known: a, b)") in reasons
    assert (3, "y", "missing value") in reasons
    assert report.bad_rows == [1, 2, 3, 4]
    assert len(df) == 6  # reported, not dropped


def test_a_missing_column_is_reported_as_such() -> None:
    report = validate(_frame().drop(columns=["c"]), SCHEMA)
    assert report.missing_columns == ["c"]
    with pytest.raises(InvalidDataError, match="column"):
        drop_invalid(_frame(), report, max_fraction=1.0)


def test_training_refuses_too_many_invalid_rows_and_drops_a_few_with_a_log_line(caplog) -> None:  # type: ignore[no-untyped-def]
    df = _frame()
    report = validate(df, SCHEMA, with_target=True)
    with pytest.raises(InvalidDataError, match="max_invalid_fraction"):
        drop_invalid(df, report, max_fraction=0.5)
    with caplog.at_level(logging.WARNING, logger="classic_ml.validate"):
        kept = drop_invalid(df, report, max_fraction=0.7)
    assert list(kept.index) == [0, 5]
    assert "dropping 4 invalid row(s)" in caplog.text


def test_penguins_meet_the_default_contract_and_the_inferred_schema_describes_them() -> None:
    config = load_config(PENGUINS_CONFIG)
    df = load_dataset(config)
    kinds = feature_kinds(df, config)
    task = detect_task(df[config.target], config)
    assert task == "classification"
    assert validate(df, contract_schema(config, kinds, task), with_target=True).ok
    schema = infer_schema(df, kinds, config.target, task)
    by_name = {f.name: f for f in schema.fields}
    assert by_name["island"].categories == sorted(df["island"].unique())
    assert by_name["sex"].nullable and not by_name["island"].nullable
    assert by_name["body_mass_g"].min == df["body_mass_g"].min()
    assert schema.classes == sorted(df["species"].unique())
    assert validate(df, schema).ok  # the data it was inferred from passes it


def test_holdout_is_stratified_and_reproducible() -> None:
    config = load_config(PENGUINS_CONFIG)
    df = load_dataset(config)
    train, holdout = split_holdout(df, config, "classification")
    again = split_holdout(df, config, "classification")[1]
    assert len(holdout) == round(len(df) * config.holdout_fraction)
    pd.testing.assert_frame_equal(holdout, again)
    shares = holdout[config.target].value_counts(normalize=True)
    overall = df[config.target].value_counts(normalize=True)
    assert (shares - overall).abs().max() < 0.03
    assert len(train) + len(holdout) == len(df)


def test_task_detection() -> None:
    config = load_config(PENGUINS_CONFIG)
    assert detect_task(pd.Series([0, 1, 1, 0]), config) == "classification"
    assert detect_task(pd.Series(np.linspace(0, 1, 50)), config) == "regression"
    assert detect_task(pd.Series(["a", "b"]), config) == "classification"
