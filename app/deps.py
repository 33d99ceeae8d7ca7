"""Dependencies so routes read like sentences: ``settings: SettingsDep``, ``classic: ClassicDep``.

Each one hands a route a typed component that the lifespan built (``app/lifecycle.py``) and kept on
``app.state``; a component that could not start is a 503 that says why, the same for every route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from classic_ml.serving import ClassicService
from genaiops.settings import Settings
from genaiops.tracking import MlflowStore, mlflow_store
from rag.conversations import ConversationStore
from rag.documents import DocumentLibrary
from rag.service import RagService
from rag.serving import AnswerScheduler


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_mlflow(request: Request) -> MlflowStore:
    """The MLflow adapter of the app's settings (``create_app`` builds it once)."""
    store = getattr(request.app.state, "mlflow", None)
    return store if store is not None else mlflow_store(request.app.state.settings)


def _unavailable(label: str, reason: object) -> HTTPException:
    return HTTPException(status_code=503, detail=f"{label} unavailable: {reason}")


def get_rag(request: Request) -> RagService:
    service = getattr(request.app.state, "rag", None)
    if service is None:
        raise _unavailable("RAG service", request.app.state.rag_error)
    return service


def get_classic(request: Request) -> ClassicService:
    service = getattr(request.app.state, "classic", None)
    if service is None:
        raise _unavailable("classic model", request.app.state.classic_error)
    return service


def get_scheduler(request: Request) -> AnswerScheduler:
    """The RAG behind admission control (rag/serving.py): what every answering route talks to."""
    scheduler = getattr(request.app.state, "scheduler", None)
    if scheduler is None:
        raise _unavailable("RAG service", request.app.state.rag_error)
    return scheduler


def get_conversations(request: Request) -> ConversationStore:
    store = getattr(request.app.state, "conversations", None)
    if store is None:
        raise _unavailable("conversations", getattr(request.app.state, "conversations_error", "not started"))
    return store


def get_documents(request: Request) -> DocumentLibrary:
    library = getattr(request.app.state, "documents", None)
    if library is None:
        reason = getattr(request.app.state, "documents_error", None) or request.app.state.rag_error
        raise _unavailable("documents", reason)
    return library


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MlflowDep = Annotated[MlflowStore, Depends(get_mlflow)]
SchedulerDep = Annotated[AnswerScheduler, Depends(get_scheduler)]
RagDep = Annotated[RagService, Depends(get_rag)]
ClassicDep = Annotated[ClassicService, Depends(get_classic)]
ConversationsDep = Annotated[ConversationStore, Depends(get_conversations)]
DocumentsDep = Annotated[DocumentLibrary, Depends(get_documents)]
