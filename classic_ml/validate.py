"""Data validation with pandera: every row that breaks the schema, with its column and reason.

Nothing is dropped here; the caller decides. Training drops reported rows with a log line and
refuses to train when more than ``max_invalid_fraction`` of the rows are invalid
(``InvalidDataError``); batch scoring reports them and leaves their prediction empty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from classic_ml.schema import FeatureSchema, FieldSpec

log = logging.getLogger(__name__)


class InvalidDataError(ValueError):
    """Too many invalid rows to train on; carries the report."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ValidationReport:
    """``issues`` has one line per broken value: row (index label, None for a missing column), column, reason, value."""

    n_rows: int
    issues: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["row", "column", "reason", "value"]))

    @property
    def ok(self) -> bool:
        return self.issues.empty

    @property
    def bad_rows(self) -> list:
        return sorted({r for r in self.issues["row"] if r is not None and not pd.isna(r)})

    @property
    def missing_columns(self) -> list[str]:
        return sorted(set(self.issues.loc[self.issues["reason"] == "column missing", "column"]))

    @property
    def invalid_fraction(self) -> float:
        return len(self.bad_rows) / self.n_rows if self.n_rows else 0.0

    def summary(self, limit: int = 10) -> str:
        if self.ok:
            return f"{self.n_rows} rows, all valid"
        lines = [f"{len(self.bad_rows)} of {self.n_rows} rows invalid ({len(self.issues)} problems)"]
        for item in self.issues.head(limit).itertuples(index=False):
            lines.append(f"  row {item.row}: {item.column}: {item.reason} (value {item.value!r})")
        return "\n".join(lines)


def _numbers(series: pd.Series) -> pd.Series:
    # checks run on the raw column when coercion failed: values that are not numbers are reported
    # once as a wrong type, so here they count as missing (NaN compares False and passes)
    return pd.to_numeric(series, errors="coerce").astype(float)


def _column(spec: FieldSpec) -> pa.Column:
    checks: list[pa.Check] = []
    if spec.kind == "number":
        checks.append(pa.Check(lambda s: ~np.isinf(_numbers(s)), error="not a finite number"))
        if spec.min is not None:
            lo = spec.min
            checks.append(pa.Check(lambda s: ~(_numbers(s) < lo), error=f"below the minimum {lo:g}"))
        if spec.max is not None:
            hi = spec.max
            checks.append(pa.Check(lambda s: ~(_numbers(s) > hi), error=f"above the maximum {hi:g}"))
        return pa.Column(float, checks=checks, nullable=spec.nullable, coerce=True)
    if spec.categories is not None:
        checks.append(pa.Check.isin(spec.categories, error=f"unknown category (known: {', '.join(spec.categories)})"))
    return pa.Column(str, checks=checks, nullable=spec.nullable, coerce=True)


def to_pandera(schema: FeatureSchema, *, with_target: bool = False) -> pa.DataFrameSchema:
    """The pandera form of a feature schema (the target column is required and non-null when asked for)."""
    columns = {spec.name: _column(spec) for spec in schema.fields}
    if with_target:
        finite = pa.Check(lambda s: ~np.isinf(_numbers(s)), error="not a finite number")
        target_checks = [] if schema.task == "classification" else [finite]
        target_dtype = None if schema.task == "classification" else float
        columns[schema.target] = pa.Column(target_dtype, checks=target_checks, nullable=False, coerce=True)
    return pa.DataFrameSchema(columns, strict=False)


_REASONS = {
    "not_nullable": "missing value",
    "column_in_dataframe": "column missing",
}


def _reason(check: str) -> str:
    if check in _REASONS:
        return _REASONS[check]
    if check.startswith(("coerce_dtype", "dtype")):
        return "wrong type (" + check.split("'")[1] + " expected)" if "'" in check else "wrong type"
    return check


def validate(df: pd.DataFrame, schema: FeatureSchema, *, with_target: bool = False) -> ValidationReport:
    """Check ``df`` against ``schema`` and report every broken value (lazy: all problems, not the first)."""
    try:
        to_pandera(schema, with_target=with_target).validate(df, lazy=True)
        return ValidationReport(n_rows=len(df))
    except SchemaErrors as exc:
        cases = exc.failure_cases
    missing_column = cases["check"].astype(str) == "column_in_dataframe"
    issues = pd.DataFrame(
        {
            "row": cases["index"].astype(object).where(cases["index"].notna(), None),
            "column": cases["column"].where(~missing_column, cases["failure_case"]),
            "reason": [_reason(str(c)) for c in cases["check"]],
            "value": cases["failure_case"],
        }
    )
    # pandera reports a bad cast both as a failed coercion and as a wrong dtype: keep one line
    issues = issues.drop_duplicates(subset=["row", "column", "reason"]).reset_index(drop=True)
    return ValidationReport(n_rows=len(df), issues=issues)


def drop_invalid(df: pd.DataFrame, report: ValidationReport, max_fraction: float) -> pd.DataFrame:
    """Training's policy: refuse above ``max_fraction`` invalid rows, else drop them with a log line."""
    if report.missing_columns:
        raise InvalidDataError(f"column(s) missing from the data: {report.missing_columns}", report)
    if report.invalid_fraction > max_fraction:
        raise InvalidDataError(
            f"{len(report.bad_rows)} of {report.n_rows} rows ({report.invalid_fraction:.1%}) break the data contract, "
            f"above max_invalid_fraction={max_fraction:.1%}:\n{report.summary()}",
            report,
        )
    if not report.ok:
        log.warning("dropping %d invalid row(s) before training:\n%s", len(report.bad_rows), report.summary())
    return df.drop(index=report.bad_rows)
