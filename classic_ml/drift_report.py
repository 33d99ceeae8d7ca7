"""The HTML drift report of a window, logged once to a run of the MLflow experiment ``monitoring``.

Runs are tagged ``monitor=classic-drift``, ``model=<name>@<version>`` and ``window_key`` (the window's
bounds), so asking again for the same window finds the run instead of logging a new one. The tracking
client is used directly (no active run), so API worker threads never share MLflow's run stack.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from classic_ml.drift import Reference, Window, current_frame, run_drift
from genaiops.settings import Settings

_report_lock = threading.Lock()


def latest_report_uri(settings: Settings, reference: Reference) -> str | None:
    """The newest report of this model version (what the API shows while a window is still filling)."""
    from genaiops.tracking import mlflow_client

    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name(settings.mlflow.monitoring_experiment)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.monitor = 'classic-drift' and tags.model = '{reference.key}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return f"runs:/{runs[0].info.run_id}/drift/report.html" if runs else None


def log_drift_report(settings: Settings, reference: Reference, window: Window, summary: dict[str, Any]) -> str:
    """Log the window's HTML report + JSON summary to a run of the monitoring experiment, once per window."""
    from genaiops.tracking import ensure_experiment, mlflow_client

    current = summary["current"]
    key = f"{reference.key}|{current['start']}|{current['end']}|{current['rows']}"
    with _report_lock:
        experiment_id = ensure_experiment(settings, settings.mlflow.monitoring_experiment)
        client = mlflow_client(settings)
        found = client.search_runs([experiment_id], filter_string=f"tags.window_key = '{key}'", max_results=1)
        if found:
            return f"runs:/{found[0].info.run_id}/drift/report.html"
        threshold, issue_share = settings.monitoring.drift_share_threshold, settings.monitoring.input_issue_share
        _, snapshot = run_drift(reference, current_frame(window.rows, reference), threshold, issue_share)
        run = client.create_run(
            experiment_id,
            run_name=f"classic-drift {reference.key} window {current['index']}",
            tags={"monitor": "classic-drift", "window_key": key, "model": reference.key, "status": summary["status"]},
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
