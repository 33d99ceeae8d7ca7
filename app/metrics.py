"""Prometheus metrics at ``GET /metrics``: HTTP traffic per route, answers by class / mode, drift gauges.

Every app gets its own ``CollectorRegistry`` (kept on ``app.state.metrics``), so building two apps
in one process (tests, reloads) never hits "Duplicated timeseries". Request counts and latency
histograms per route come from prometheus-fastapi-instrumentator; predictions per class and asks
per mode are read from the ``/predict``, ``/ask`` and ``/ask/stream`` responses (whatever code path
produced them); the drift gauges are set each time a monitoring summary is computed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator import metrics as pfi_metrics

log = logging.getLogger(__name__)

ANSWER_ROUTES = ("/predict", "/ask", "/ask/stream")


class ApiMetrics:
    """The custom metrics of one app, registered in that app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.predictions = Counter(
            "genaiops_predictions", "Records predicted by /predict, by predicted class.", ["label"], registry=registry
        )
        self.asks = Counter("genaiops_asks", "Questions answered by /ask, by answer mode.", ["mode"], registry=registry)
        self.feedback = Counter("genaiops_feedback", "Feedback received on answers.", ["rating"], registry=registry)
        self.classic_drift_share = Gauge(
            "genaiops_classic_drift_share", "Share of drifted features in the current window.", registry=registry
        )
        self.classic_drift_detected = Gauge(
            "genaiops_classic_drift_detected",
            "1 when the current /predict window drifted.",
            registry=registry,
        )
        self.classic_feature_drifted = Gauge(
            "genaiops_classic_feature_drifted", "1 when the feature drifted in the current window.", ["feature"],
            registry=registry,
        )  # fmt: skip
        self.rag_regression = Gauge(
            "genaiops_rag_regression", "1 when a RAG quality check regressed in the current window.", registry=registry
        )
        self.rag_check_regressed = Gauge(
            "genaiops_rag_check_regressed", "1 when this RAG check regressed.", ["check"], registry=registry
        )
        self.llm = LlmMetrics(registry)

    def observe_classic(self, summary: dict[str, Any]) -> None:
        current = summary.get("current")
        if current is None:
            return
        self.classic_drift_share.set(current["share_drifted"])
        self.classic_drift_detected.set(float(current["drift_detected"]))
        for feature in current["features"]:
            self.classic_feature_drifted.labels(feature["name"]).set(float(feature["drifted"]))

    def observe_rag(self, summary: dict[str, Any]) -> None:
        if summary.get("status") == "no_data":
            return
        self.rag_regression.set(float(summary["status"] == "regression"))
        for check in summary["checks"]:
            self.rag_check_regressed.labels(check["name"]).set(float(check["regressed"]))

    def count_response(self, handler: str, body: bytes) -> None:
        """Predictions per class and asks per mode from a successful answer's body."""
        if handler == "/predict":
            for item in json.loads(body).get("predictions", []):
                self.predictions.labels(_label(item.get("prediction"))).inc()
        elif handler == "/ask":
            self.asks.labels(str(json.loads(body).get("mode"))).inc()
        elif handler == "/ask/stream":
            done = _done_event(body.decode("utf-8", errors="replace"))
            if done is not None:
                self.asks.labels(str(done.get("mode"))).inc()


class LlmMetrics:
    """What the answer scheduler reports (``rag.serving.Observer``): queue, slots, refusals, speed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.waiting = Gauge("genaiops_llm_queue_depth", "Questions waiting for a generation slot.", registry=registry)
        self.active = Gauge("genaiops_llm_active_generations", "Generations running now.", registry=registry)
        self.rejections = Counter(
            "genaiops_llm_rejections",
            "Questions refused by admission control, by reason.",
            ["reason"],
            registry=registry,
        )
        self.ttft = Histogram(
            "genaiops_llm_time_to_first_token_seconds",
            "From the question to the first generated token (retrieval and waiting included).",
            buckets=(0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 30, 60),
            registry=registry,
        )
        self.speed = Histogram(
            "genaiops_llm_tokens_per_second",
            "Tokens per second of each generation, from its slot to its last token.",
            buckets=(1, 2, 5, 10, 15, 20, 30, 40, 60, 80, 120),
            registry=registry,
        )

    def queue(self, waiting: int, active: int) -> None:
        self.waiting.set(waiting)
        self.active.set(active)

    def rejected(self, reason: str) -> None:
        self.rejections.labels(reason).inc()

    def first_token(self, seconds: float) -> None:
        self.ttft.observe(seconds)

    def generated(self, tokens: int, seconds: float) -> None:
        if seconds > 0:
            self.speed.observe(tokens / seconds)


def _label(prediction: Any) -> str:
    """Class names as labels; a regression's numbers would make one series per value, so they share one."""
    if isinstance(prediction, float):
        return "numeric"
    return str(prediction)


def _done_event(stream: str) -> dict[str, Any] | None:
    for block in reversed(stream.split("\n\n")):
        lines = block.strip().splitlines()
        if lines and lines[0] == "event: done":
            data = "\n".join(line.removeprefix("data: ") for line in lines[1:] if line.startswith("data: "))
            return json.loads(data)
    return None


def install_metrics(app: FastAPI) -> ApiMetrics:
    """Instrument ``app`` and expose ``GET /metrics``; returns the custom metrics (also on ``app.state``)."""
    registry = CollectorRegistry()
    custom = ApiMetrics(registry)

    def count_answers(info: pfi_metrics.Info) -> None:
        if info.modified_status != "2xx" or info.response is None or not info.response.body:
            return
        try:
            custom.count_response(info.modified_handler, bytes(info.response.body))
        except (ValueError, AttributeError, TypeError):  # a body we do not understand is not worth a 500
            log.debug("could not count the answer of %s", info.modified_handler, exc_info=True)

    instrumentator = Instrumentator(
        excluded_handlers=["^/metrics$"],
        body_handlers=[f"^{route}$" for route in ANSWER_ROUTES],
        registry=registry,
    )
    instrumentator.add(pfi_metrics.default(registry=registry), count_answers)
    instrumentator.instrument(app).expose(app, endpoint="/metrics", include_in_schema=True, tags=["monitoring"])
    app.state.metrics = custom
    return custom
