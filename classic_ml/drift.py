"""Input drift of the classic model: windows of the prediction log against the training reference.

The reference is the sample of the training data saved inside the model (``reference.parquet``,
see ``classic_ml.tracking``) plus the model's own predictions on it. Each window of the prediction
log (by count: the log cut into consecutive blocks of ``window`` rows from the first row, so a
window never changes once full; or by time period) goes through Evidently's ``DataDriftPreset``:
Evidently picks the test per column (K-S / chi-square / Z-test on small samples, Wasserstein /
Jensen-Shannon on large ones) and decides drift per column; we report its test, score, threshold
and verdict, the share of drifted *features*, and the drift of the prediction distribution
(a column of its own, not counted in the share). A window is ``drift`` when that share reaches
``settings.monitoring.drift_share_threshold``, or when a feature's input issues pass their own threshold.

Whatever the log holds, the summary is computed (``clean_window``): categories the model never saw are
left out of the tests and reported as ``input_issues.unknown_category_share``; numbers that are not finite
or beyond the model's limits (logged before limits existed) are reported as ``invalid_number_share``, and
cleared or clipped to those limits for the tests; a column left with nothing to test, or whose test
fails anyway, is reported untested (``test: null``) instead of failing the window.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from classic_ml.drift_report import latest_report_uri, log_drift_report
from classic_ml.prediction_log import prediction_table, read_predictions
from classic_ml.preprocess import feature_frame
from classic_ml.registry import TRAIN_COMMAND, LoadedModel, load_for_serving
from classic_ml.schema import DEFAULT_MARGIN, FeatureSchema, class_label, widened
from classic_ml.tracking import reference_frame
from genaiops.db import make_engine
from genaiops.logs import LogWindow, count_rows, log_windows
from genaiops.settings import Settings

log = logging.getLogger(__name__)

PREDICTION = "__prediction__"
INPUT_ISSUE_SHARE = 0.1  # default share of unknown categories / invalid numbers above which a feature is flagged


class NoReferenceError(LookupError):
    """No model, or a model saved without its reference sample; the message names the fix."""


@dataclass(frozen=True, eq=False)
class Reference:
    frame: pd.DataFrame  # model input columns (+ PREDICTION), as the model sees them
    schema: FeatureSchema
    name: str
    version: str

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


def load_reference(settings: Settings, model: LoadedModel | None = None) -> Reference:
    """The served model's training sample and its predictions on it (the champion when ``model`` is None)."""
    model = model or load_for_serving(settings)
    if model is None:
        raise NoReferenceError(f"no classic model to monitor: {TRAIN_COMMAND}")
    raw = reference_frame(model.model_dir)
    if raw is None:
        raise NoReferenceError(f"{model.name} v{model.version} was saved without a reference sample: retrain it")
    frame = feature_frame(raw, model.schema)
    frame[PREDICTION] = _labels(model.pipeline.predict(frame), model.schema)
    return Reference(frame.reset_index(drop=True), model.schema, model.name, str(model.version))


def _labels(values: Any, schema: FeatureSchema) -> pd.Series:
    series = pd.Series(list(values))
    if schema.task == "classification":
        return series.map(lambda v: None if v is None else class_label(v)).astype(object)
    return pd.to_numeric(series, errors="coerce").astype(float)


def current_frame(log_rows: pd.DataFrame, reference: Reference) -> pd.DataFrame:
    """Prediction-log rows as the reference's columns (inputs that clash with log columns are ``input_``-prefixed)."""
    raw = pd.DataFrame(index=log_rows.index)
    for name in reference.schema.feature_names:
        column = f"input_{name}" if f"input_{name}" in log_rows.columns else name
        raw[name] = log_rows[column] if column in log_rows.columns else None
    frame = feature_frame(raw, reference.schema)
    frame[PREDICTION] = _labels(log_rows["prediction"], reference.schema).to_numpy()
    return frame.reset_index(drop=True)


def _definition(schema: FeatureSchema) -> Any:
    from evidently import DataDefinition

    numbers, categories = schema.names_of("number"), schema.names_of("category")
    (categories if schema.task == "classification" else numbers).append(PREDICTION)
    return DataDefinition(numerical_columns=numbers, categorical_columns=categories)


def _bounds(reference: Reference) -> dict[str, tuple[float | None, float | None]]:
    """What a numeric column may hold in a test: the model's limits (features), the reference's range widened."""
    bounds = {f.name: f.limits() for f in reference.schema.fields if f.kind == "number"}
    if reference.schema.task != "classification":
        values = pd.to_numeric(reference.frame[PREDICTION], errors="coerce")
        bounds[PREDICTION] = widened(_finite(values.min()), _finite(values.max()), DEFAULT_MARGIN)
    return bounds


def _known(reference: Reference) -> dict[str, set[str]]:
    """Categories of each categorical feature the model was trained on (schema) or saw in its reference."""
    known = {}
    for spec in reference.schema.fields:
        if spec.kind == "category":
            seen = {str(v) for v in reference.frame[spec.name].dropna().unique()}
            known[spec.name] = seen | set(spec.categories or [])
    return known


def clean_window(
    current: pd.DataFrame, reference: Reference, issue_share: float = INPUT_ISSUE_SHARE
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The window as the drift tests can take it, and what had to be left out or clipped (``input_issues``)."""
    frame = current.copy()
    rows = max(len(frame), 1)
    unknown: dict[str, float] = {}
    invalid: dict[str, float] = {}
    for name, categories in _known(reference).items():
        values = frame[name]
        mask = values.notna() & ~values.astype(str).isin(categories)
        unknown[name] = round(float(mask.sum()) / rows, 4)
        frame[name] = values.where(~mask, np.nan).astype(object)
    for name, (lo, hi) in _bounds(reference).items():
        values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        finite = np.isfinite(values)
        low = -np.inf if lo is None else lo
        high = np.inf if hi is None else hi
        beyond = finite & ((values < low) | (values > high))
        if name != PREDICTION:
            invalid[name] = round(float(((values.notna() & ~finite) | beyond).sum()) / rows, 4)
        frame[name] = values.where(finite, np.nan).clip(lower=lo, upper=hi)
    shares = {**unknown, **invalid}
    flagged = [n for n in reference.schema.feature_names if shares.get(n, 0.0) > issue_share]
    issues = {
        "unknown_category_share": unknown,
        "invalid_number_share": invalid,
        "threshold": issue_share,
        "flagged": flagged,
    }
    return frame, issues


def run_drift(
    reference: Reference, current: pd.DataFrame, threshold: float, issue_share: float = INPUT_ISSUE_SHARE
) -> tuple[dict[str, Any], Any]:
    """Evidently's full report on one window: (the window's drift fields, the snapshot for the HTML report).

    About 1 s a window on 2 cores, most of it drawing the report's plotly figures: only for the
    HTML report logged to MLflow. The served summary uses :func:`drift_fields`.
    """
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    clean, issues = clean_window(current, reference, issue_share)
    definition = _definition(reference.schema)
    report = Report([DataDriftPreset(drift_share=threshold)], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(clean, data_definition=definition),
        Dataset.from_pandas(reference.frame, data_definition=definition),
    )
    columns = _column_results(snapshot.dict(), reference.schema)
    return _fields(columns, reference, clean, threshold, issues), snapshot


def warm_up() -> None:
    """Import what :func:`drift_fields` needs: a few seconds, once per process."""
    import evidently.legacy.calculations.data_drift  # noqa: F401


def drift_fields(
    reference: Reference, current: pd.DataFrame, threshold: float, issue_share: float = INPUT_ISSUE_SHARE
) -> dict[str, Any]:
    """The same drift fields as :func:`run_drift`, without drawing a report (a few times faster).

    Calls what Evidently's ``ValueDrift`` metric calls for each column of the ``DataDriftPreset``
    (``get_one_column_drift``: the auto-chosen test, its score, threshold and verdict) and skips the
    widgets it renders next. A test holds the two paths equal.
    """
    clean, issues = clean_window(current, reference, issue_share)
    columns: dict[str, dict[str, Any]] = {}
    for name, kind in _kinds(reference.schema).items():
        if clean[name].notna().any():
            try:
                columns[name] = _column_drift(clean, reference, name, kind)
            except Exception as exc:  # noqa: BLE001 - one column's test must never cost the window its summary
                log.warning("drift test of %r not run on this window: %s: %s", name, type(exc).__name__, exc)
    return _fields(columns, reference, clean, threshold, issues)


def _column_drift(current: pd.DataFrame, reference: Reference, name: str, kind: str) -> dict[str, Any]:
    from evidently.legacy.calculations.data_drift import get_one_column_drift
    from evidently.legacy.core import ColumnType
    from evidently.legacy.metric_results import DatasetColumns, DatasetUtilityColumns
    from evidently.legacy.options.data_drift import DataDriftOptions

    options = DataDriftOptions(all_features_stattest=None, all_features_threshold=None, nbinsx=None)
    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    with np.errstate(all="ignore"):
        drift = get_one_column_drift(
            current_data=current,
            reference_data=reference.frame,
            column_name=name,
            options=options,
            dataset_columns=DatasetColumns(
                utility_columns=DatasetUtilityColumns(date=None, id=None, target=None, prediction=None),
                target_type=None,
                task=None,
                num_feature_names=[name] if kind == "numeric" else [],
                cat_feature_names=[name] if kind != "numeric" else [],
                text_feature_names=[],
                datetime_feature_names=[],
                target_names=None,
            ),
            column_type=column_type,
            agg_data=True,
        )
    return {
        "name": name,
        "kind": kind,
        "test": drift.stattest_name,
        "score": _finite(drift.drift_score),
        "threshold": drift.stattest_threshold,
        "drifted": bool(drift.drift_detected),
    }


def _untested(name: str, kind: str) -> dict[str, Any]:
    """A column with nothing left to test (every value missing or unknown) or whose test failed."""
    return {"name": name, "kind": kind, "test": None, "score": None, "threshold": None, "drifted": False}


def _fields(
    columns: dict[str, dict[str, Any]],
    reference: Reference,
    current: pd.DataFrame,
    threshold: float,
    issues: dict[str, Any],
) -> dict[str, Any]:
    kinds = _kinds(reference.schema)
    features = [columns.get(n) or _untested(n, kinds[n]) for n in reference.schema.feature_names]
    share = sum(f["drifted"] for f in features) / len(features) if features else 0.0
    prediction = columns.get(PREDICTION)
    return {
        "share_drifted": round(share, 4),
        "drift_detected": (bool(features) and share >= threshold) or bool(issues["flagged"]),
        "features": features,
        "input_issues": issues,
        "prediction_distribution": _distribution(current[PREDICTION], reference.schema),
        "prediction_drift": None if prediction is None else {k: prediction[k] for k in PREDICTION_DRIFT_KEYS},
    }


def _kinds(schema: FeatureSchema) -> dict[str, str]:
    """Each drift-tested column (features, then the prediction) and whether it is numeric or categorical."""
    kinds = {f.name: ("numeric" if f.kind == "number" else "categorical") for f in schema.fields}
    kinds[PREDICTION] = "categorical" if schema.task == "classification" else "numeric"
    return kinds


PREDICTION_DRIFT_KEYS = ("test", "score", "threshold", "drifted")


def _column_results(result: dict[str, Any], schema: FeatureSchema) -> dict[str, dict[str, Any]]:
    """Per column: Evidently's test, score and threshold (ValueDrift metrics) and its verdict (their tests)."""
    verdicts = {
        t["metric_config"]["params"]["column"]: t["status"] == "FAIL"
        for t in result["tests"]
        if t["metric_config"]["params"].get("type", "").endswith("ValueDrift")
    }
    kinds = _kinds(schema)
    columns = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            name = config["column"]
            columns[name] = {
                "name": name,
                "kind": kinds.get(name, "numeric"),
                "test": config.get("method"),
                "score": _finite(metric["value"]),
                "threshold": config.get("threshold"),
                "drifted": bool(verdicts.get(name, False)),
            }
    return columns


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _distribution(predictions: pd.Series, schema: FeatureSchema) -> dict[str, float]:
    if schema.task != "classification" or predictions.empty:
        return {}
    shares = predictions.dropna().astype(str).value_counts(normalize=True).sort_index()
    return {str(k): round(float(v), 4) for k, v in shares.items()}


# -- windows of the prediction log ----------------------------------------------------------------------


Window = LogWindow  # prediction-log rows of one window, oldest first (genaiops.logs)


def count_windows(source: Engine, table_name: str, window: int, max_windows: int) -> list[Window]:
    """The last ``max_windows`` blocks of ``window`` rows, counted from the first row ever logged."""
    total = count_rows(source, prediction_table(table_name))

    def latest(n: int) -> pd.DataFrame:
        return read_predictions(source, limit=n, table_name=table_name)

    return log_windows(total, window, max_windows, latest)


def time_windows(source: Engine, table_name: str, period: str, max_windows: int) -> list[Window]:
    """The last ``max_windows`` calendar periods (pandas frequency, e.g. ``1h``, ``1D``) that have rows."""
    step = pd.Timedelta(period)
    now = pd.Timestamp.now(tz="UTC")
    since = (now - step * max_windows).floor(period)
    frame = read_predictions(source, since=since.to_pydatetime(), table_name=table_name)
    if frame.empty:
        return []
    buckets = frame["ts"].dt.floor(period)
    current = now.floor(period)
    return [
        Window(int((bucket - since) / step), rows.reset_index(drop=True), bucket < current)
        for bucket, rows in frame.groupby(buckets, sort=True)
    ][-max_windows:]


# -- the summary served at GET /monitoring/classic -----------------------------------------------------


_full_windows: OrderedDict[tuple, dict[str, Any]] = OrderedDict()  # full windows never change: computed once
_CACHE_SIZE = 256


def window_summary(
    reference: Reference, window: Window, threshold: float, issue_share: float = INPUT_ISSUE_SHARE
) -> dict[str, Any]:
    """One entry of ``windows``; full windows are computed once per process (they never change)."""
    bounds = {
        "index": window.index,
        "start": window.rows["ts"].iloc[0].isoformat(),
        "end": window.rows["ts"].iloc[-1].isoformat(),
        "rows": len(window.rows),
    }
    key = (reference.key, bounds["start"], bounds["end"], bounds["rows"], threshold, issue_share)
    fields = _full_windows.get(key) if window.full else None
    if fields is None:
        fields = drift_fields(reference, current_frame(window.rows, reference), threshold, issue_share)
        if window.full:
            _full_windows[key] = fields
            while len(_full_windows) > _CACHE_SIZE:
                _full_windows.popitem(last=False)
    return {**bounds, **fields}


def classic_drift(
    settings: Settings,
    *,
    window: int | None = None,
    period: str | None = None,
    model: LoadedModel | None = None,
    reference: Reference | None = None,
    log_report: bool = True,
    log_partial: bool = True,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """The drift summary of the served model (shape of ``GET /monitoring/classic`` in docs/api.md).

    ``log_report`` logs the current window's HTML report to MLflow, once per window (found again after).
    With ``log_partial=False`` a window still filling up is not logged; ``report_uri`` is then the
    model's latest report (the API does this, so polling does not log a run per poll).
    """
    reference = reference or load_reference(settings, model)
    size = window or settings.monitoring.window
    threshold = settings.monitoring.drift_share_threshold
    owned = engine is None
    engine = engine or make_engine(settings.database_url or "")
    try:
        table = settings.classic.prediction_log_table
        if period:
            windows = time_windows(engine, table, period, settings.monitoring.max_windows)
        else:
            windows = count_windows(engine, table, size, settings.monitoring.max_windows)
    finally:
        if owned:
            engine.dispose()
    issue_share = settings.monitoring.input_issue_share
    summaries = [window_summary(reference, w, threshold, issue_share) for w in windows]
    current = summaries[-1] if summaries else None
    status = "no_data" if current is None else ("drift" if current["drift_detected"] else "ok")
    summary = {
        "status": status,
        "model": {"name": reference.name, "version": reference.version},
        "reference_rows": len(reference.frame),
        "window_size": size,
        "windows": summaries,
        "current": current,
        "report_uri": None,
    }
    if current is not None and log_report:
        last = windows[-1]

        def snapshot() -> Any:
            return run_drift(reference, current_frame(last.rows, reference), threshold, issue_share)[1]

        try:
            if last.full or log_partial:
                summary["report_uri"] = log_drift_report(settings, reference.key, summary, snapshot)
            else:
                summary["report_uri"] = latest_report_uri(settings, reference.key)
        except Exception as exc:  # noqa: BLE001 - the summary is still worth serving without its report
            log.warning("drift report not logged to MLflow (%s): %s", settings.mlflow.tracking_uri, exc)
    return summary
