"""The shadow challenger (issue 15): the registry's ``challenger`` scores ``/predict`` traffic off the request path,
its agreement with the champion and its own drift are reported, and a release can require them.

A registry of its own, real MLflow (sqlite) and real models: the champion is a model that ignores its inputs
(always the majority class, the state of a young project), the challenger the real penguins model, trained
with ``classic.promote_on_train`` off so that passing its holdout gate leaves it challenger, in shadow.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.main import create_app
from classic_ml.pipeline import run_training
from classic_ml.serving import build_classic_service
from classic_ml.shadow import ShadowScorer, read_shadow
from genaiops.settings import Settings
from genaiops.tracking import mlflow_store
from tests.classic_ml.helpers import PENGUINS_CONFIG, shadow_registry, sharing_registry
from tests.classic_ml.test_drift import records, reference_sample
from tests.settings import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """champion v1 = always the majority class; challenger v2 = the real model, passed its gate, kept in shadow."""
    settings, challenger = shadow_registry(tmp_path_factory)
    decision = challenger.registration.decision
    assert decision.promoted and decision.deferred and "kept as challenger" in decision.verdict
    client = mlflow_store(settings).client
    assert str(client.get_model_version_by_alias("classic-model", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("classic-model", "challenger").version) == "2"
    return settings


def served_settings(registry: Settings, data_dir: Path, **overrides: Any) -> Settings:
    return sharing_registry(registry, data_dir, **overrides)


def test_the_challenger_scores_the_same_traffic_and_its_agreement_is_reported(
    registry: Settings, tmp_path: Path
) -> None:
    settings = served_settings(registry, tmp_path / "var")
    sample = reference_sample(seed=31, rows=60)
    with TestClient(create_app(settings, load_rag=False)) as client:
        for start in range(0, 60, 10):
            response = client.post("/predict", json=records(sample.iloc[start : start + 10]))
            assert response.status_code == 200 and response.json()["model"]["version"] == "1"  # the champion answers
        body = client.get("/monitoring/classic", params={"window": 20}).json()

    shadow = body["shadow"]
    assert shadow["challenger"] == {"name": "classic-model", "version": "2"} and shadow["champion_version"] == "1"
    assert shadow["rows"] == 60 and shadow["queue"] == {"queued": 60, "scored": 60, "dropped": 0, "failed": 0}
    logged = read_shadow(settings)
    challenger_said = logged["prediction"].astype(str)
    assert (logged["champion_prediction"] == "Adelie").all()  # the dummy champion
    assert shadow["agreement_rate"] == round(float((challenger_said == "Adelie").mean()), 4)
    assert 0.2 < shadow["agreement_rate"] < 0.8  # the real model tells the species apart
    [(label, per_class)] = shadow["per_class"].items()
    assert label == "Adelie" and per_class["rows"] == 60
    assert per_class["disagreement_rate"] == round(1 - shadow["agreement_rate"], 4)
    assert set(per_class["challenger_said"]) <= {"Gentoo", "Chinstrap"}
    drift = shadow["drift"]  # the challenger's own inputs against its own training sample
    assert drift["window_size"] == 20 and [w["index"] for w in drift["windows"]] == [0, 1, 2]
    assert drift["status"] == "ok" and drift["current"]["prediction_distribution"]["Gentoo"] > 0


def test_monitor_classic_prints_the_shadow(registry: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import app

    settings = served_settings(registry, tmp_path / "var")
    with TestClient(create_app(settings, load_rag=False)) as client:
        assert client.post("/predict", json=records(reference_sample(seed=12, rows=20))).status_code == 200
        client.get("/monitoring/classic")  # waits for the shadow to score what was sent
    monkeypatch.setenv("GENAIOPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GENAIOPS_MLFLOW__TRACKING_URI", settings.mlflow.tracking_uri or "")
    monkeypatch.setenv("GENAIOPS_MLFLOW__ARTIFACT_LOCATION", settings.mlflow.artifact_location or "")
    result = CliRunner().invoke(app, ["monitor", "classic", "--window", "10", "--json"])
    assert result.exit_code in (0, 1), result.output
    body = json.loads(result.output)
    assert body["shadow"]["rows"] == 20 and body["shadow"]["challenger"]["version"] == "2"
    printed = CliRunner().invoke(app, ["monitor", "classic", "--window", "10"])
    assert "shadow: challenger v2 vs champion v1 on 20 record(s)" in printed.output, printed.output


class SlowScorer:
    """The real challenger, but taking ``delay_s`` per request: a heavy model."""

    def __init__(self, inner: Any, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    def predict_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        time.sleep(self.delay_s)
        return self.inner.predict_records(records)


def test_a_slow_challenger_never_delays_the_champion_and_drops_when_its_queue_is_full(
    registry: Settings, tmp_path: Path
) -> None:
    settings = served_settings(registry, tmp_path / "var")
    service = build_classic_service(settings)
    real = service.shadow
    assert real is not None and real.version == "2"
    slow = ShadowScorer(real.model, None, queue_size=1, scorer=SlowScorer(real.scorer, delay_s=0.5))
    real.close()
    service._state = replace(service.state, shadow=slow)  # noqa: SLF001 - the test swaps in a heavy challenger
    batch = service.parse(records(reference_sample(seed=5, rows=2)))
    took = []
    for i in range(8):
        started = time.perf_counter()
        service.predict(batch, request_id=f"slow-{i}")
        took.append(time.perf_counter() - started)
    service.close()
    assert max(took) < 0.25  # each answer is the champion's alone; the challenger takes 0.5 s a request
    assert slow.stats["dropped"] >= 8 and slow.stats["queued"] + slow.stats["dropped"] == 16  # records


def test_no_shadow_without_a_distinct_challenger_or_when_switched_off(registry: Settings, tmp_path: Path) -> None:
    off = build_classic_service(served_settings(registry, tmp_path / "off", classic={"shadow": False}))
    assert off.shadow is None
    off.close()
    single = make_settings(tmp_path / "single")
    run_training(single, PENGUINS_CONFIG)  # champion = challenger: nothing to compare
    service = build_classic_service(single)
    assert service.state.model.version == "1" and service.shadow is None
    service.close()


def _passing_eval_run(settings: Settings) -> str:
    """A rag-eval run of the prompt file scoring exactly the committed baseline: the RAG gates pass."""
    import json

    from eval.release import prompt_digest
    from prompts import load_prompt_file

    prompt = load_prompt_file("rag_answer")
    store = mlflow_store(settings)
    client = store.client
    run = client.create_run(store.experiment_id(settings.mlflow.rag_eval_experiment))
    params = {"prompt_name": "rag_answer", "prompt_version": prompt.version, "prompt_source": "file",
              "prompt_digest": prompt_digest(prompt)}  # fmt: skip
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    for key, value in json.loads(settings.eval.baseline_path.read_text(encoding="utf-8"))["metrics"].items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_release_promote_with_classic_can_require_agreement_or_a_labelled_accuracy_gain(
    registry: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import app

    settings = served_settings(registry, tmp_path / "var", classic={"shadow_min_rows": 20})
    sample = reference_sample(seed=8, rows=40)
    with TestClient(create_app(settings, load_rag=False)) as client:
        ids = [
            client.post("/predict", json=[record], headers={"X-Request-ID": f"lab-{i}"}).json()["request_id"]
            for i, record in enumerate(records(sample))
        ]
        client.get("/monitoring/classic")  # waits for the shadow to score what was sent
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ids, "species": sample["species"]}).to_csv(labels, index=False)
    run_id = _passing_eval_run(settings)
    env = {"GENAIOPS_DATA_DIR": str(settings.data_dir), "GENAIOPS_CLASSIC__SHADOW_MIN_ROWS": "20",
           "GENAIOPS_MLFLOW__TRACKING_URI": settings.mlflow.tracking_uri or "",
           "GENAIOPS_MLFLOW__ARTIFACT_LOCATION": settings.mlflow.artifact_location or ""}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    aliases = mlflow_store(settings).client
    try:
        agree = CliRunner().invoke(app, ["release", "promote", "--run-id", run_id, "--with-classic",
                                         "--min-agreement", "0.9"])  # fmt: skip
        assert agree.exit_code == 1, agree.output
        assert "shadow traffic: 40 row(s)" in agree.output and "below 0.9" in agree.output
        assert str(aliases.get_model_version_by_alias("classic-model", "champion").version) == "1"  # nothing moved

        gain = CliRunner().invoke(app, ["release", "promote", "--run-id", run_id, "--with-classic",
                                        "--labels", str(labels)])  # fmt: skip
        assert gain.exit_code == 0, gain.output
        assert "40 labelled: champion accuracy" in gain.output
        assert str(aliases.get_model_version_by_alias("classic-model", "champion").version) == "2"
    finally:
        aliases.set_registered_model_alias("classic-model", "champion", "1")  # the module's registry, as it was


@pytest.mark.postgres
def test_the_shadow_log_on_postgres(registry: Settings, tmp_path: Path) -> None:
    """The production setting: the shadow log in Postgres, read back by the monitor."""
    from tests.classic_ml.helpers import fresh_postgres_database, require_postgres

    require_postgres()
    with fresh_postgres_database() as url:
        settings = served_settings(registry, tmp_path / "var", database_url=url)
        with TestClient(create_app(settings, load_rag=False)) as client:
            assert client.post("/predict", json=records(reference_sample(seed=2, rows=20))).status_code == 200
            shadow = client.get("/monitoring/classic", params={"window": 10}).json()["shadow"]
        assert shadow["rows"] == 20 and shadow["challenger"]["version"] == "2"
        assert len(read_shadow(settings)) == 20 and not (settings.data_dir / "genaiops.db").exists()
