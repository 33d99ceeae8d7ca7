"""The champion/challenger gate, both ways, on a real registry: a worse model is never promoted."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from classic_ml.config import load_config
from classic_ml.pipeline import run_training
from classic_ml.register import decide
from tests.classic_ml.helpers import PENGUINS_CONFIG, dummy_config
from tests.settings import make_settings


def test_decide_needs_a_strict_gain_of_at_least_the_margin() -> None:
    assert decide("f1", 0.9, None, 0.0, True).promoted
    assert decide("f1", 0.91, 0.90, 0.0, True).promoted
    assert not decide("f1", 0.90, 0.90, 0.0, True).promoted  # a tie keeps the champion
    assert not decide("f1", 0.905, 0.90, 0.01, True).promoted
    assert decide("rmse", 9.0, 10.0, 0.5, greater=False).promoted  # lower is better
    assert not decide("rmse", 10.5, 10.0, 0.0, greater=False).promoted


@pytest.mark.slow
def test_better_model_is_promoted_and_worse_one_is_not(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var")
    name = settings.classic.registered_model
    client = MlflowClient(settings.mlflow.tracking_uri, settings.mlflow.tracking_uri)

    baseline = run_training(settings, dummy_config())
    assert baseline.promoted  # first model: nothing to beat

    real = run_training(settings, load_config(PENGUINS_CONFIG))
    decision = real.registration.decision
    assert real.promoted and decision.champion_version == baseline.version
    assert decision.challenger_score > decision.champion_score  # type: ignore[operator]

    worse = run_training(settings, dummy_config())
    decision = worse.registration.decision
    assert not worse.promoted
    assert (
        decision.champion_version == real.version
        and decision.champion_score == real.holdout_metrics["holdout_f1_macro"]
    )
    assert str(client.get_model_version_by_alias(name, "champion").version) == real.version
    assert str(client.get_model_version_by_alias(name, "challenger").version) == worse.version

    run = client.get_run(worse.registration.run_id)
    assert run.data.tags["gate.decision"] == "rejected" and run.data.tags["gate.champion_version"] == real.version
    assert run.data.metrics["gate_champion_f1_macro"] > run.data.metrics["gate_challenger_f1_macro"]
    assert client.get_model_version(name, worse.version).tags["gate.decision"] == "rejected"
