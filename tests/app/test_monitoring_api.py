"""``POST /feedback`` and the two monitoring summaries through the real app factory (shapes of docs/api.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from genaiops.settings import Settings
from rag.ask_log import read_asks
from tests.classic_ml.helpers import sharing_registry, trained_penguins
from tests.classic_ml.test_drift import records, reference_sample, shifted
from tests.rag.test_ask_log import QUESTION, make_answer

WINDOW_KEYS = {"index", "start", "end", "rows", "share_drifted", "drift_detected", "features",
               "input_issues", "prediction_distribution", "prediction_drift"}  # fmt: skip
FEATURE_KEYS = {"name", "kind", "test", "score", "threshold", "drifted"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """Neither side loaded: the ask log and the routes still work."""
    with TestClient(create_app(settings, load_rag=False, load_classic=False)) as c:
        yield c


def test_feedback_round_trip(client: TestClient, settings: Settings) -> None:
    answer = make_answer()
    client.app.state.ask_log.record(QUESTION, answer)  # what /ask does after answering

    response = client.post("/feedback", json={"request_id": answer.request_id, "rating": "down", "comment": "faux"})
    assert response.status_code == 200 and response.json() == {"status": "recorded"}
    assert client.post("/feedback", json={"request_id": answer.request_id, "rating": "up"}).status_code == 200
    client.app.state.ask_log.flush()
    row = read_asks(settings).iloc[0]
    assert (row["request_id"], row["rating"], row["comment"]) == (answer.request_id, "up", None)


def test_feedback_unknown_id_is_404_and_bad_input_422_naming_the_field(client: TestClient) -> None:
    response = client.post("/feedback", json={"request_id": "no-such-answer", "rating": "up"})
    assert response.status_code == 404 and "no-such-answer" in response.json()["detail"]
    bad = client.post("/feedback", json={"request_id": "x", "rating": "meh"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "rating"]
    missing = client.post("/feedback", json={"rating": "up"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "request_id"]


def test_rag_summary_without_traffic_and_bad_window(client: TestClient) -> None:
    body = client.get("/monitoring/rag").json()
    assert body == {"status": "no_data", "window_size": 200, "windows": [], "checks": [], "eval_history": [],
                    "prompt_versions": [], "canary": None}  # fmt: skip
    response = client.get("/monitoring/rag", params={"window": 3})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "window"]


def test_classic_summary_without_a_model_is_503_naming_the_fix(client: TestClient) -> None:
    response = client.get("/monitoring/classic")
    assert response.status_code == 503 and "genaiops train" in response.json()["detail"]


@pytest.mark.slow
def test_classic_drift_through_the_api(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    registry, result = trained_penguins(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var")
    with TestClient(create_app(settings, load_rag=False)) as client:
        empty = client.get("/monitoring/classic").json()
        assert empty["status"] == "no_data" and empty["current"] is None and empty["windows"] == []
        assert empty["model"] == {"name": "classic-model", "version": result.version} and empty["reference_rows"] > 0

        sample = reference_sample(seed=21, rows=100)
        assert client.post("/predict", json=records(sample)).status_code == 200
        calm = client.get("/monitoring/classic", params={"window": 100}).json()
        assert client.post("/predict", json=records(shifted(sample))[:50]).status_code == 200
        young = client.get("/monitoring/classic", params={"window": 100}).json()  # 50 rows: half a window
        assert client.post("/predict", json=records(shifted(sample))[50:]).status_code == 200
        drifted = client.get("/monitoring/classic", params={"window": 100}).json()

    assert calm["status"] == "ok" and calm["current"]["drift_detected"] is False and calm["window_size"] == 100
    assert young["current"]["index"] == 1 and young["current"]["rows"] == 50
    assert drifted["status"] == "drift" and [w["index"] for w in drifted["windows"]] == [0, 1]
    assert set(drifted) == {"status", "model", "reference_rows", "window_size", "windows", "current", "report_uri",
                            "shadow"}  # fmt: skip
    assert set(drifted["current"]) == WINDOW_KEYS and all(
        set(f) == FEATURE_KEYS for f in drifted["current"]["features"]
    )
    assert drifted["report_uri"].startswith("runs:/")  # a full window: its HTML report is in MLflow


@pytest.mark.slow
def test_traffic_simulator_makes_the_classic_monitor_fire(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from bench.traffic import run_traffic

    registry, _ = trained_penguins(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var")
    with TestClient(create_app(settings, load_rag=False)) as client:
        result = run_traffic(client, predictions=200, asks=0, batch=20)
    assert result["classic_after_calm"].startswith("ok")
    assert result["classic_after_drift"].startswith("drift")
    assert len(result["labels"]) == 100 and {"request_id", "row_index", "species"} == set(result["labels"][0])


def test_traffic_simulator_refuses_a_remote_api() -> None:
    from bench.traffic import loopback_client

    with pytest.raises(SystemExit, match="only a local API"):
        loopback_client("http://example.com:8000")
