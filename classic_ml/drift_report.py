"""The HTML drift report of a window, logged once to a run of the MLflow experiment ``monitoring``.

Runs are tagged ``monitor=classic-drift``, ``model=<name>@<version>`` and ``window_key`` (the window's
bounds), so asking again for the same window finds the run instead of logging a new one. The tracking
client is used directly (no active run), so API worker threads never share MLflow's run stack.

``classic_ml.drift`` calls this module with the model's key and a function that renders the window's
Evidently snapshot (only run when the window has no report yet); this module knows nothing of drift.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genaiops.settings import Settings
from genaiops.tracking import mlflow_store

_report_lock = threading.Lock()


def latest_report_uri(settings: Settings, model_key: str) -> str | None:
    """The newest report of this model version (what the API shows while a window is still filling)."""
    filter_string = f"tags.monitor = 'classic-drift' and tags.model = '{model_key}'"
    runs = mlflow_store(settings).runs(settings.mlflow.monitoring_experiment, limit=1, filter_string=filter_string)
    return f"runs:/{runs[0].info.run_id}/drift/report.html" if runs else None


def log_drift_report(
    settings: Settings, model_key: str, summary: dict[str, Any], render_snapshot: Callable[[], Any]
) -> str:
    """Log the window's HTML report + JSON summary to a run of the monitoring experiment, once per window."""
    current = summary["current"]
    key = f"{model_key}|{current['start']}|{current['end']}|{current['rows']}"
    store = mlflow_store(settings)
    with _report_lock:
        experiment_id = store.experiment_id(settings.mlflow.monitoring_experiment)
        client = store.client
        found = client.search_runs([experiment_id], filter_string=f"tags.window_key = '{key}'", max_results=1)
        if found:
            return f"runs:/{found[0].info.run_id}/drift/report.html"
        snapshot = render_snapshot()
        run = client.create_run(
            experiment_id,
            run_name=f"classic-drift {model_key} window {current['index']}",
            tags={"monitor": "classic-drift", "window_key": key, "model": model_key, "status": summary["status"]},
        )
        run_id = run.info.run_id
        _log_window(client, run_id, current, snapshot)
        client.log_dict(run_id, summary, "drift/summary.json")
        client.set_terminated(run_id)
    return f"runs:/{run_id}/drift/report.html"


def _log_window(client: Any, run_id: str, current: dict[str, Any], snapshot: Any) -> None:
    client.log_metric(run_id, "share_drifted", current["share_drifted"])
    client.log_metric(run_id, "drift_detected", float(current["drift_detected"]))
    client.log_metric(run_id, "rows", float(current["rows"]))
    for feature in current["features"]:
        if feature["score"] is not None:
            client.log_metric(run_id, f"drift_score.{feature['name']}", feature["score"])
    with tempfile.TemporaryDirectory(prefix="classic-drift-") as tmp:
        path = Path(tmp) / "report.html"
        snapshot.save_html(str(path))
        client.log_artifact(run_id, str(path), "drift")
