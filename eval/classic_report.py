"""The classic model's side of the report: champion vs challenger, as the training gate scored them.

The training run re-scores the champion on the challenger's holdout and logs both scores
(``gate_challenger_<metric>`` / ``gate_champion_<metric>``); this module reads them back from the
registry so ``genaiops eval classic`` and ``genaiops report`` show the same numbers as the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genaiops.settings import Settings
from genaiops.tracking import mlflow_store


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
    client = mlflow_store(settings).client
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
    mlflow_store(settings).client.set_registered_model_alias(
        comparison.model, "champion", comparison.challenger_version
    )


@dataclass
class ShadowCheck:
    """What shadow traffic says about promoting the challenger: the figures, and each refusal's reason."""

    rows: int
    agreement_rate: float | None
    accuracy: dict[str, Any] | None
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def shadow_check(
    settings: Settings,
    comparison: ClassicComparison,
    *,
    min_agreement: float | None = None,
    labels: Any = None,
) -> ShadowCheck:
    """The challenger against the champion on shadow traffic (``classic_ml.shadow``): agreement at least
    ``min_agreement`` over ``classic.shadow_min_rows`` rows, and with ``labels`` (the retrain labels file) an
    accuracy gain of at least ``classic.shadow_min_accuracy_gain``."""
    from classic_ml.config import load_config
    from classic_ml.retrain import read_labels
    from classic_ml.shadow import agreement, read_shadow, shadow_accuracy

    c = settings.classic
    rows = read_shadow(settings)
    if not rows.empty:
        pair = (rows["model_version"].astype(str) == str(comparison.challenger_version)) & (
            rows["champion_version"].astype(str) == str(comparison.champion_version)
        )
        rows = rows[pair]
    figures = agreement(rows) if not rows.empty else {}
    count, rate = int(figures.get("rows", 0)), figures.get("agreement_rate")
    failures = []
    if min_agreement is not None:
        if count < c.shadow_min_rows or rate is None:
            failures.append(f"{count} shadow row(s), fewer than classic.shadow_min_rows={c.shadow_min_rows}")
        elif rate < min_agreement:
            failures.append(f"agreement {rate:.3f} with the champion is below {min_agreement:g}")
    accuracy = None
    if labels is not None:
        target = load_config(c.config_path).target
        accuracy = shadow_accuracy(rows, read_labels(labels, target), target) if not rows.empty else {"labelled": 0}
        if accuracy["labelled"] < c.shadow_min_rows:
            failures.append(f"{accuracy['labelled']} labelled shadow row(s), fewer than {c.shadow_min_rows}")
        elif accuracy["gain"] < c.shadow_min_accuracy_gain:
            failures.append(
                f"accuracy gain {accuracy['gain']:+.3f} on labelled shadow traffic is below "
                f"classic.shadow_min_accuracy_gain={c.shadow_min_accuracy_gain:g}"
            )
    return ShadowCheck(count, rate, accuracy, failures)
