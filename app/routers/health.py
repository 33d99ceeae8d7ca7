"""Liveness and readiness: ``/health`` says the process runs, ``/ready`` that both sides can serve."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
def ready(request: Request) -> JSONResponse:
    """503 with the reasons while a side cannot serve (empty index, no LLM, no model)."""
    state = request.app.state
    checks: dict[str, str] = {}
    rag = getattr(state, "rag", None)
    checks["rag"] = rag.readiness() if rag is not None else str(state.rag_error)
    classic = getattr(state, "classic", None)
    checks["classic"] = classic.readiness() if classic is not None else str(state.classic_error)
    ok = all(v == "ready" for v in checks.values())
    return JSONResponse(status_code=200 if ok else 503, content={"ready": ok, "checks": checks})
