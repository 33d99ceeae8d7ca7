"""``GET /metrics``: per-route HTTP metrics and the genaiops counters and gauges, one registry per app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.routers.rag import _sse
from genaiops.settings import Settings
from rag.service import answer_to_dict
from tests.classic_ml.helpers import RECORD, sharing_registry, trained_penguins
from tests.rag.test_ask_log import QUESTION, make_answer


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_apps_in_one_process_each_expose_their_own_metrics(settings: Settings) -> None:
    with (
        TestClient(create_app(settings, load_rag=False, load_classic=False)) as first,
        TestClient(create_app(settings, load_rag=False, load_classic=False)) as second,
    ):  # no "Duplicated timeseries"
        for _ in range(3):
            first.get("/health")
        second.get("/health")
        one, two = first.get("/metrics"), second.get("/metrics")
    assert one.status_code == 200 and one.headers["content-type"].startswith("text/plain")
    key = ("http_requests_total", (("handler", "/health"), ("method", "GET"), ("status", "2xx")))
    assert samples(one.text)[key] == 3.0 and samples(two.text)[key] == 1.0


def test_ask_modes_are_counted_from_answers_and_streams(settings: Settings) -> None:
    """No LLM here: the counter is fed the exact bodies /ask and /ask/stream send."""
    with TestClient(create_app(settings, load_rag=False, load_classic=False)) as client:
        metrics = client.app.state.metrics
        refusal, extractive = make_answer("refusal"), make_answer("extractive")
        metrics.count_response("/ask", json.dumps(answer_to_dict(refusal)).encode())
        stream = _sse({"event": "token", "data": {"text": "Le "}}) + _sse(
            {"event": "done", "data": answer_to_dict(extractive)}
        )
        metrics.count_response("/ask/stream", stream.encode())
        answer = make_answer()
        client.app.state.ask_log.record(QUESTION, answer)
        assert client.post("/feedback", json={"request_id": answer.request_id, "rating": "down"}).status_code == 200
        exposed = samples(client.get("/metrics").text)
    assert exposed[("genaiops_asks_total", (("mode", "refusal"),))] == 1.0
    assert exposed[("genaiops_asks_total", (("mode", "extractive"),))] == 1.0
    assert exposed[("genaiops_feedback_total", (("rating", "down"),))] == 1.0


@pytest.mark.slow
def test_prediction_counts_latency_and_drift_gauges_after_traffic(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    registry, _ = trained_penguins(tmp_path_factory)
    settings = sharing_registry(registry, tmp_path / "var")
    adelie = {**RECORD, "island": "Torgersen", "bill_length_mm": 38.0, "bill_depth_mm": 19.0,
              "flipper_length_mm": 185.0, "body_mass_g": 3600.0}  # fmt: skip
    with TestClient(create_app(settings, load_rag=False)) as client:
        assert client.post("/predict", json=[RECORD] * 8 + [adelie] * 2).status_code == 200
        assert client.post("/predict", json=RECORD).status_code == 200
        assert client.post("/predict", json={"bill_length_mm": "long"}).status_code == 422
        summary = client.get("/monitoring/classic", params={"window": 10}).json()
        exposed = samples(client.get("/metrics").text)
    assert exposed[("genaiops_predictions_total", (("label", "Gentoo"),))] == 9.0
    assert exposed[("genaiops_predictions_total", (("label", "Adelie"),))] == 2.0
    post = (("handler", "/predict"), ("method", "POST"))
    assert exposed[("http_requests_total", (*post, ("status", "2xx")))] == 2.0
    assert exposed[("http_requests_total", (*post, ("status", "4xx")))] == 1.0
    assert exposed[("http_request_duration_seconds_count", (("handler", "/predict"), ("method", "POST")))] == 3.0
    # the gauges follow the last summary computed: 10 near-identical records are far from the training data
    current = summary["current"]
    assert current["rows"] == 10 and current["drift_detected"] is True
    assert exposed[("genaiops_classic_drift_share", ())] == pytest.approx(current["share_drifted"])
    assert exposed[("genaiops_classic_drift_detected", ())] == 1.0
    flagged = {k[1][0][1] for k, v in exposed.items() if k[0] == "genaiops_classic_feature_drifted" and v == 1.0}
    assert flagged == {f["name"] for f in current["features"] if f["drifted"]} and flagged
