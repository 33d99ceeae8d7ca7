"""``POST /feedback``, ``GET /monitoring/classic`` and ``GET /monitoring/rag`` (shapes in docs/api.md).

Thin: the ask log (``app.state.ask_log``) records feedback, and the RAG's tracer queues it for the
request's MLflow trace (an assessment, off the request path); the summaries come from
``classic_ml.drift`` and ``rag.monitoring`` and run in the thread pool (Evidently takes a moment).
Each summary also updates the drift gauges of ``/metrics``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from app.auth import CLIENT_KEY_RESPONSES, require_client
from app.deps import SettingsDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["monitoring"])


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64, description="The request_id of the /ask answer.")
    rating: Literal["up", "down"]
    comment: str | None = Field(None, max_length=2000)


class FeedbackResponse(BaseModel):
    status: Literal["recorded"]


def _metrics(request: Request) -> Any:
    return getattr(request.app.state, "metrics", None)


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    dependencies=[Depends(require_client)],
    responses={
        **CLIENT_KEY_RESPONSES,
        400: {"description": "The body is not JSON"},
        404: {"description": "Unknown request_id"},
        503: {"description": "no ask log"},
    },
)
async def feedback(body: FeedbackRequest, request: Request) -> dict[str, str]:
    """Thumbs up / down (and an optional comment) on an answer; an unknown ``request_id`` is a 404."""
    ask_log = getattr(request.app.state, "ask_log", None)
    if ask_log is None:
        reason = getattr(request.app.state, "ask_log_error", "the ask log is not started")
        raise HTTPException(503, detail=f"feedback cannot be recorded: {reason}")
    found = await run_in_threadpool(ask_log.add_feedback, body.request_id, body.rating, body.comment)
    if not found:
        raise HTTPException(404, detail=f"unknown request_id {body.request_id!r}: send the id returned by /ask")
    _trace_feedback(request, body)
    metrics = _metrics(request)
    if metrics is not None:
        metrics.feedback.labels(body.rating).inc()
    return {"status": "recorded"}


def _trace_feedback(request: Request, body: FeedbackRequest) -> None:
    """Queue the rating for the request's MLflow trace (an assessment); MLflow never fails the feedback."""
    tracer = getattr(getattr(request.app.state, "rag", None), "tracer", None)
    if tracer is None or not hasattr(tracer, "feedback"):
        return
    try:
        tracer.feedback(body.request_id, body.rating, body.comment)
    except Exception:  # noqa: BLE001 - the rating is recorded in the ask log; the trace is a bonus
        log.warning("feedback on %s not queued for its trace", body.request_id, exc_info=True)


WindowQuery = Query(None, ge=10, le=100_000, description="Rows (asks) per window; default settings monitoring.window.")


@router.get("/monitoring/classic", responses={503: {"description": "no model to monitor"}})
async def monitoring_classic(request: Request, settings: SettingsDep, window: int | None = WindowQuery) -> Any:
    """Input drift of ``/predict`` traffic, window by window, against the model's training sample, and the
    shadow challenger (agreement with the champion, its own drift) when the registry has one."""
    from classic_ml.drift import classic_drift
    from classic_ml.shadow import shadow_summary

    classic = getattr(request.app.state, "classic", None)
    served = classic.state.model if classic is not None and classic.readiness() == "ready" else None
    if classic is not None and classic.prediction_log is not None:
        await run_in_threadpool(classic.prediction_log.flush)  # include what this process just served
    shadow = getattr(classic, "shadow", None)
    if shadow is not None:
        await run_in_threadpool(shadow.flush, 2.0)  # what the challenger scored so far (bounded wait)
    summary = await run_in_threadpool(lambda: classic_drift(settings, window=window, model=served, log_partial=False))
    challenger, stats = (shadow.model, dict(shadow.stats)) if shadow is not None else (None, None)
    summary["shadow"] = await run_in_threadpool(
        lambda: shadow_summary(settings, challenger, stats=stats, window=window)
    )
    metrics = _metrics(request)
    if metrics is not None:
        metrics.observe_classic(summary)
    return summary


@router.get("/monitoring/rag")
async def monitoring_rag(request: Request, settings: SettingsDep, window: int | None = WindowQuery) -> Any:
    """RAG quality of the latest window of asks against the first one, and the offline eval history."""
    from rag.monitoring import rag_summary

    ask_log = getattr(request.app.state, "ask_log", None)
    if ask_log is not None:
        await run_in_threadpool(ask_log.flush)
    engine = ask_log.engine if ask_log is not None else None
    summary = await run_in_threadpool(lambda: rag_summary(settings, window=window, engine=engine))
    metrics = _metrics(request)
    if metrics is not None:
        metrics.observe_rag(summary)
    return summary
