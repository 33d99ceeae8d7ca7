"""Registering: one MLflow run per training, the model version, and the champion/challenger gate.

The new version always gets the ``challenger`` alias. It gets ``champion`` only when it beats the
current champion by ``gate.min_improvement`` on the *same* holdout (the champion is re-scored on
this run's holdout, so a changed dataset cannot make an old score look better or worse). Both
scores, the decision and its reason are logged on the run and tagged on the model version.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from classic_ml.candidate import Candidate
from classic_ml.evaluate import metric_spec, score
from classic_ml.preprocess import feature_frame, target_series
from classic_ml.registry import LoadedModel, NoModelError, load_registered, read_model_dir, save_local_copy
from classic_ml.tracking import log_candidate
from genaiops.settings import Settings
from genaiops.tracking import mlflow_store

log = logging.getLogger(__name__)


@dataclass
class GateDecision:
    promoted: bool
    reason: str
    metric: str
    challenger_score: float
    champion_score: float | None = None
    champion_version: str | None = None
    deferred: bool = False  # passed the gate but kept as challenger (classic.promote_on_train off: shadow first)

    @property
    def verdict(self) -> str:
        if self.promoted and self.deferred:
            return "passed the gate, kept as challenger for shadow traffic"
        return "promoted to champion" if self.promoted else "kept as challenger"


@dataclass
class Registration:
    run_id: str
    model_name: str
    version: str
    model_uri: str
    decision: GateDecision
    extra: dict[str, str] = field(default_factory=dict)


def decide(metric: str, new: float, champion: float | None, min_improvement: float, greater: bool) -> GateDecision:
    """Promote when there is no champion, or the challenger is strictly better by at least ``min_improvement``."""
    if champion is None:
        return GateDecision(True, "no champion yet", metric, new)
    gain = new - champion if greater else champion - new
    if gain > 0 and gain >= min_improvement:
        reason = f"{metric} improves by {gain:.4f} (>= {min_improvement:g})"
        return GateDecision(True, reason, metric, new, champion)
    reason = f"{metric} change {gain:+.4f} does not beat the champion by {min_improvement:g}"
    return GateDecision(False, reason, metric, new, champion)


def score_champion(settings: Settings, candidate: Candidate) -> tuple[LoadedModel | None, float | None, str]:
    """The current champion's gate metric on this run's holdout; (None, None, why) when there is none to compare."""
    spec = metric_spec(candidate.config.gate.metric, candidate.schema.task)
    with tempfile.TemporaryDirectory(prefix="classic-gate-") as tmp:
        try:
            champion = load_registered(settings, "champion", Path(tmp))
        except NoModelError:
            return None, None, "no champion yet"
        try:
            X = feature_frame(candidate.holdout, champion.schema)
            y = target_series(candidate.holdout, champion.schema)
            return champion, score(champion.pipeline, X, y, spec), ""
        except (KeyError, ValueError) as exc:
            reason = f"champion v{champion.version} cannot score this holdout ({exc})"
            log.warning("%s: promoting the challenger", reason)
            return champion, None, reason


def gate(settings: Settings, candidate: Candidate) -> GateDecision:
    """Compare the candidate with the champion on the candidate's holdout."""
    spec = metric_spec(candidate.config.gate.metric, candidate.schema.task)
    new = candidate.evaluation.metrics[f"holdout_{spec.name}"]
    champion, champion_score, why = score_champion(settings, candidate)
    decision = decide(spec.name, new, champion_score, candidate.config.gate.min_improvement, spec.greater_is_better)
    if champion is not None:
        decision.champion_version = champion.version
    if champion_score is None and why:
        decision.reason = why
    return decision


def register(settings: Settings, candidate: Candidate) -> Registration:
    """Log the run, register the model version, apply the gate and the aliases."""
    import mlflow

    store = mlflow_store(settings)
    store.bind_process()  # fluent runs and mlflow.sklearn.log_model read only the process-wide URI
    experiment_id = store.experiment_id(settings.mlflow.classic_experiment)
    name = settings.classic.registered_model
    client = store.client
    decision = gate(settings, candidate)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{candidate.config.name}") as run:
        info = log_candidate(candidate, name)
        version = str(info.registered_model_version)
        _log_decision(decision)
    client.set_registered_model_alias(name, "challenger", version)
    tags = {"gate.decision": "promoted" if decision.promoted else "rejected", "gate.reason": decision.reason}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if decision.promoted and not settings.classic.promote_on_train and decision.champion_version is not None:
        decision.deferred = True  # `genaiops release promote --with-classic` moves it, after shadow traffic
    elif decision.promoted:
        client.set_registered_model_alias(name, "champion", version)
        with tempfile.TemporaryDirectory(prefix="classic-promoted-") as tmp:
            source = client.get_model_version_download_uri(name, version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=settings.mlflow.tracking_uri
            )
            save_local_copy(settings, read_model_dir(Path(local), name, version, run.info.run_id, "registry"))
    log.info("%s v%s registered; %s: %s", name, version, tags["gate.decision"], decision.reason)
    return Registration(run.info.run_id, name, version, info.model_uri, decision)


def _log_decision(decision: GateDecision) -> None:
    import mlflow

    metrics = {f"gate_challenger_{decision.metric}": decision.challenger_score}
    if decision.champion_score is not None:
        metrics[f"gate_champion_{decision.metric}"] = decision.champion_score
    mlflow.log_metrics(metrics)
    mlflow.set_tags(
        {
            "gate.decision": "promoted" if decision.promoted else "rejected",
            "gate.reason": decision.reason,
            "gate.metric": decision.metric,
            "gate.champion_version": decision.champion_version or "none",
        }
    )
