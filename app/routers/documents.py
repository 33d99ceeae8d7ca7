"""``POST /documents``, ``GET /documents``, ``DELETE /documents/{document_id}``: the indexed corpus,
managed without a shell. Behind the admin key (``X-API-Key``, as ``/admin/*``).

The work is ``rag.documents.DocumentLibrary`` (same ingestion as ``genaiops ingest``); after a
change the RAG service reloads its index, so the next question already sees it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, File, HTTPException, Path, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from app.deps import DocumentsDep, SettingsDep
from app.routers.admin import require_admin

router = APIRouter(
    prefix="/documents",
    tags=["documents"],
    dependencies=[Depends(require_admin)],
    responses={401: {"description": "Missing or wrong X-API-Key"}, 503: {"description": "Admin off / no RAG"}},
)


class DocumentPublic(BaseModel):
    document_id: str
    source: str
    chunks: int
    size_bytes: int | None = Field(description="File size; None for a `genaiops ingest` file no longer on disk.")
    added_at: datetime | None
    uploaded: bool = Field(description="True: uploaded here; False: indexed by `genaiops ingest`.")


class UploadResponse(BaseModel):
    document_id: str
    source: str
    chunks: int
    chunks_added: int
    chunks_removed: int
    changed: bool = Field(description="False when the same file was already indexed: nothing was re-embedded.")


_FILENAME = re.compile(r'filename="((?:[^"\\]|\\.)*)"|filename=([^;\s]+)')


def _sent_name(file: UploadFile) -> str | None:
    """The file name as the client sent it: the multipart parser drops a Windows path (``C:\\x\\a.md`` ->
    ``a.md``), which must be refused like any other path, not silently indexed under another name."""
    match = _FILENAME.search(file.headers.get("content-disposition", ""))
    raw = (match.group(1) or match.group(2) or "") if match else ""
    return raw if "\\" in raw or "/" in raw else file.filename


@router.post(
    "",
    status_code=201,
    response_model=UploadResponse,
    responses={
        400: {"description": "The body is not a multipart form"},
        413: {"description": "Larger than api.max_upload_bytes"},
        415: {"description": "Not a .md, .txt or .pdf file"},
        422: {"description": "No file, a name with a path, empty, not UTF-8, a PDF without text"},
    },
)
async def upload_document(
    library: DocumentsDep, settings: SettingsDep, file: UploadFile = File(description=".md, .txt or .pdf")
) -> Any:
    """Index one file (re-uploading the same file changes nothing; a new version replaces its chunks)."""
    limit = settings.api.max_upload_bytes
    data = await file.read(limit + 1)  # one byte more than allowed is enough to refuse it
    result = await run_in_threadpool(library.add, _sent_name(file), data)
    report = result.report
    return UploadResponse(
        document_id=result.document.document_id,
        source=result.document.source,
        chunks=result.document.chunks,
        chunks_added=report.chunks_added,
        chunks_removed=report.chunks_removed,
        changed=result.changed,
    )


@router.get("", response_model=list[DocumentPublic])
async def list_documents(library: DocumentsDep) -> Any:
    """Every indexed document: chunks, size and when it was added."""
    return [DocumentPublic(**vars(d)) for d in await run_in_threadpool(library.list)]


@router.delete("/{document_id}", status_code=204, responses={404: {"description": "No document with this id"}})
async def delete_document(library: DocumentsDep, document_id: str = Path(min_length=1, max_length=64)) -> None:
    """Remove the document's chunks: it is no longer retrieved nor cited."""
    if await run_in_threadpool(library.remove, document_id) is None:
        raise HTTPException(404, detail=f"unknown document {document_id!r}: see GET /documents")
