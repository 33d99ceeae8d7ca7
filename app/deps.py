"""Dependencies so routes read like sentences: ``settings: SettingsDep``, ``rag: RagDep``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request

from genaiops.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from rag.serving import AnswerScheduler


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_rag(request: Request) -> Any:
    service = getattr(request.app.state, "rag", None)
    if service is None:
        raise HTTPException(status_code=503, detail=f"RAG service unavailable: {request.app.state.rag_error}")
    return service


def get_classic(request: Request) -> Any:
    service = getattr(request.app.state, "classic", None)
    if service is None:
        raise HTTPException(status_code=503, detail=f"classic model unavailable: {request.app.state.classic_error}")
    return service


def get_scheduler(request: Request) -> AnswerScheduler:
    """The RAG behind admission control (rag/serving.py): what every answering route talks to."""
    scheduler = getattr(request.app.state, "scheduler", None)
    if scheduler is None:
        raise HTTPException(status_code=503, detail=f"RAG service unavailable: {request.app.state.rag_error}")
    return scheduler


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SchedulerDep = Annotated["AnswerScheduler", Depends(get_scheduler)]
RagDep = Annotated[Any, Depends(get_rag)]
ClassicDep = Annotated[Any, Depends(get_classic)]
