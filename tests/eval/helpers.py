"""Eval-side test helpers."""

from __future__ import annotations

import time

from genaiops.settings import Settings


def log_tagged_eval_runs(settings: Settings, scores: dict[str, dict[str, float]]) -> None:
    """One finished ``rag-eval`` run per prompt version, tagged the way ``eval.tracking.log_eval_run`` tags
    them, in the given order (the real eval has its own tests; these only feed readers of the history)."""
    from genaiops.tracking import mlflow_store

    store = mlflow_store(settings)
    experiment = store.experiment_id(settings.mlflow.rag_eval_experiment)
    client = store.client
    for version, metrics in scores.items():
        run = client.create_run(experiment, tags={"prompt": f"rag_answer@{version}"})
        for name, value in metrics.items():
            client.log_metric(run.info.run_id, name, value)
        client.set_terminated(run.info.run_id)
        time.sleep(0.01)  # start times are in ms: keep the order unambiguous
