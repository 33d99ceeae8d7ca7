"""``POST /predict`` through the real app factory on a real registry: answers, 4xx that name the field, the log."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from classic_ml.prediction_log import read_predictions
from genaiops.settings import Settings
from tests.classic_ml.helpers import (
    RECORD,
    fresh_postgres_database,
    require_postgres,
    sharing_registry,
    trained_penguins,
)
from tests.settings import make_settings

pytestmark = pytest.mark.slow
MAX_BATCH = 5


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[tuple[TestClient, Settings, str]]:
    registry, result = trained_penguins(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var", classic={"max_batch": MAX_BATCH})
    with TestClient(create_app(settings, load_rag=False)) as client:
        yield client, settings, result.version


def _loc(response) -> list:  # type: ignore[no-untyped-def]
    return response.json()["detail"][0]["loc"]


def test_one_record(served) -> None:  # type: ignore[no-untyped-def]
    client, _, version = served
    response = client.post("/predict", json=RECORD, headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "abc-123"
    assert body["model"] == {"name": "classic-model", "version": version, "source": "registry"}
    [prediction] = body["predictions"]
    assert prediction["prediction"] == "Gentoo"
    assert set(prediction["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert math.isclose(sum(prediction["probabilities"].values()), 1, abs_tol=1e-4)
    assert prediction["unknown_categories"] == [] and prediction["warnings"] == []


def test_batch_with_nulls_unknown_category_and_out_of_range(served) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = served
    batch = [RECORD, {**RECORD, "sex": None, "body_mass_g": None}, {**RECORD, "island": "Atlantis", "body_mass_g": 9e3}]
    response = client.post("/predict", json=batch)
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 3
    assert predictions[1]["unknown_categories"] == []  # null is imputed, not unknown
    assert predictions[2]["unknown_categories"] == ["island"]
    assert "body_mass_g=9000 is outside the training range" in predictions[2]["warnings"][0]


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({k: v for k, v in RECORD.items() if k != "sex"}, ["body", "sex"], "Field required"),
        ({**RECORD, "bill_length_mm": "long"}, ["body", "bill_length_mm"], "valid number"),
        ({**RECORD, "island": 3}, ["body", "island"], "valid string"),
        ({**RECORD, "colour": "blue"}, ["body", "colour"], "Extra inputs"),
        ([RECORD, {**RECORD, "flipper_length_mm": True}], ["body", 1, "flipper_length_mm"], "valid number"),
        ([], ["body"], "empty"),
        (42, ["body"], "record"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(served, body, loc, message) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = served
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert _loc(response) == loc and message in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(served, literal: str) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = served
    fields = f'"bill_length_mm": {literal}, "bill_depth_mm": 18.0, "flipper_length_mm": 190.0, "body_mass_g": 3500.0'
    text = '{"island": "Dream", "sex": "female", ' + fields + "}"
    response = client.post("/predict", content=text, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert _loc(response) == ["body", "bill_length_mm"] and "finite" in response.json()["detail"][0]["msg"]


def test_invalid_json_and_too_large_batch(served) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = served
    broken = client.post("/predict", content=b'{"island": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and "invalid JSON" in broken.json()["detail"][0]["msg"]
    too_many = client.post("/predict", json=[RECORD] * (MAX_BATCH + 1))
    assert too_many.status_code == 413 and f"limit is {MAX_BATCH}" in too_many.json()["detail"]
    assert client.post("/predict", json=[RECORD] * MAX_BATCH).status_code == 200


def test_openapi_and_schema_show_the_real_fields(served) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = served
    spec = client.get("/openapi.json").json()
    record = spec["components"]["schemas"]["PredictRecord"]
    assert set(record["properties"]) == set(RECORD) and record["additionalProperties"] is False
    assert "Biscoe" in record["properties"]["island"]["description"]
    assert record["properties"]["body_mass_g"]["anyOf"][0]["type"] == "number"
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["anyOf"][1]["maxItems"] == MAX_BATCH
    schema = client.get("/predict/schema").json()
    assert schema["target"] == "species" and schema["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert {f["name"]: f["type"] for f in schema["fields"]}["island"] == "category"


def test_every_prediction_is_logged_and_nothing_is_lost_on_shutdown(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    registry, result = trained_penguins(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var")
    with TestClient(create_app(settings, load_rag=False)) as client:
        for i in range(40):
            batch = [{**RECORD, "bill_length_mm": 40.0 + i}] * (1 + i % 3)
            assert client.post("/predict", json=batch, headers={"X-Request-ID": f"r{i}"}).status_code == 200
    logged = read_predictions(settings)
    assert len(logged) == sum(1 + i % 3 for i in range(40))
    first = logged[logged["request_id"] == "r0"].iloc[0]
    assert first["model_version"] == result.version and first["prediction"] == "Gentoo"
    assert first["bill_length_mm"] == 40.0 and set(first["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}


def test_no_model_is_a_503_with_the_command_to_train_one(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var")
    with TestClient(create_app(settings, load_rag=False)) as client:
        response = client.post("/predict", json=RECORD)
        assert response.status_code == 503 and "genaiops train" in response.json()["detail"]
        assert "genaiops train" in client.get("/ready").json()["checks"]["classic"]
        assert client.get("/predict/schema").status_code == 503


@pytest.mark.postgres
def test_prediction_log_on_postgres_through_the_api(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """The production setting: ``database_url`` a Postgres URL; rows written by the API, none lost at shutdown."""
    require_postgres()
    registry, result = trained_penguins(tmp_path_factory)
    with fresh_postgres_database() as url:
        settings = sharing_registry(registry, tmp_path / "var", database_url=url)
        with TestClient(create_app(settings, load_rag=False)) as client:
            for i in range(10):
                batch = [{**RECORD, "sex": None}] * (1 + i % 2)
                assert client.post("/predict", json=batch, headers={"X-Request-ID": f"pg{i}"}).status_code == 200
        logged = read_predictions(settings)
        assert len(logged) == 15 and set(logged["request_id"]) == {f"pg{i}" for i in range(10)}
        assert (logged["model_version"] == result.version).all() and logged["sex"].isna().all()
        assert not (settings.data_dir / "genaiops.db").exists()  # nothing went to the sqlite default
