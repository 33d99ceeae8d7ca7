"""``POST /admin/reload``: protected by X-API-Key, and it swaps in a new champion without a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from classic_ml.pipeline import run_training
from tests.classic_ml.helpers import PENGUINS_CONFIG, RECORD
from tests.settings import make_settings

KEY = "s3cret-admin-key"


def test_reload_needs_the_key_and_is_off_without_one(tmp_path: Path) -> None:
    # the key is checked before the route runs: no model side needed (it costs an MLflow store migration)
    with TestClient(create_app(make_settings(tmp_path / "off"), load_rag=False, load_classic=False)) as client:
        off = client.post("/admin/reload", headers={"X-API-Key": KEY})
        assert off.status_code == 503 and "GENAIOPS_API__ADMIN_API_KEY" in off.json()["detail"]
    settings = make_settings(tmp_path / "on", api={"admin_api_key": KEY})
    with TestClient(create_app(settings, load_rag=False, load_classic=False)) as client:
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/admin/reload", headers={"X-API-Key": "wrong"}).status_code == 401
        passed = client.post("/admin/reload", headers={"X-API-Key": KEY})  # the right key gets past the check
        assert passed.status_code == 503 and "classic model unavailable" in passed.json()["detail"]


@pytest.mark.slow
def test_reload_serves_a_model_trained_after_start_up(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", api={"admin_api_key": KEY})
    with TestClient(create_app(settings, load_rag=False)) as client:
        assert client.post("/predict", json=RECORD).status_code == 503
        assert client.post("/admin/reload", headers={"X-API-Key": KEY}).status_code == 503  # still nothing

        result = run_training(settings, PENGUINS_CONFIG)
        reloaded = client.post("/admin/reload", headers={"X-API-Key": KEY})
        assert reloaded.status_code == 200
        assert reloaded.json()["model"]["version"] == result.version and reloaded.json()["changed"] is True
        answer = client.post("/predict", json=RECORD)
        assert answer.status_code == 200 and answer.json()["model"]["version"] == result.version
        assert "PredictRecord" in client.get("/openapi.json").json()["components"]["schemas"]
        assert client.get("/ready").json()["checks"]["classic"] == "ready"
