"""Log eval runs to MLflow (experiment ``rag-eval``) and read them back for the gate and the UI."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from eval.rag_eval import EvalResult
from genaiops.settings import Settings
from genaiops.tracking import mlflow_store

BASELINE_TAG = "baseline"  # value "production" marks the run the gate compares against


def log_eval_run(settings: Settings, result: EvalResult, *, run_name: str | None = None) -> str:
    """One MLflow run with the release as params + tags, the metrics and a per-question table."""
    import mlflow

    store = mlflow_store(settings)
    store.bind_process()  # fluent runs, log_table and create_external_model read only the process-wide URI
    experiment_id = store.experiment_id(settings.mlflow.rag_eval_experiment)
    params = {k: str(v) for k, v in result.params.items()}
    tags = {
        "release_id": params.get("release_id", ""),
        "prompt": f"{params.get('prompt_name')}@{params.get('prompt_version')}",
        "judge": str(result.judge).lower(),
        "kind": "rag-eval",
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name or f"rag-eval {tags['prompt']}") as run:
        mlflow.log_params(params)
        mlflow.set_tags(tags)
        finite = {k: float(v) for k, v in result.metrics.items() if v is not None and not math.isnan(v)}
        mlflow.log_metrics(finite)
        mlflow.log_metrics({f"nan_{k}": float(v) for k, v in result.nan_counts.items()})
        mlflow.log_metric("eval_seconds", result.seconds)
        table = pd.DataFrame([{k: _cell(v) for k, v in row.items()} for row in result.rows])
        mlflow.log_table(table, artifact_file="per_question.json")
        mlflow.create_external_model(
            name="rag-release",
            source_run_id=run.info.run_id,
            params=params,
            tags={**tags, "corpus_fingerprint": params.get("corpus_fingerprint", "")},
            model_type="rag-release",
            experiment_id=experiment_id,
        )
        return run.info.run_id


def _cell(value: Any) -> Any:
    return "\n---\n".join(map(str, value)) if isinstance(value, list) else value


def eval_runs(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """Recent rag-eval runs, newest first, as plain dicts (for the gate, the API and the UI)."""
    runs = mlflow_store(settings).runs(settings.mlflow.rag_eval_experiment, limit=limit)
    return [
        {
            "run_id": r.info.run_id,
            "start_time": r.info.start_time,
            "prompt": r.data.tags.get("prompt", ""),
            "baseline": r.data.tags.get(BASELINE_TAG) == "production",
            "params": dict(r.data.params),
            "metrics": dict(r.data.metrics),
        }
        for r in runs
    ]


def mark_baseline(settings: Settings, run_id: str) -> None:
    """Make ``run_id`` the production baseline (the tag moves: one baseline at a time)."""
    client = mlflow_store(settings).client
    for run in eval_runs(settings, limit=500):
        if run["baseline"] and run["run_id"] != run_id:
            client.set_tag(run["run_id"], BASELINE_TAG, "retired")
    client.set_tag(run_id, BASELINE_TAG, "production")
