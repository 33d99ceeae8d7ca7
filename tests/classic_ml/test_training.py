"""Real training on the penguins into a real MLflow (sqlite): what the run, the registry and the model hold."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from classic_ml.pipeline import TrainingResult
from classic_ml.preprocess import feature_frame
from classic_ml.registry import load_local, load_registered
from classic_ml.scoring import Scorer
from genaiops.settings import Settings
from tests.classic_ml.helpers import RECORD

pytestmark = pytest.mark.slow


def _client(settings: Settings) -> MlflowClient:
    return MlflowClient(settings.mlflow.tracking_uri, settings.mlflow.tracking_uri)


def test_first_model_becomes_champion_and_challenger(penguins: tuple[Settings, TrainingResult]) -> None:
    settings, result = penguins
    client = _client(settings)
    name = settings.classic.registered_model
    assert result.promoted and result.registration.decision.reason == "no champion yet"
    assert str(client.get_model_version_by_alias(name, "champion").version) == result.version
    assert str(client.get_model_version_by_alias(name, "challenger").version) == result.version


def test_run_records_params_metrics_datasets_plot_schema_and_model(penguins) -> None:  # type: ignore[no-untyped-def]
    settings, result = penguins
    client = _client(settings)
    run = client.get_run(result.registration.run_id)
    for metric in ("accuracy", "f1_macro", "log_loss"):
        assert f"cv_{metric}_mean" in run.data.metrics and f"holdout_{metric}" in run.data.metrics
    assert run.data.params["estimator"] == "sklearn.linear_model.LogisticRegression"
    assert run.data.params["n_holdout"] == str(result.n_holdout)
    contexts = {d.tags[0].value: d.dataset for d in run.inputs.dataset_inputs}
    assert set(contexts) == {"training", "holdout"}
    assert contexts["training"].digest and run.data.tags["dataset.training.digest"] == contexts["training"].digest
    assert contexts["training"].digest != contexts["holdout"].digest
    training = contexts["training"]
    assert "penguins.csv" in training.source and "bill_length_mm" in training.schema  # where from, which columns
    assert json.loads(training.profile)["num_rows"] == result.n_train
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/confusion_matrix.png" in artifacts
    assert run.data.tags["gate.decision"] == "promoted"


def test_registered_model_has_signature_example_schema_and_minimal_requirements(penguins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, result = penguins
    model = load_registered(settings, "champion", tmp_path)
    mlmodel = (model.model_dir / "MLmodel").read_text()
    assert "signature:" in mlmodel and "bill_length_mm" in mlmodel
    assert (model.model_dir / "input_example.json").is_file()
    requirements = (model.model_dir / "requirements.txt").read_text().split()
    assert any(r.startswith("scikit-learn==") for r in requirements) and len(requirements) <= 4
    assert model.schema == result.schema
    assert (model.model_dir / "extra_files" / "reference.parquet").is_file()


def test_a_local_copy_of_the_champion_is_kept(penguins) -> None:  # type: ignore[no-untyped-def]
    settings, result = penguins
    local = load_local(settings)
    assert local is not None and local.version == result.version and local.source == "local"


def test_model_behaviour_on_the_holdout_and_on_clear_cases(penguins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Minimum functionality and direction checks, not exact scores."""
    settings, result = penguins
    assert result.holdout_metrics["holdout_accuracy"] > 0.9  # three well-separated species
    model = load_registered(settings, "champion", tmp_path)
    scorer = Scorer(model)
    big_biscoe = scorer.predict_records([RECORD])[0]
    small_torgersen = {**RECORD, "island": "Torgersen", "bill_length_mm": 38.0, "bill_depth_mm": 19.0}
    small_torgersen |= {"flipper_length_mm": 185.0, "body_mass_g": 3600.0}
    assert big_biscoe["prediction"] == "Gentoo"
    assert scorer.predict_records([small_torgersen])[0]["prediction"] == "Adelie"
    assert abs(sum(big_biscoe["probabilities"].values()) - 1) < 1e-5


def test_fast_path_predictions_equal_the_sklearn_pipeline(penguins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, _ = penguins
    model = load_registered(settings, "champion", tmp_path)
    scorer = Scorer(model)
    assert scorer.compiled is not None
    from palmerpenguins import load_penguins

    raw = load_penguins()
    X = feature_frame(raw, model.schema)
    records = X.astype(object).where(X.notna(), None).to_dict("records")
    fast = [p["prediction"] for p in scorer.predict_records(records)]
    assert fast == list(model.pipeline.predict(X))
    frame = scorer.predict_frame(raw)
    assert list(frame["prediction"]) == fast
    proba = frame[[f"proba_{c}" for c in scorer.classes]].to_numpy()
    pd.testing.assert_frame_equal(
        pd.DataFrame(proba), pd.DataFrame(model.pipeline.predict_proba(X)), check_exact=False, atol=1e-9
    )


def test_batch_scoring_flags_bad_rows_and_still_scores_them(penguins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from palmerpenguins import load_penguins

    settings, _ = penguins
    scorer = Scorer(load_registered(settings, "champion", tmp_path))
    raw = load_penguins().head(6).astype({"bill_depth_mm": object, "island": object})
    raw.loc[0, "island"] = "Atlantis"
    raw.loc[1, "bill_length_mm"] = 500.0
    raw.loc[2, "body_mass_g"] = float("inf")
    raw.loc[3, "bill_depth_mm"] = "deep"
    raw.loc[4, "island"] = None  # training never saw a missing island
    out = scorer.predict_frame(raw)
    assert list(out["unknown_categories"]) == ["island", "", "", "", "", ""]
    assert "bill_length_mm: outside the training range" in out.loc[1, "issues"]
    assert out.loc[2, "issues"] == "body_mass_g: not a (finite) number"
    assert out.loc[3, "issues"] == "bill_depth_mm: not a (finite) number"
    assert out.loc[4, "issues"] == "island: missing (imputed)"
    assert out.loc[5, "issues"] == "" and out["prediction"].isin(scorer.classes).all()
