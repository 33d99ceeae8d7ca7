"""Input drift of the classic model with the real penguins data, the real model and the real Evidently.

A sample from the training distribution must not be flagged; the same sample with shifted body
measurements must be, on exactly the shifted features. Retraining goes through the gate.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from palmerpenguins import load_penguins

from classic_ml.drift import (
    NoReferenceError,
    classic_drift,
    count_windows,
    current_frame,
    drift_fields,
    load_reference,
    run_drift,
    time_windows,
)
from classic_ml.prediction_log import PredictionLog, log_rows, make_engine
from classic_ml.retrain import RetrainError, read_labels, retrain
from classic_ml.serving import ClassicService, build_classic_service
from genaiops.logs import min_window_rows
from genaiops.settings import Settings
from genaiops.tracking import mlflow_store
from tests.classic_ml.helpers import RECORD, dummy_config, sharing_registry, trained_penguins
from tests.settings import make_settings

pytestmark = pytest.mark.slow
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
SHIFTED = {"bill_length_mm": 6.0, "flipper_length_mm": 15.0, "body_mass_g": 600.0}
WINDOW = 150


def reference_sample(seed: int = 7, rows: int = WINDOW) -> pd.DataFrame:
    """Penguins drawn from the same data the model was trained on (with their true species)."""
    return load_penguins().sample(rows, random_state=seed).reset_index(drop=True)


def shifted(sample: pd.DataFrame) -> pd.DataFrame:
    out = sample.copy()
    for column, delta in SHIFTED.items():
        out[column] = out[column] + delta
    return out


def records(frame: pd.DataFrame) -> list[dict]:
    rows = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None)
    return rows.to_dict("records")


def serve(service: ClassicService, frame: pd.DataFrame, prefix: str, per_request: int = 1) -> list[str]:
    """Predict through the real service (validated and logged like /predict); returns the request ids."""
    ids = []
    recs = records(frame)
    for start in range(0, len(recs), per_request):
        request_id = f"{prefix}-{start}"
        service.predict(service.parse(recs[start : start + per_request]), request_id=request_id)
        ids.append(request_id)
    assert service.prediction_log is not None and service.prediction_log.flush()
    return ids


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[tuple[Settings, ClassicService]]:
    registry, _ = trained_penguins(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var")
    service = build_classic_service(settings)
    yield settings, service
    service.close()


def test_drift_is_detected_on_a_shifted_sample_and_not_on_a_reference_sample(served) -> None:  # type: ignore[no-untyped-def]
    settings, service = served
    sample = reference_sample()
    serve(service, sample, "normal", per_request=10)
    serve(service, shifted(sample), "shifted", per_request=10)

    summary = classic_drift(settings, window=WINDOW, model=service.state.model)

    assert summary["status"] == "drift"
    assert summary["model"] == {"name": "classic-model", "version": service.state.model.version}
    assert summary["reference_rows"] > 200 and summary["window_size"] == WINDOW
    normal, drifted = summary["windows"]
    assert summary["current"] == drifted
    # the sample from the reference distribution: no drift, no feature flagged
    assert normal["rows"] == WINDOW and normal["drift_detected"] is False
    assert normal["share_drifted"] < settings.monitoring.drift_share_threshold
    assert [f["name"] for f in normal["features"] if f["drifted"]] == []
    assert normal["prediction_drift"]["drifted"] is False
    # the shifted sample: exactly the shifted features, and the predictions moved with them
    assert drifted["drift_detected"] is True
    assert {f["name"] for f in drifted["features"] if f["drifted"]} == set(SHIFTED)
    assert drifted["share_drifted"] == pytest.approx(len(SHIFTED) / len(FEATURES), abs=1e-3)
    assert drifted["prediction_drift"]["drifted"] is True
    assert drifted["prediction_distribution"]["Gentoo"] > normal["prediction_distribution"]["Gentoo"]
    for window in summary["windows"]:
        assert math.isclose(sum(window["prediction_distribution"].values()), 1, abs_tol=1e-3)
    kinds = {f["name"]: (f["kind"], f["test"]) for f in drifted["features"]}
    assert kinds["bill_length_mm"][0] == "numeric" and kinds["island"][0] == "categorical"
    assert all(f["test"] and f["threshold"] is not None and f["score"] is not None for f in drifted["features"])


def test_the_served_summary_equals_evidentlys_full_report(served) -> None:  # type: ignore[no-untyped-def]
    """The fast path (no figures drawn) gives Evidently's own tests, scores and verdicts, window by window."""
    settings, service = served
    sample = reference_sample(seed=3, rows=60)
    serve(service, sample, "calm", per_request=10)
    serve(service, shifted(sample.head(20)), "moved", per_request=10)
    reference = load_reference(settings, service.state.model)
    threshold = settings.monitoring.drift_share_threshold
    windows = count_windows(make_engine(settings.database_url or ""), settings.classic.prediction_log_table, 20, 12)
    verdicts = []
    for window in windows:
        current = current_frame(window.rows, reference)
        full, _ = run_drift(reference, current, threshold)
        assert drift_fields(reference, current, threshold) == full, window.index
        verdicts.append(full["drift_detected"])
    assert verdicts == [False, False, False, True]  # both verdicts compared, not only calm windows


def test_the_html_report_is_logged_to_mlflow_once_per_window(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, service = served
    serve(service, shifted(reference_sample(seed=3)), "shifted", per_request=25)
    first = classic_drift(settings, window=WINDOW, model=service.state.model)
    again = classic_drift(settings, window=WINDOW, model=service.state.model)
    assert first["report_uri"] == again["report_uri"] and first["report_uri"].startswith("runs:/")

    run_id = first["report_uri"].split("/")[1]
    run = mlflow_store(settings).client.get_run(run_id)
    assert run.data.tags["monitor"] == "classic-drift" and run.data.metrics["drift_detected"] == 1.0
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=first["report_uri"], dst_path=str(tmp_path), tracking_uri=settings.mlflow.tracking_uri
    )
    html = Path(local).read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<html") or "<!doctype html" in html.lower()[:200]
    assert "bill_length_mm" in html
    experiment = mlflow_store(settings).client.get_experiment_by_name(settings.mlflow.monitoring_experiment)
    assert experiment is not None


def test_windows_are_fixed_blocks_and_a_young_window_waits_for_enough_rows(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    plog = PredictionLog(engine)
    result = {"prediction": "Adelie", "probabilities": None, "unknown_categories": []}

    def add(n: int) -> None:
        plog.append(log_rows("r", "m", "1", [RECORD] * n, [result] * n))
        assert plog.flush()

    add(25)  # one full window; the 5 rows after it are fewer than min_window_rows(20) = 10: not shown yet
    assert min_window_rows(20) == 10
    assert [(w.index, len(w.rows), w.full) for w in count_windows(engine, "classic_predictions", 20, 12)] == [
        (0, 20, True)
    ]
    add(35)  # 60 rows: three full windows of 20
    assert [(w.index, len(w.rows), w.full) for w in count_windows(engine, "classic_predictions", 20, 12)] == [
        (0, 20, True), (1, 20, True), (2, 20, True)
    ]  # fmt: skip
    add(5)  # a fourth window of 5 rows is too young to test
    assert len(count_windows(engine, "classic_predictions", 20, 12)) == 3
    add(5)  # 10 rows = min_window_rows(20): shown, marked partial
    windows = count_windows(engine, "classic_predictions", 20, 2)
    assert [(w.index, len(w.rows), w.full) for w in windows] == [(2, 20, True), (3, 10, False)]
    plog.close()


def test_time_windows_are_calendar_periods_with_rows(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    plog = PredictionLog(engine)
    result = {"prediction": "Adelie", "probabilities": None, "unknown_categories": []}
    now = pd.Timestamp.now(tz="UTC")
    to_next_hour = (now.ceil("h") - now).total_seconds()
    if to_next_hour < 10:  # the windows below are computed a moment later: do not straddle an hour boundary
        time.sleep(to_next_hour + 0.5)
        now = pd.Timestamp.now(tz="UTC")
    for hours_ago, n in ((30, 4), (3, 5), (1, 6), (0, 2)):  # 30 h ago is older than 12 windows of 1 h
        rows = log_rows(f"r{hours_ago}", "m", "1", [RECORD] * n, [result] * n)
        for row in rows:
            row["ts"] = (now - pd.Timedelta(hours=hours_ago)).to_pydatetime()
        plog.append(rows)
    assert plog.flush()
    windows = time_windows(engine, "classic_predictions", "1h", 12)
    plog.close()
    assert [len(w.rows) for w in windows] == [5, 6, 2]
    assert [w.full for w in windows] == [True, True, False]  # the current hour is still filling up
    assert windows[1].index - windows[0].index == 2 and windows[2].index - windows[1].index == 1  # hours apart


def test_no_model_no_reference(settings: Settings) -> None:
    with pytest.raises(NoReferenceError, match="genaiops train"):
        load_reference(settings)


def test_labels_file_is_checked_and_joined_on_request_and_row(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label\nabc,Adelie\nabc,Gentoo\n", encoding="utf-8")
    labels = read_labels(path, "species")
    assert list(labels.columns) == ["request_id", "row_index", "species"]
    assert labels.to_dict("records") == [{"request_id": "abc", "row_index": 0, "species": "Gentoo"}]  # last wins
    (tmp_path / "bad.csv").write_text("id,species\nabc,Adelie\n", encoding="utf-8")
    with pytest.raises(RetrainError, match="request_id"):
        read_labels(tmp_path / "bad.csv", "species")
    with pytest.raises(RetrainError, match="not found"):
        read_labels(tmp_path / "missing.csv", "species")


def test_retrain_only_on_drift_and_never_promotes_blindly(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Own registry (retraining registers versions). The challenger is a dummy model: the gate must keep it out."""
    settings = make_settings(tmp_path_factory.mktemp("retrain-registry"))
    from classic_ml.pipeline import run_training

    first = run_training(settings)
    service = build_classic_service(settings)
    try:
        sample = reference_sample(seed=11)
        serve(service, sample, "calm")
        outcome = retrain(settings, if_drift=True, window=WINDOW)
        assert outcome.triggered is False and "no drift" in outcome.reason and outcome.training is None

        drifted = shifted(reference_sample(seed=12))
        ids = serve(service, drifted, "moved")
    finally:
        service.close()
    with pytest.raises(RetrainError, match="--labels"):
        retrain(settings, if_drift=True, window=WINDOW)
    labels = pd.DataFrame({"request_id": ids, "species": drifted["species"]})
    outcome = retrain(settings, if_drift=True, labels=labels, window=WINDOW, config=dummy_config())

    assert outcome.triggered and outcome.labelled_rows == len(drifted)
    registration = outcome.training.registration
    assert registration.version != first.version
    assert registration.decision.promoted is False and registration.decision.champion_version == first.version
    client = mlflow_store(settings).client
    assert str(client.get_model_version_by_alias("classic-model", "champion").version) == first.version
    assert str(client.get_model_version_by_alias("classic-model", "challenger").version) == registration.version
    assert "kept as challenger" in outcome.reason
    assert np.isfinite(registration.decision.challenger_score)


def run_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str):  # type: ignore[no-untyped-def]
    """``genaiops ARGS`` in this process, with the environment that rebuilds ``settings``."""
    from typer.testing import CliRunner

    from app.cli import app

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", str(settings.mlflow.tracking_uri))
    if settings.mlflow.artifact_location:
        monkeypatch.setenv("GENAIOPS_MLFLOW__ARTIFACT_LOCATION", settings.mlflow.artifact_location)
    return CliRunner().invoke(app, list(args))


def test_monitor_classic_prints_the_summary_and_exits_1_on_drift(served, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings, service = served
    window = ["--window", str(WINDOW)]
    empty = run_cli(settings, monkeypatch, "monitor", "classic", *window)
    assert empty.exit_code == 0 and "status no_data" in empty.output and "send traffic" in empty.output

    sample = reference_sample(seed=5)
    serve(service, sample, "calm", per_request=15)
    calm = run_cli(settings, monkeypatch, "monitor", "classic", *window)
    assert calm.exit_code == 0, calm.output
    assert "status ok" in calm.output and "window 0: 150 rows" in calm.output
    no_drift = run_cli(settings, monkeypatch, "retrain", "--if-drift", *window)
    assert no_drift.exit_code == 0 and "no drift" in no_drift.output and "nothing to retrain" in no_drift.output

    serve(service, shifted(sample), "moved", per_request=15)
    drift = run_cli(settings, monkeypatch, "monitor", "classic", *window)
    assert drift.exit_code == 1, drift.output
    assert "status drift" in drift.output and "runs:/" in drift.output  # the HTML report logged to MLflow
    rows = [line for line in drift.output.splitlines() if line.count("│") >= 6]  # the per-feature table
    for name in FEATURES:  # names may be cut to the terminal width: their first 9 letters tell them apart
        [row] = [r for r in rows if r.split("│")[1].strip().startswith(name[:9])]
        assert row.rstrip("│ ").endswith("yes" if name in SHIFTED else "no"), row
    body = json.loads(run_cli(settings, monkeypatch, "monitor", "classic", *window, "--json").output)
    assert body["status"] == "drift" and [w["index"] for w in body["windows"]] == [0, 1]

    needs_labels = run_cli(settings, monkeypatch, "retrain", "--if-drift", *window)
    assert needs_labels.exit_code == 2 and "--labels" in needs_labels.output
    bad_period = run_cli(settings, monkeypatch, "monitor", "classic", "--period", "often")
    assert bad_period.exit_code == 2 and "--period 'often'" in bad_period.output
