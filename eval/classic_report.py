"""The classic model's side of the report: champion vs challenger, as the training gate scored them.

The training run re-scores the champion on the challenger's holdout and logs both scores
(``gate_challenger_<metric>`` / ``gate_champion_<metric>``); this module reads them back from the
registry so ``genaiops eval classic`` and ``genaiops report`` show the same numbers as the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genaiops.settings import Settings
from genaiops.tracking import configure_mlflow, mlflow_client


@dataclass
class ClassicComparison:
    model: str
    champion_version: str | None
    challenger_version: str | None
    metric: str | None
    champion_score: float | None
    challenger_score: float | None
    decision: str
    reason: str
    holdout_metrics: dict[str, float]

    @property
    def challenger_is_champion(self) -> bool:
        return self.champion_version is not None and self.champion_version == self.challenger_version

    @property
    def challenger_passes(self) -> bool:
        return self.decision == "promoted"


def _version(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def compare_classic(settings: Settings) -> ClassicComparison | None:
    """Champion vs challenger of the registered model, or None when nothing is registered."""
    configure_mlflow(settings)
    client = mlflow_client(settings)
    name = settings.classic.registered_model
    champion, challenger = _version(client, name, "champion"), _version(client, name, "challenger")
    if challenger is None and champion is None:
        return None
    latest = challenger or champion
    assert latest is not None
    run = client.get_run(latest.run_id)
    metric = run.data.tags.get("gate.metric")
    metrics = run.data.metrics
    return ClassicComparison(
        model=name,
        champion_version=champion.version if champion else None,
        challenger_version=challenger.version if challenger else None,
        metric=metric,
        champion_score=metrics.get(f"gate_champion_{metric}") if metric else None,
        challenger_score=metrics.get(f"gate_challenger_{metric}") if metric else None,
        decision=run.data.tags.get("gate.decision", "unknown"),
        reason=run.data.tags.get("gate.reason", ""),
        holdout_metrics={k: v for k, v in metrics.items() if k.startswith("holdout_")},
    )


def promote_challenger(settings: Settings, comparison: ClassicComparison) -> None:
    """Point ``champion`` at the challenger (the caller has checked it passed its gate)."""
    if comparison.challenger_version is None:
        raise ValueError("no challenger to promote: run genaiops train")
    mlflow_client(settings).set_registered_model_alias(comparison.model, "champion", comparison.challenger_version)
