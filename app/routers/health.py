"""Liveness and readiness: ``/health`` says the process runs, ``/ready`` that both sides can serve."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: answered on the event loop itself, so no load on the thread pools can delay it."""
    return {"status": "ok"}


@router.get("/ready")
def ready(request: Request) -> JSONResponse:
    """503 with the reasons while a side cannot serve (empty index, no LLM, no model) or the model is saturated.

    ``llm`` reports the answer scheduler's load (slots, waiting questions, measured generation time):
    a saturated replica leaves the load balancer's rotation while ``/health`` keeps saying it lives.
    """
    state = request.app.state
    checks: dict[str, str] = {}
    rag = getattr(state, "rag", None)
    checks["rag"] = rag.readiness() if rag is not None else str(state.rag_error)
    classic = getattr(state, "classic", None)
    checks["classic"] = classic.readiness() if classic is not None else str(state.classic_error)
    scheduler = getattr(state, "scheduler", None)
    load = scheduler.stats() if scheduler is not None else None
    if load is not None and (load["saturated"] or load["draining"]):
        checks["rag"] = "shutting down" if load["draining"] else "saturated: every slot busy and the queue full"
    ok = all(v == "ready" for v in checks.values())
    return JSONResponse(status_code=200 if ok else 503, content={"ready": ok, "checks": checks, "llm": load})
