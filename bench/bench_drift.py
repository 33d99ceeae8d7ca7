"""What one window of the classic drift monitor costs: the served summary against Evidently's full report.

The model is trained on the penguins in a tmp dir; windows are penguins from the training data
(calm) and the same penguins shifted (drifted), as the prediction log holds them. Baseline: a
``Report([DataDriftPreset()])`` run, which also draws every plotly figure of the HTML report (what
``run_drift`` does for the report logged to MLflow). Measured: ``drift_fields``, the same Evidently
column tests without the figures, which ``GET /monitoring/classic`` serves. The verdicts must agree.
Also reported: the first ``/monitoring/classic`` of a fresh API over 12 full windows (cold cache).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.report import machine, table, write_section
from bench.traffic import FEATURES, SHIFT, penguins, send_predictions
from genaiops.settings import Settings

WINDOWS, ROWS = 12, 200


def _settings(root: Path) -> Settings:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=root / "var", mlflow={"tracking_uri": f"sqlite:///{root / 'var' / 'mlflow.db'}"}
    )
    settings.ensure_dirs()
    return settings


def _as_logged(frame: pd.DataFrame, reference, model) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """A window as ``current_frame`` builds it from the log: inputs plus the model's predictions."""
    from classic_ml.drift import current_frame

    log_rows = frame[FEATURES].copy()
    log_rows["prediction"] = model.pipeline.predict(log_rows)
    return current_frame(log_rows, reference)


def _seconds(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _cold_summary_s(settings: Settings) -> tuple[float, int]:
    """Log 12 full windows through /predict, then time the first /monitoring/classic of a fresh app."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(settings, load_rag=False)) as client:
        send_predictions(client, penguins(WINDOWS * ROWS, seed=5, shifted=False), "bench-drift", batch=100)
    with TestClient(create_app(settings, load_rag=False)) as client:  # a restart: nothing cached
        time.sleep(10)  # the start-up pre-import of Evidently has finished, as it has for a user
        started = time.perf_counter()
        response = client.get("/monitoring/classic", params={"window": ROWS})
        seconds = time.perf_counter() - started
        response.raise_for_status()
        return seconds, len(response.json()["windows"])


def main() -> None:
    from classic_ml.drift import drift_fields, load_reference, run_drift
    from classic_ml.pipeline import run_training
    from classic_ml.registry import load_for_serving

    header = machine()
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(Path(tmp))
        run_training(settings)
        model = load_for_serving(settings)
        assert model is not None
        reference = load_reference(settings, model)
        threshold = settings.monitoring.drift_share_threshold
        rows = []
        for label, shifted in (("calm", False), ("drifted", True)):
            window = _as_logged(penguins(ROWS, seed=3, shifted=shifted), reference, model)
            full, _ = run_drift(reference, window, threshold)  # also warms imports for both paths
            fast = drift_fields(reference, window, threshold)
            assert fast == full, "the served summary must equal Evidently's report"
            report_s = _seconds(lambda w=window: run_drift(reference, w, threshold), 5)
            fields_s = _seconds(lambda w=window: drift_fields(reference, w, threshold), 5)
            verdict = "drift" if fast["drift_detected"] else "no drift"
            name = f"{label} window ({ROWS} rows): {verdict}"
            rows.append((name, report_s * 1000, fields_s * 1000, report_s / fields_s))
        cold_s, served = _cold_summary_s(settings)
    text = "\n\n".join(
        [
            "## Classic drift monitor (bench_drift)",
            header,
            table(["window", "Evidently report (ms)", "served summary (ms)", "speed-up"], rows),
            f"First `GET /monitoring/classic` after a restart, {served} full windows of {ROWS} predictions "
            f"(nothing cached; Evidently pre-imported at start-up): **{cold_s:.2f} s**, drawing and logging the "
            "latest window's HTML report included (the old path drew one report per window). Later calls reuse the "
            "cached full windows. The verdicts, tests and scores of both paths are equal (asserted here "
            "and in tests/classic_ml/test_drift.py); the report path stays for the HTML report logged to MLflow, "
            f"once per window. Shifted features: {', '.join(SHIFT)}.",
        ]
    )
    write_section("drift", text)
    print(text)


if __name__ == "__main__":
    main()
