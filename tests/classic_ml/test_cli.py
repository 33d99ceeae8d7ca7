"""``genaiops train / predict / validate`` through the real Typer app: output files, summaries, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from palmerpenguins import load_penguins
from typer.testing import CliRunner

from app.cli import app
from tests.classic_ml.helpers import REGRESSION_CONFIG, synthetic_regression_csv, write_config

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def on_registry(penguins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    """Point the CLI's settings (environment) at the session's trained registry."""
    registry, _ = penguins
    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", registry.mlflow.tracking_uri)
    monkeypatch.setenv("GENAIOPS_MLFLOW__ARTIFACT_LOCATION", registry.mlflow.artifact_location)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return tmp_path


def test_predict_scores_a_csv_with_probabilities_and_flags(on_registry: Path) -> None:
    raw = load_penguins()
    raw.loc[0, "island"] = "Atlantis"
    source = on_registry / "penguins.csv"
    raw.to_csv(source, index=False)
    out = on_registry / "scored.csv"
    result = runner.invoke(app, ["predict", str(source), "--out", str(out), "--chunk-rows", "100"])
    assert result.exit_code == 0, result.output
    assert f"{len(raw)} rows scored" in result.output and "rows/s" in result.output
    assert f"scoring {'━' * 10}" in result.output and f"{len(raw)}/{len(raw)}" in result.output  # the progress bar
    scored = pd.read_csv(out, keep_default_na=False)
    assert len(scored) == len(raw)
    assert {"prediction", "proba_Adelie", "proba_Gentoo", "proba_Chinstrap", "unknown_categories"} <= set(scored)
    assert scored.loc[0, "unknown_categories"] == "island" and (scored["unknown_categories"][1:] == "").all()
    assert (scored["prediction"] == raw["species"]).mean() > 0.9


def test_predict_reads_parquet_too(on_registry: Path) -> None:
    raw = load_penguins().head(30)
    source = on_registry / "rows.parquet"
    raw.to_parquet(source, index=False)
    result = runner.invoke(app, ["predict", str(source)])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(on_registry / "rows.predictions.csv")  # the default --out
    assert len(scored) == 30 and (scored["prediction"] == raw["species"]).mean() > 0.9


def test_predict_errors_are_one_line(on_registry: Path) -> None:
    missing = runner.invoke(app, ["predict", "nope.csv"])
    assert missing.exit_code == 2 and "input file not found" in missing.output
    pd.DataFrame({"island": ["Biscoe"]}).to_csv(on_registry / "thin.csv", index=False)
    thin = runner.invoke(app, ["predict", str(on_registry / "thin.csv")])
    assert thin.exit_code == 2 and "lacks column(s)" in thin.output and "Traceback" not in thin.output


def test_validate_reports_rows_breaking_the_champion_schema(on_registry: Path) -> None:
    raw = load_penguins().head(20)
    raw.loc[5, "body_mass_g"] = 99999.0
    raw.to_csv(on_registry / "new.csv", index=False)
    result = runner.invoke(app, ["validate", str(on_registry / "new.csv")])
    assert result.exit_code == 1
    assert "row 5: body_mass_g: above the maximum" in result.output


def test_train_prints_metrics_version_and_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", f"sqlite:///{tmp_path / 'var' / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    synthetic_regression_csv(tmp_path)
    config = write_config(tmp_path, REGRESSION_CONFIG)
    result = runner.invoke(app, ["train", "--config", str(config)], terminal_width=200)
    assert result.exit_code == 0, result.output
    for text in ("rmse", "cross-validation", "holdout", "registered: classic-model v1", "promoted to champion"):
        assert text in result.output
    bad = runner.invoke(app, ["train", "--config", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2 and "config file not found" in bad.output
